"""Neutron's quotas, read-only, so ``openstack quota show PROJECT`` (which asks Nova and
Neutron) answers: pciplane limits no network resource, so each is -1 (unlimited);
SR-IOV ports per physical network are pciplane's own quota (``/v1/quotas``)."""

from __future__ import annotations

from fastapi import Request

from pciplane.api.auth import Who
from pciplane.api.handlers_quotas import readable
from pciplane.api.openstack.nova_common import IdParam

RESOURCES = ("network", "subnet", "port", "router", "floatingip", "security_group",
             "security_group_rule", "rbac_policy", "subnetpool")  # fmt: skip


def show_quota(request: Request, project_id: IdParam, who: Who) -> dict[str, object]:
    readable(who, project_id)
    return {"quota": dict.fromkeys(RESOURCES, -1)}


def show_quota_details(request: Request, project_id: IdParam, who: Who) -> dict[str, object]:
    readable(who, project_id)
    return {"quota": {r: {"limit": -1, "used": 0, "reserved": 0} for r in RESOURCES}}
