"""Per-project quotas, one table row per quota: servers (``instances``), vCPUs
(``cores``), RAM, PCI devices per alias and SR-IOV ports per physical network. Each row
fills the quota, then asks for one more: a 403 naming the quota, the usage and the
request, with nothing written. Then the quota API itself: defaults, a project's own
limits, who may read and set them, bad names and values refused, Nova's os-quota-sets."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from net_helpers import ADMIN_H, ALPHA, NET_SPEC, flavor, port, register, rows, vlan
from net_helpers import run_agent as agent_turn
from os_helpers import COMPUTE, nova
from svc_helpers import ADMIN, make_settings

from pciplane.api.app import create_app

BETA = {"Authorization": "Bearer tok-beta"}


def _client(db_url: str, **settings: object) -> Any:
    app = create_app(make_settings(db_url, device_spec=NET_SPEC, **settings))
    client = TestClient(app)
    client.__enter__()
    register(client, "cmp1", gpus=4, vfs=8)
    flavor(client, "g1", alias="gpu:1")
    for name, vcpus, ram in (("c6", 6, 512), ("c4", 4, 512), ("r", 1, 1024)):
        body = {"name": name, "vcpus": vcpus, "ram": ram, "extra_specs": {}}
        assert client.post("/v1/flavors", json=body, headers=ADMIN_H).status_code == 201
    return client, app


@pytest.fixture
def make(db_url: str) -> Any:
    made: list[Any] = []

    def build(**settings: object) -> TestClient:
        client, app = _client(db_url, **settings)
        made.append((client, app))
        return client

    yield build
    for client, app in made:
        client.__exit__(None, None, None)
        app.state.services.db.dispose()


def _create(client: TestClient, flavor_name: str, nics: list[dict[str, str]] | None = None) -> Any:
    body = {"name": "vm", "flavor": flavor_name, "nics": nics or []}
    return client.post("/v1/servers", json=body, headers=ALPHA)


def _direct_port(client: TestClient) -> dict[str, str]:
    networks = client.get("/v2.0/networks", headers=ADMIN_H).json()["networks"]
    net = networks[0] if networks else vlan(client, "net1", "physnet1", 100)
    return {"port_id": port(client, net["id"], **{"binding:vnic_type": "direct"})["id"]}


CASES = [
    pytest.param({"quota_instances": 2}, [("c4", False)] * 2, ("c4", False),
                 "quota exceeded for instances: 2 of 2 used, 1 requested", id="instances"),
    pytest.param({}, [("c6", False)] * 3, ("c4", False),
                 "quota exceeded for cores: 18 of 20 used, 4 requested", id="cores"),
    pytest.param({"quota_ram": 2048}, [("r", False)] * 2, ("r", False),
                 "quota exceeded for ram: 2048 of 2048 used, 1024 requested", id="ram"),
    pytest.param({"quota_pci_devices": {"gpu": 2}}, [("g1", False)] * 2, ("g1", False),
                 "quota exceeded for pci_devices:gpu: 2 of 2 used, 1 requested", id="alias"),
    pytest.param({"quota_sriov_ports": {"physnet1": 1}}, [("r", True)], ("r", True),
                 "quota exceeded for sriov_ports:physnet1: 1 of 1 used, 1 requested",
                 id="physnet"),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "fill", "ask", "words"), CASES)
def test_over_quota_is_a_403_naming_it_and_nothing_is_claimed(
    make: Any,
    settings: dict[str, object],
    fill: list[tuple[str, bool]],
    ask: tuple[str, bool],
    words: str,
) -> None:
    client = make(**settings)
    for name, with_port in fill:
        made = _create(client, name, [_direct_port(client)] if with_port else None)
        assert made.status_code == 201 and made.json()["state"] == "BUILD", made.text
    nics = [_direct_port(client)] if ask[1] else None
    before = rows(client)
    refused = _create(client, ask[0], nics)
    assert refused.status_code == 403, refused.text
    (error,) = refused.json()["errors"]
    assert (error["code"], error["detail"]) == ("pciplane.quota.exceeded", words)
    assert rows(client) == before
    # Another project has its own quota.
    assert (
        client.post("/v1/servers", json={"name": "b", "flavor": ask[0]}, headers=BETA).status_code
        == 201
    )


def test_a_deleted_server_gives_its_quota_back_and_errors_count(make: Any) -> None:
    client = make(quota_instances=2, quota_pci_devices={"gpu": 5})
    first = _create(client, "g1").json()
    second = _create(client, "c4").json()  # no device, but a server all the same
    assert second["state"] == "BUILD"
    assert _create(client, "g1").status_code == 403
    client.delete(f"/v1/servers/{first['id']}", headers=ALPHA)
    agent_turn(client, "cmp1")
    assert _create(client, "g1").status_code == 201


def test_the_hot_plug_of_a_port_counts_against_its_physnet(make: Any) -> None:
    client = make(quota_sriov_ports={"physnet1": 1})
    server = _create(client, "r", [_direct_port(client)]).json()
    agent_turn(client, "cmp1")
    extra = _direct_port(client)
    answer = client.post(f"/v1/servers/{server['id']}/ports", json=extra, headers=ALPHA)
    assert answer.status_code == 403, answer.text
    assert "quota exceeded for sriov_ports:physnet1: 1 of 1 used, 1 requested" in answer.text


def test_quota_show_and_set(make: Any) -> None:
    client = make(quota_pci_devices={"gpu": 4})
    _create(client, "c4")
    shown = client.get("/v1/quotas", headers=ALPHA).json()
    assert shown["project"] == "alpha"
    table = {q["resource"]: (q["limit"], q["in_use"], q["own"]) for q in shown["quotas"]}
    assert table == {
        "instances": (10, 1, False), "cores": (20, 4, False), "ram": (51200, 512, False),
        "pci_devices:gpu": (4, 0, False),
    }  # fmt: skip
    body = {"limits": {"cores": 8, "sriov_ports:physnet2": 3, "pci_devices:gpu": None}}
    assert client.put("/v1/quotas/alpha", json=body, headers=ALPHA).status_code == 403
    changed = client.put("/v1/quotas/alpha", json=body, headers=ADMIN_H).json()
    table = {q["resource"]: (q["limit"], q["own"]) for q in changed["quotas"]}
    assert table["cores"] == (8, True) and table["sriov_ports:physnet2"] == (3, True)
    assert table["pci_devices:gpu"] == (4, False)  # back to the default
    assert client.get("/v1/quotas/beta", headers=ALPHA).status_code == 404
    assert client.get("/v1/quotas/alpha", headers=ADMIN_H).json() == changed
    before = rows(client)
    for bad, words in (
        ({"gpus": 1}, "'gpus': expected instances"),
        ({"cores": -2}, "-2 is not a limit"),
        ({"cores": 10**30}, f"{10**30} is not a limit (-1 for unlimited, or 0 to 2147483647)"),
    ):
        refused = client.put("/v1/quotas/alpha", json={"limits": bad}, headers=ADMIN_H)
        assert refused.status_code == 400 and words in refused.text
    assert rows(client) == before


def test_nova_os_quota_sets(make: Any) -> None:
    client = make()
    _create(client, "c4")
    shown = client.get(f"{COMPUTE}/os-quota-sets/alpha", headers=nova(ADMIN)).json()["quota_set"]
    assert (shown["id"], shown["instances"], shown["cores"], shown["ram"]) == (
        "alpha",
        10,
        20,
        51200,
    )
    detail = client.get(f"{COMPUTE}/os-quota-sets/alpha/detail", headers=nova(ADMIN)).json()
    assert detail["quota_set"]["cores"] == {"limit": 20, "in_use": 4, "reserved": 0}
    updated = client.put(
        f"{COMPUTE}/os-quota-sets/alpha", json={"quota_set": {"cores": 4}}, headers=nova(ADMIN)
    )
    assert updated.status_code == 200 and updated.json()["quota_set"]["cores"] == 4
    refused = client.put(
        f"{COMPUTE}/os-quota-sets/alpha",
        json={"quota_set": {"cores": 9}},
        headers=nova("tok-alpha"),
    )
    assert refused.status_code == 403 and "forbidden" in refused.json()


def test_what_openstack_quota_show_looks_up(make: Any) -> None:
    """``openstack quota show|set PROJECT`` finds the project through Keystone, then asks
    Nova and Neutron; a project sees only itself."""
    client = make()
    found = client.get("/identity/v3/projects", params={"name": "alpha"}, headers=nova(ADMIN))
    assert [p["id"] for p in found.json()["projects"]] == ["alpha"]
    assert client.get("/identity/v3/projects/beta", headers=nova(ADMIN)).status_code == 200
    assert client.get("/identity/v3/projects/beta", headers=nova("tok-alpha")).status_code == 404
    mine = client.get("/identity/v3/projects", headers=nova("tok-alpha")).json()["projects"]
    assert [p["name"] for p in mine] == ["alpha"]
    network = client.get("/v2.0/quotas/alpha", headers=nova(ADMIN)).json()["quota"]
    assert network["port"] == -1
    assert client.get("/v2.0/quotas/beta", headers=nova("tok-alpha")).status_code == 404
