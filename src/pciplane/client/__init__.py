"""pciplane.client ring."""
