"""Operators' configuration files: JSON documents and nova.conf's ``[pci]`` section.

A ring beside ``host``, ``store`` and ``client``: it turns files into the plain values
and parsed records of :mod:`pciplane.core` (the only ring it imports), and every error
it raises names the file.
"""
