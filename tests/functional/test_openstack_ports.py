"""Nova's servers with ports and Neutron's API as the OpenStack clients use them, over HTTP
in-process (SQLite): the network version document, Keystone tokens on ``/v2.0``, errors in
Neutron's shape, ``networks`` on server create, ``addresses``, ``os-interface``, and every
refusal with the status and body the clients expect, leaving every table as it was.

The host's agent is played over HTTP (:func:`net_helpers.run_agent`); a hot plug that an
agent carries out is in tests/integration/test_openstack_clients.py, with the real clients
and an agent on the in-memory hypervisor.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from net_helpers import (
    GPU_ALIAS,
    NET_SPEC,
    flat,
    get_port,
    neutron_error,
    port,
    register,
    rows,
    run_agent,
    vlan,
)
from os_helpers import (
    COMPUTE,
    USERS,
    flavor_body,
    keystone_error,
    login,
    nova,
    nova_error,
)
from svc_helpers import ADMIN, auth, make_settings

from pciplane.api.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class Cloud:
    client: TestClient
    flavor_id: str
    net1: str
    net2: str
    tokens: dict[str, str]

    def nova(self, user: str, version: str | None = "2.70") -> dict[str, str]:
        return nova(self.tokens[user], version)

    def neutron(self, user: str) -> dict[str, str]:
        return {"X-Auth-Token": self.tokens[user]}

    def port(self, user: str, network: str, **attrs: Any) -> dict[str, Any]:
        return port(self.client, network, headers=self.neutron(user), **attrs)

    def boot(self, user: str, networks: object, name: str = "vm1") -> dict[str, Any]:
        body = {"server": {"name": name, "flavorRef": self.flavor_id, "networks": networks}}
        answer = self.client.post(f"{COMPUTE}/servers", json=body, headers=self.nova(user))
        assert answer.status_code == 202, answer.text
        return self.show(user, answer.json()["server"]["id"])

    def show(self, user: str, server_id: str, version: str = "2.70") -> dict[str, Any]:
        answer = self.client.get(f"{COMPUTE}/servers/{server_id}", headers=self.nova(user, version))
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["server"]
        return found


@pytest.fixture
def cloud(tmp_path: Any) -> Iterator[Cloud]:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'os.db'}", keystone_users=USERS, device_spec=NET_SPEC
    )
    app = create_app(settings)
    with TestClient(app) as client:
        register(client, "cmp1", gpus=1)
        client.post("/v1/aliases", json=GPU_ALIAS, headers=auth(ADMIN)).raise_for_status()
        tokens = {user: login(client, user) for user in USERS}
        admin = nova(tokens["admin"])
        # disk 0: these servers boot no image (a root disk would need one).
        made = client.post(f"{COMPUTE}/flavors", json=flavor_body("g1", disk=0), headers=admin)
        flavor_id = made.json()["flavor"]["id"]
        specs = {"extra_specs": {"pci_passthrough:alias": "gpu:1"}}
        client.post(f"{COMPUTE}/flavors/{flavor_id}/os-extra_specs", json=specs, headers=admin)
        net1 = vlan(client, "net1", "physnet1", 100)["id"]
        net2 = flat(client, "net2", "physnet2")["id"]
        yield Cloud(client=client, flavor_id=flavor_id, net1=net1, net2=net2, tokens=tokens)
    app.state.services.db.dispose()


# --- Neutron -------------------------------------------------------------------------


def test_the_network_endpoint_has_a_version_document_without_a_token(cloud: Cloud) -> None:
    answer = cloud.client.get("/")
    assert answer.status_code == 200
    (version,) = answer.json()["versions"]
    assert (version["id"], version["status"]) == ("v2.0", "CURRENT")
    assert version["links"] == [{"rel": "self", "href": "http://testserver/v2.0/"}]


def test_a_keystone_token_works_on_neutron(cloud: Cloud) -> None:
    made = cloud.port("alice", cloud.net1, name="p1", **{"binding:vnic_type": "direct"})
    assert made["project_id"] == "alpha"
    listed = cloud.client.get("/v2.0/ports?name=p1", headers=cloud.neutron("alice"))
    assert [p["id"] for p in listed.json()["ports"]] == [made["id"]]
    assert cloud.client.get("/v2.0/ports?name=p1", headers=cloud.neutron("bob")).json() == {
        "ports": []
    }
    extensions = cloud.client.get("/v2.0/extensions", headers=cloud.neutron("bob")).json()
    assert {"binding", "provider"} <= {e["alias"] for e in extensions["extensions"]}


PROVIDER = {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
            "provider:segmentation_id": 300}  # fmt: skip


@pytest.mark.parametrize(
    ("user", "method", "path", "body", "status", "kind", "words"),
    [
        pytest.param("alice", "POST", "/v2.0/networks", {"network": {"name": "n", **PROVIDER}},
                     403, "Forbidden", "admin's to set", id="member-provider-network"),
        pytest.param("bob", "GET", "/v2.0/ports/{port}", None, 404, "NotFound",
                     "could not be found", id="another-projects-port"),
        pytest.param("bob", "PUT", "/v2.0/ports/{port}", {"port": {"name": "mine"}}, 404,
                     "NotFound", "could not be found", id="another-projects-port-update"),
        pytest.param("bob", "DELETE", "/v2.0/ports/{port}", None, 404, "NotFound",
                     "could not be found", id="another-projects-port-delete"),
        pytest.param("alice", "POST", "/v2.0/ports",
                     {"port": {"network_id": "{net1}", "binding:vnic_type": "fancy"}}, 400,
                     "Request", "fancy", id="unknown-vnic-type"),
        pytest.param("alice", "POST", "/v2.0/ports",
                     {"port": {"network_id": "{net1}", "binding_vnic_type": "direct"}}, 400,
                     "MalformedRequest", "binding_vnic_type", id="underscore-name"),
        pytest.param("alice", "POST", "/v2.0/ports",
                     {"port": {"network_id": "{net1}", "binding:host_id": "cmp1"}}, 403,
                     "Forbidden", "binding:host_id", id="member-binds-to-a-host"),
        pytest.param("alice", "GET", "/v2.0/subnets", None, 404, "RouteNotFound", "Not Found",
                     id="not-served"),
    ],
)  # fmt: skip
def test_neutron_refusals_are_neutron_errors_and_change_nothing(
    cloud: Cloud, user: str, method: str, path: str, body: Any, status: int, kind: str, words: str
) -> None:
    alices = cloud.port("alice", cloud.net1, name="p-alice")
    fill = {"{port}": alices["id"], "{net1}": cloud.net1}

    def filled(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: filled(v) for k, v in value.items()}
        if isinstance(value, str):
            for name, real in fill.items():
                value = value.replace(name, real)
        return value

    before = rows(cloud.client)
    answer = cloud.client.request(
        method, filled(path), json=filled(body), headers=cloud.neutron(user)
    )
    assert words in neutron_error(answer, status)
    assert answer.json()["NeutronError"]["type"] == kind
    assert rows(cloud.client) == before


def test_neutron_without_a_token_is_a_keystone_401(cloud: Cloud) -> None:
    answer = cloud.client.get("/v2.0/ports", headers={"X-Auth-Token": "no-such-token"})
    assert "not valid" in keystone_error(answer, 401)
    assert answer.headers["www-authenticate"].startswith("Keystone")


# --- Nova: servers with ports ----------------------------------------------------------


def test_a_server_takes_a_port_and_a_network_and_shows_them(cloud: Cloud) -> None:
    direct = cloud.port("alice", cloud.net1, name="p-direct", **{"binding:vnic_type": "direct"})
    server = cloud.boot("alice", [{"port": direct["id"]}, {"uuid": cloud.net2}])
    assert (server["status"], server["addresses"]) == ("BUILD", {"net1": [], "net2": []})
    bound = get_port(cloud.client, direct["id"])
    assert (bound["binding:host_id"], bound["binding:vif_type"], bound["device_id"]) == (
        "cmp1", "hw_veb", server["id"])  # fmt: skip
    assert bound["binding:vif_details"]["vlan"] == "100"
    made = cloud.client.get(f"/v2.0/ports?network_id={cloud.net2}", headers=cloud.neutron("alice"))
    (created,) = made.json()["ports"]
    assert (created["binding:vnic_type"], created["device_owner"]) == ("normal", "compute:nova")

    run_agent(cloud.client, "cmp1")
    assert cloud.show("alice", server["id"])["status"] == "ACTIVE"
    path = f"{COMPUTE}/servers/{server['id']}/os-interface"
    listed = cloud.client.get(path, headers=cloud.nova("alice")).json()["interfaceAttachments"]
    assert {(i["port_id"], i["net_id"], i["port_state"]) for i in listed} == {
        (direct["id"], cloud.net1, "ACTIVE"), (created["id"], cloud.net2, "ACTIVE")}  # fmt: skip
    assert all(i["tag"] is None and i["fixed_ips"] == [] for i in listed)
    old = cloud.client.get(f"{path}/{direct['id']}", headers=cloud.nova("alice", "2.69"))
    assert old.json()["interfaceAttachment"]["mac_addr"] == direct["mac_address"]
    assert "tag" not in old.json()["interfaceAttachment"]
    detail = cloud.client.get(f"{COMPUTE}/servers/detail", headers=cloud.nova("alice")).json()
    assert [s["addresses"] for s in detail["servers"]] == [{"net1": [], "net2": []}]

    gone = cloud.client.delete(f"{COMPUTE}/servers/{server['id']}", headers=cloud.nova("alice"))
    assert gone.status_code == 204
    run_agent(cloud.client, "cmp1")
    after = get_port(cloud.client, direct["id"])
    assert (after["binding:vif_type"], after["device_id"], after["status"]) == (
        "unbound",
        "",
        "DOWN",
    )
    missing = cloud.client.get(f"/v2.0/ports/{created['id']}", headers=cloud.neutron("alice"))
    neutron_error(missing, 404)  # the port the server created went with it


@pytest.mark.parametrize(
    ("networks", "version", "key", "status", "words"),
    [
        pytest.param([{"port": "{port}", "fixed_ip": "10.0.0.3"}], "2.70", "badRequest", 400,
                     "networks[0].fixed_ip: not supported", id="fixed-ip"),
        pytest.param([{"port": "{port}", "tag": "nic1"}], "2.70", "badRequest", 400,
                     "networks[0].tag: not supported", id="tag"),
        pytest.param([{"port": "{port}", "tag": "nic1"}], "2.37", "badRequest", 400,
                     "need microversion 2.32 to 2.36 or 2.42+", id="tag-at-2.37"),
        pytest.param([{"port": "{port}", "uuid": "{net1}"}], "2.70", "badRequest", 400,
                     "networks[0]: give either port or uuid", id="port-and-uuid"),
        pytest.param([{}], "2.70", "badRequest", 400, "networks[0]: give a port", id="empty"),
        pytest.param([{"port": "{port}"}, {"port": "nope"}], "2.70", "badRequest", 400,
                     "networks[1]: port nope could not be found", id="no-such-port"),
        pytest.param([{"uuid": "nope"}], "2.70", "badRequest", 400,
                     "networks[0]: network nope could not be found", id="no-such-network"),
        pytest.param([{"port": "{bobs}"}], "2.70", "badRequest", 400, "could not be found",
                     id="another-projects-port"),
        pytest.param([{"port": "{port}"}, {"port": "{port}"}], "2.70", "badRequest", 400,
                     "networks[1]: port 'p1' is given twice", id="port-twice"),
        pytest.param([{"port": "{used}"}], "2.70", "conflictingRequest", 409,
                     "networks[0]: port 'p-used' is in use", id="port-in-use"),
        pytest.param("auto", "2.36", "badRequest", 400, "needs microversion 2.37",
                     id="auto-before-2.37"),
    ],
)  # fmt: skip
def test_bad_networks_are_refused_by_name_and_create_nothing(
    cloud: Cloud, networks: Any, version: str, key: str, status: int, words: str
) -> None:
    fill = {
        "{port}": cloud.port("alice", cloud.net1, name="p1")["id"],
        "{bobs}": cloud.port("bob", cloud.net1, name="p-bob")["id"],
        "{used}": cloud.port("alice", cloud.net1, name="p-used")["id"],
        "{net1}": cloud.net1,
    }
    cloud.boot("alice", [{"port": fill["{used}"]}], name="holder")
    if isinstance(networks, list):
        networks = [{k: fill.get(v, v) for k, v in n.items()} for n in networks]
    before = rows(cloud.client)
    body = {"server": {"name": "vm2", "flavorRef": cloud.flavor_id, "networks": networks}}
    answer = cloud.client.post(
        f"{COMPUTE}/servers", json=body, headers=cloud.nova("alice", version)
    )
    assert words in nova_error(answer, key, status)
    assert rows(cloud.client) == before


# --- Nova: os-interface refusals (before anything is written) ----------------------------


@pytest.mark.parametrize(
    ("user", "version", "attachment", "key", "status", "words"),
    [
        pytest.param("alice", "2.70", {"net_id": "{net1}"}, "badRequest", 400,
                     "interfaceAttachment.net_id: not supported", id="by-network"),
        pytest.param("alice", "2.70", {"port_id": "{free}", "fixed_ips": [{"ip_address": "1"}]},
                     "badRequest", 400, "fixed_ips: not supported", id="fixed-ips"),
        pytest.param("alice", "2.70", {"port_id": "{free}", "tag": "t"}, "badRequest", 400,
                     "keeps no device tags", id="tag"),
        pytest.param("alice", "2.48", {"port_id": "{free}", "tag": "t"}, "badRequest", 400,
                     "needs microversion 2.49", id="tag-before-2.49"),
        pytest.param("alice", "2.70", {}, "badRequest", 400, "port_id: required", id="no-port"),
        pytest.param("alice", "2.70", {"port_id": "{used}"}, "conflictingRequest", 409,
                     "is in use by", id="port-in-use"),
        pytest.param("alice", "2.70", {"port_id": "nope"}, "itemNotFound", 404,
                     "could not be found", id="no-such-port"),
        pytest.param("bob", "2.70", {"port_id": "{free}"}, "itemNotFound", 404,
                     "could not be found", id="another-projects-server"),
    ],
)  # fmt: skip
def test_a_refused_attach_is_novas_error_and_changes_nothing(
    cloud: Cloud, user: str, version: str, attachment: dict[str, Any], key: str, status: int,
    words: str,
) -> None:  # fmt: skip
    used = cloud.port("alice", cloud.net1, name="p-used")["id"]
    server = cloud.boot("alice", [{"port": used}])
    run_agent(cloud.client, "cmp1")
    fill = {"{free}": cloud.port("alice", cloud.net1, name="p-free")["id"], "{used}": used,
            "{net1}": cloud.net1}  # fmt: skip
    filled = {k: fill.get(v, v) if isinstance(v, str) else v for k, v in attachment.items()}
    body = {"interfaceAttachment": filled}
    before = rows(cloud.client)
    answer = cloud.client.post(
        f"{COMPUTE}/servers/{server['id']}/os-interface", json=body,
        headers=cloud.nova(user, version),
    )  # fmt: skip
    assert words in nova_error(answer, key, status)
    assert rows(cloud.client) == before


def test_interfaces_of_a_server_not_active_cannot_change(cloud: Cloud) -> None:
    used = cloud.port("alice", cloud.net1, name="p-used")["id"]
    free = cloud.port("alice", cloud.net1, name="p-free")["id"]
    server = cloud.boot("alice", [{"port": used}])  # BUILD: no agent started it
    path = f"{COMPUTE}/servers/{server['id']}/os-interface"
    before = rows(cloud.client)
    attach = {"interfaceAttachment": {"port_id": free}}
    answer = cloud.client.post(path, json=attach, headers=cloud.nova("alice"))
    assert "ACTIVE servers only" in nova_error(answer, "conflictingRequest", 409)
    detach = cloud.client.delete(f"{path}/{used}", headers=cloud.nova("alice"))
    assert "ACTIVE servers only" in nova_error(detach, "conflictingRequest", 409)
    not_attached = cloud.client.get(f"{path}/{free}", headers=cloud.nova("alice"))
    assert "is not attached" in nova_error(not_attached, "itemNotFound", 404)
    foreign = cloud.client.get(path, headers=cloud.nova("bob"))
    nova_error(foreign, "itemNotFound", 404)
    assert rows(cloud.client) == before


# --- Nova: what microversions 2.62 to 2.70 add ------------------------------------------


def test_trusted_image_certificates_are_shown_from_2_63_and_refused_on_create(
    cloud: Cloud,
) -> None:
    server = cloud.boot("alice", "none")
    assert server["trusted_image_certificates"] is None
    assert "trusted_image_certificates" not in cloud.show("alice", server["id"], "2.62")
    for version, words in (("2.62", "needs microversion 2.63"), ("2.63", "does not verify")):
        body = {"server": {"name": "vm2", "flavorRef": cloud.flavor_id, "networks": "none",
                           "trusted_image_certificates": ["c1"]}}  # fmt: skip
        answer = cloud.client.post(
            f"{COMPUTE}/servers", json=body, headers=cloud.nova("alice", version)
        )
        assert words in nova_error(answer, "badRequest", 400)


def test_changes_before_filters_servers_from_2_66(cloud: Cloud) -> None:
    server = cloud.boot("alice", "none")
    early = "2000-01-01T00:00:00Z"
    for version, found in (("2.65", [server["id"]]), ("2.66", [])):
        answer = cloud.client.get(
            f"{COMPUTE}/servers?changes-before={early}", headers=cloud.nova("alice", version)
        )
        assert [s["id"] for s in answer.json()["servers"]] == found
    wrong = cloud.client.get(
        f"{COMPUTE}/servers?changes-before={early}&changes-since=2001-01-01T00:00:00Z",
        headers=cloud.nova("alice"),
    )
    assert "changes-since must be earlier" in nova_error(wrong, "badRequest", 400)
