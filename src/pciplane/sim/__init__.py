"""Synthetic hosts and fleets: sysfs trees, libvirt node XML, fleet snapshots."""
