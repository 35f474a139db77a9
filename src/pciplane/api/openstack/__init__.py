"""The OpenStack-shaped APIs: thin adapters over the same service calls as ``/v1``.

Keystone v3 (a subset) at ``/identity``, Nova v2.1 (a subset, with microversions) at
``/compute/v2.1``, ``os-interface`` over the hot-plug service included; Neutron's v2.0
routes live at the root (issue 8, :mod:`pciplane.api.handlers_neutron`), so the catalog's
network endpoint is the root, where :mod:`.neutron_root` serves Neutron's version document.
Request bodies are parsed by models here, not in :mod:`pciplane.wire`: only these adapters
read Nova's and Keystone's shapes (pciplane's own client never sends them).
"""
