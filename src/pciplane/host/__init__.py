"""One compute host: sysfs and libvirt discovery, domain XML, VF settings, the agent."""
