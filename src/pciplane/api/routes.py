"""The one route table: every endpoint, its method, handler and status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pciplane.api import handlers_catalog as cat
from pciplane.api import handlers_hosts as hosts
from pciplane.api import handlers_neutron as neu
from pciplane.api import handlers_ops as ops
from pciplane.api import handlers_servers as srv


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    method: str
    path: str
    handler: Callable[..., object]
    status: int = 200
    summary: str = ""
    #: Leave out what the handler did not set (Neutron shows a network's provider
    #: attributes, or its segments, only to the admin).
    exclude_unset: bool = False


ROUTES: tuple[Route, ...] = (
    Route(method="GET", path="/healthz", handler=ops.healthz, summary="liveness and database"),
    Route(method="GET", path="/metrics", handler=ops.metrics, summary="Prometheus metrics"),
    Route(method="GET", path="/v1/aliases", handler=cat.list_aliases),
    Route(method="POST", path="/v1/aliases", handler=cat.create_alias, status=201),
    Route(method="POST", path="/v1/aliases/reload", handler=cat.reload_aliases),
    Route(method="DELETE", path="/v1/aliases/{name}", handler=cat.delete_alias, status=204),
    Route(method="GET", path="/v1/flavors", handler=cat.list_flavors),
    Route(method="POST", path="/v1/flavors", handler=cat.create_flavor, status=201),
    Route(method="GET", path="/v1/flavors/{name}", handler=cat.show_flavor),
    Route(method="PATCH", path="/v1/flavors/{name}", handler=cat.update_flavor),
    Route(method="DELETE", path="/v1/flavors/{name}", handler=cat.delete_flavor, status=204),
    Route(method="POST", path="/v1/fit", handler=cat.fit, summary="what-if against live hosts"),
    Route(method="POST", path="/v1/capacity", handler=cat.capacity,
          summary="how many more such servers the live hosts can take"),
    Route(method="GET", path="/v1/hosts", handler=hosts.list_hosts),
    Route(method="GET", path="/v1/hosts/{name}", handler=hosts.show_host),
    Route(method="PUT", path="/v1/hosts/{name}", handler=hosts.register, summary="agent report"),
    Route(method="GET", path="/v1/hosts/{name}/work", handler=hosts.take_work,
          summary="agent: take pending work (also its heartbeat)"),
    Route(method="POST", path="/v1/work/{work_id}", handler=hosts.report_work,
          summary="agent: the outcome of one work item"),
    Route(method="POST", path="/v1/hosts/{name}/mismatches", handler=hosts.report_mismatches,
          summary="agent reconciliation report"),
    Route(method="GET", path="/v1/export", handler=hosts.export, summary="fleet snapshot"),
    Route(method="GET", path="/v1/servers", handler=srv.list_servers),
    Route(method="POST", path="/v1/servers", handler=srv.create_server, status=201),
    Route(method="GET", path="/v1/servers/{server_id}", handler=srv.show_server),
    Route(method="DELETE", path="/v1/servers/{server_id}", handler=srv.delete_server,
          status=202),
    Route(method="POST", path="/v1/servers/{server_id}/ports", handler=srv.add_port,
          summary="hot-plug a port into a running server (server add port)"),
    Route(method="DELETE", path="/v1/servers/{server_id}/ports/{port_id}",
          handler=srv.remove_port, summary="hot-unplug a port (server remove port)"),
    # Neutron's v2.0 API, in its own shapes.
    Route(method="GET", path="/v2.0/extensions", handler=neu.list_extensions),
    Route(method="GET", path="/v2.0/extensions/{alias}", handler=neu.show_extension),
    Route(method="GET", path="/v2.0/networks", handler=neu.list_networks, exclude_unset=True),
    Route(method="POST", path="/v2.0/networks", handler=neu.create_network, status=201,
          exclude_unset=True),
    Route(method="GET", path="/v2.0/networks/{network_id}", handler=neu.show_network,
          exclude_unset=True),
    Route(method="PUT", path="/v2.0/networks/{network_id}", handler=neu.update_network,
          exclude_unset=True),
    Route(method="DELETE", path="/v2.0/networks/{network_id}", handler=neu.delete_network,
          status=204),
    Route(method="GET", path="/v2.0/ports", handler=neu.list_ports),
    Route(method="POST", path="/v2.0/ports", handler=neu.create_port, status=201),
    Route(method="GET", path="/v2.0/ports/{port_id}", handler=neu.show_port),
    Route(method="PUT", path="/v2.0/ports/{port_id}", handler=neu.update_port),
    Route(method="DELETE", path="/v2.0/ports/{port_id}", handler=neu.delete_port, status=204),
    Route(method="GET", path="/v2.0/agents", handler=neu.list_agents),
    Route(method="GET", path="/v2.0/agents/{agent_id}", handler=neu.show_agent),
)  # fmt: skip
