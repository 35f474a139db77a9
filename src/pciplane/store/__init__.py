"""pciplane.store ring."""
