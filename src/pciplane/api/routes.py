"""The one route table: every endpoint, its method, handler and status.

pciplane's own API is under ``/v1``; the OpenStack-shaped subsets (Keystone at
``/identity``, Nova at ``/compute``, :mod:`pciplane.api.openstack`; Neutron at ``/v2.0``,
its version document at ``/``; Glance read-only at ``/image``) call the same services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pciplane.api import handlers_catalog as cat
from pciplane.api import handlers_hosts as hosts
from pciplane.api import handlers_images as img
from pciplane.api import handlers_lifecycle as life
from pciplane.api import handlers_neutron as neu
from pciplane.api import handlers_ops as ops
from pciplane.api import handlers_quotas as quo
from pciplane.api import handlers_servers as srv
from pciplane.api.openstack import glance as gl
from pciplane.api.openstack import keystone as ks
from pciplane.api.openstack import keystone_projects as kp
from pciplane.api.openstack import neutron_quotas as nqu
from pciplane.api.openstack import neutron_root as nroot
from pciplane.api.openstack import nova_actions as na
from pciplane.api.openstack import nova_flavors as nf
from pciplane.api.openstack import nova_interfaces as ni
from pciplane.api.openstack import nova_quotas as nq
from pciplane.api.openstack import nova_root as nr
from pciplane.api.openstack import nova_servers as ns
from pciplane.api.openstack.endpoints import COMPUTE, COMPUTE_V21, IDENTITY, IMAGE, IMAGE_V2


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
    Route(method="GET", path="/v1/images", handler=img.list_images),
    Route(method="POST", path=img.UPLOAD_PATH, handler=img.upload_image, status=201,
          summary="upload an image file (the body, application/octet-stream)"),
    Route(method="GET", path="/v1/images/{image}", handler=img.show_image),
    Route(method="DELETE", path="/v1/images/{image}", handler=img.delete_image, status=204),
    Route(method="GET", path="/v1/images/{image}/file", handler=img.download_image,
          summary="agent: download the image file"),
    Route(method="POST", path="/v1/fit", handler=cat.fit, summary="what-if against live hosts"),
    Route(method="POST", path="/v1/capacity", handler=cat.capacity,
          summary="how many more such servers the live hosts can take"),
    Route(method="GET", path="/v1/hosts", handler=hosts.list_hosts),
    Route(method="GET", path="/v1/hosts/{name}", handler=hosts.show_host),
    Route(method="PUT", path="/v1/hosts/{name}", handler=hosts.register, summary="agent report"),
    Route(method="POST", path="/v1/hosts/{name}/disable", handler=hosts.disable_host,
          summary="no new servers on the host (with a reason)"),
    Route(method="POST", path="/v1/hosts/{name}/enable", handler=hosts.enable_host),
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
    Route(method="POST", path="/v1/servers/{server_id}/stop", handler=life.stop_server,
          status=202, summary="shut the guest down; devices and ports stay claimed"),
    Route(method="POST", path="/v1/servers/{server_id}/start", handler=life.start_server,
          status=202, summary="start a stopped server's guest"),
    Route(method="POST", path="/v1/servers/{server_id}/reboot", handler=life.reboot_server,
          status=202, summary="reboot (soft, or hard with {\"hard\": true})"),
    Route(method="POST", path="/v1/servers/{server_id}/ports", handler=srv.add_port,
          summary="hot-plug a port into a running server (server add port)"),
    Route(method="DELETE", path="/v1/servers/{server_id}/ports/{port_id}",
          handler=srv.remove_port, summary="hot-unplug a port (server remove port)"),
    Route(method="GET", path="/v1/quotas", handler=quo.my_quotas,
          summary="the caller's project's quotas and usage"),
    Route(method="GET", path="/v1/quotas/{project}", handler=quo.show_quotas),
    Route(method="PUT", path="/v1/quotas/{project}", handler=quo.set_quotas,
          summary="set a project's own limits (admin)"),
    # Neutron's v2.0 API, in its own shapes; its version document at the root.
    Route(method="GET", path="/", handler=nroot.versions, summary="Neutron: versions"),
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
    Route(method="GET", path="/v2.0/quotas/{project_id}", handler=nqu.show_quota),
    Route(method="GET", path="/v2.0/quotas/{project_id}/details", handler=nqu.show_quota_details),
    Route(method="GET", path="/v2.0/agents/{agent_id}", handler=neu.show_agent),
    # Keystone v3 (a subset): version documents and tokens.
    Route(method="GET", path=IDENTITY, handler=ks.versions, summary="Keystone: versions"),
    Route(method="GET", path=f"{IDENTITY}/", handler=ks.versions, summary="Keystone: versions"),
    Route(method="GET", path=f"{IDENTITY}/v3", handler=ks.version, summary="Keystone: v3"),
    Route(method="GET", path=f"{IDENTITY}/v3/", handler=ks.version, summary="Keystone: v3"),
    Route(method="POST", path=f"{IDENTITY}/v3/auth/tokens", handler=ks.issue_token, status=201,
          summary="Keystone: password in, token out (X-Subject-Token)"),
    Route(method="GET", path=f"{IDENTITY}/v3/auth/tokens", handler=ks.check_token,
          summary="Keystone: validate the X-Subject-Token"),
    # Glance v2, read-only: the version document, image list and show.
    Route(method="GET", path=IMAGE, handler=gl.versions, summary="Glance: versions"),
    Route(method="GET", path=f"{IMAGE}/", handler=gl.versions, summary="Glance: versions"),
    Route(method="GET", path=f"{IMAGE}/versions", handler=gl.versions,
          summary="Glance: versions"),
    Route(method="GET", path=f"{IMAGE_V2}/images", handler=gl.list_images),
    Route(method="GET", path=f"{IMAGE_V2}/images/{{image_id}}", handler=gl.show_image),
    Route(method="GET", path=f"{IDENTITY}/v3/projects", handler=kp.list_projects,
          summary="Keystone: projects (read-only; what 'openstack quota' looks up)"),
    Route(method="GET", path=f"{IDENTITY}/v3/projects/{{project_id}}", handler=kp.show_project),
    # Nova v2.1 (a subset, microversions up to api.openstack.microversions.MAX_VERSION).
    Route(method="GET", path=COMPUTE, handler=nr.versions, summary="Nova: versions"),
    Route(method="GET", path=f"{COMPUTE}/", handler=nr.versions, summary="Nova: versions"),
    Route(method="GET", path=COMPUTE_V21, handler=nr.version, summary="Nova: v2.1"),
    Route(method="GET", path=f"{COMPUTE_V21}/", handler=nr.version, summary="Nova: v2.1"),
    Route(method="GET", path=f"{COMPUTE_V21}/flavors", handler=nf.list_flavors),
    Route(method="GET", path=f"{COMPUTE_V21}/flavors/detail", handler=nf.list_flavors_detail),
    Route(method="POST", path=f"{COMPUTE_V21}/flavors", handler=nf.create_flavor),
    Route(method="GET", path=f"{COMPUTE_V21}/flavors/{{flavor_id}}", handler=nf.show_flavor),
    Route(method="PUT", path=f"{COMPUTE_V21}/flavors/{{flavor_id}}", handler=nf.update_flavor),
    Route(method="DELETE", path=f"{COMPUTE_V21}/flavors/{{flavor_id}}", handler=nf.delete_flavor,
          status=202),
    Route(method="GET", path=f"{COMPUTE_V21}/flavors/{{flavor_id}}/os-extra_specs",
          handler=nf.list_extra_specs),
    Route(method="POST", path=f"{COMPUTE_V21}/flavors/{{flavor_id}}/os-extra_specs",
          handler=nf.set_extra_specs),
    Route(method="GET", path=f"{COMPUTE_V21}/flavors/{{flavor_id}}/os-extra_specs/{{key}}",
          handler=nf.show_extra_spec),
    Route(method="PUT", path=f"{COMPUTE_V21}/flavors/{{flavor_id}}/os-extra_specs/{{key}}",
          handler=nf.update_extra_spec),
    Route(method="DELETE", path=f"{COMPUTE_V21}/flavors/{{flavor_id}}/os-extra_specs/{{key}}",
          handler=nf.delete_extra_spec),
    Route(method="GET", path=f"{COMPUTE_V21}/servers", handler=ns.list_servers),
    Route(method="GET", path=f"{COMPUTE_V21}/servers/detail", handler=ns.list_servers_detail),
    Route(method="POST", path=f"{COMPUTE_V21}/servers", handler=ns.create_server, status=202),
    Route(method="GET", path=f"{COMPUTE_V21}/servers/{{server_id}}", handler=ns.show_server),
    Route(method="DELETE", path=f"{COMPUTE_V21}/servers/{{server_id}}",
          handler=ns.delete_server, status=204),
    Route(method="POST", path=f"{COMPUTE_V21}/servers/{{server_id}}/action",
          handler=na.server_action, status=202,
          summary="Nova: os-stop, os-start, reboot (SOFT|HARD)"),
    Route(method="GET", path=f"{COMPUTE_V21}/servers/{{server_id}}/os-interface",
          handler=ni.list_interfaces),
    Route(method="POST", path=f"{COMPUTE_V21}/servers/{{server_id}}/os-interface",
          handler=ni.attach_interface, summary="Nova: hot plug a port (server add port)"),
    Route(method="GET", path=f"{COMPUTE_V21}/servers/{{server_id}}/os-interface/{{port_id}}",
          handler=ni.show_interface),
    Route(method="DELETE", path=f"{COMPUTE_V21}/servers/{{server_id}}/os-interface/{{port_id}}",
          handler=ni.detach_interface, status=202,
          summary="Nova: hot unplug a port (server remove port)"),
    Route(method="GET", path=f"{COMPUTE_V21}/os-quota-sets/{{project_id}}",
          handler=nq.show_quota_set),
    Route(method="GET", path=f"{COMPUTE_V21}/os-quota-sets/{{project_id}}/detail",
          handler=nq.show_quota_detail),
    Route(method="GET", path=f"{COMPUTE_V21}/os-quota-sets/{{project_id}}/defaults",
          handler=nq.show_quota_defaults),
    Route(method="PUT", path=f"{COMPUTE_V21}/os-quota-sets/{{project_id}}",
          handler=nq.update_quota_set),
    Route(method="GET", path=f"{COMPUTE_V21}/os-hypervisors", handler=nr.list_hypervisors),
    Route(method="GET", path=f"{COMPUTE_V21}/os-hypervisors/detail",
          handler=nr.list_hypervisors_detail),
    Route(method="GET", path=f"{COMPUTE_V21}/os-hypervisors/{{hypervisor_id}}",
          handler=nr.show_hypervisor),
    Route(method="GET", path=f"{COMPUTE_V21}/os-hypervisors/{{hypervisor_id}}/uptime",
          handler=nr.hypervisor_uptime),
    Route(method="GET", path=f"{COMPUTE_V21}/os-aggregates", handler=nr.list_aggregates),
)  # fmt: skip
