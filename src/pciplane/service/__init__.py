"""pciplane.service: the use cases (servers, hosts and agents, catalog, reconciliation,
the scheduler), between the HTTP edge (``pciplane.api``) and the store and core."""
