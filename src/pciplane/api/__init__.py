"""pciplane.api ring."""
