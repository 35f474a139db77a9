"""pciplane.cli ring."""
