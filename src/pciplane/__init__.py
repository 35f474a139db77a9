"""pciplane: PCI passthrough and SR-IOV networking for libvirt/KVM fleets."""

__version__ = "0.1.0"
