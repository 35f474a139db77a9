"""The Keystone and Nova subsets over HTTP: tokens, microversions, shapes, refusals.

The real openstack clients drive the same routes in tests/integration/test_openstack_clients.py;
here each rule is one table row, on the app in-process (SQLite; the tokens across processes
on PostgreSQL are in the integration tests). Every refusal is checked for the status and the
body the clients expect, and for leaving the database as it was.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from os_helpers import (
    COMPUTE,
    IMAGE,
    USERS,
    add_image,
    db_state,
    flavor_body,
    keystone_error,
    login,
    nova,
    nova_error,
    password_body,
    server_body,
)
from svc_helpers import ADMIN, GPU_ALIAS, auth, host_body, make_settings

from pciplane.api.app import create_app
from pciplane.api.openstack.microversions import MAX_VERSION
from pciplane.service.identity import IdentityService
from pciplane.service.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class Cloud:
    client: TestClient
    db_url: str
    settings: Settings
    flavor_id: str

    def token(self, user: str) -> str:
        return login(self.client, user)


def _cloud(tmp_path: Path, **overrides: object) -> Iterator[Cloud]:
    db_url = f"sqlite:///{tmp_path / 'os.db'}"
    settings = make_settings(db_url, keystone_users=USERS, **overrides)
    app = create_app(settings)
    with TestClient(app) as client:
        add_image(client)
        client.post("/v1/aliases", json=GPU_ALIAS, headers=auth(ADMIN)).raise_for_status()
        client.put("/v1/hosts/cmp1", json=host_body("cmp1"), headers=auth("tok-cmp1"))
        admin = nova(login(client, "admin"))
        made = client.post(f"{COMPUTE}/flavors", json=flavor_body("g1"), headers=admin)
        flavor_id = made.json()["flavor"]["id"]
        specs = {"extra_specs": {"pci_passthrough:alias": "large_GPU:1"}}
        client.post(f"{COMPUTE}/flavors/{flavor_id}/os-extra_specs", json=specs, headers=admin)
        yield Cloud(client=client, db_url=db_url, settings=settings, flavor_id=flavor_id)
    app.state.services.db.dispose()


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    yield from _cloud(tmp_path)


def _boot(cloud: Cloud, user: str, name: str = "vm1") -> str:
    answer = cloud.client.post(
        f"{COMPUTE}/servers",
        json=server_body(name, cloud.flavor_id),
        headers=nova(cloud.token(user)),
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["server"]["id"])


# --- discovery -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "self_link"),
    [
        pytest.param("/identity", 300, "/identity/v3/", id="identity-versions"),
        pytest.param("/identity/v3", 200, "/identity/v3/", id="identity-v3"),
        pytest.param("/compute", 200, "/compute/v2.1/", id="compute-versions"),
        pytest.param("/compute/v2.1", 200, "/compute/v2.1/", id="compute-v2.1"),
        pytest.param("/compute/v2.1/", 200, "/compute/v2.1/", id="compute-v2.1-slash"),
    ],
)
def test_version_documents_need_no_token_and_link_to_themselves(
    cloud: Cloud, path: str, status: int, self_link: str
) -> None:
    answer = cloud.client.get(path)
    assert answer.status_code == status
    body = answer.json()
    doc = body.get("version") or (body["versions"]["values"] if "values" in str(body) else None)
    entries = [doc] if isinstance(doc, dict) else (doc or body["versions"])
    (entry,) = entries
    assert entry["links"][0]["href"] == f"http://testserver{self_link}"
    if "compute" in path:
        assert (entry["min_version"], entry["version"]) == ("2.1", str(MAX_VERSION))


def test_public_url_is_what_the_documents_and_the_catalog_name(tmp_path: Path) -> None:
    for cloud in _cloud(tmp_path, public_url="https://cloud.example:8443/"):
        doc = cloud.client.get("/compute/v2.1").json()["version"]
        assert doc["links"][0]["href"] == "https://cloud.example:8443/compute/v2.1/"
        body = password_body("alice", "alice-pw", "alpha")
        token = cloud.client.post("/identity/v3/auth/tokens", json=body).json()["token"]
        urls = {s["type"]: s["endpoints"][0]["url"] for s in token["catalog"]}
        assert urls["compute"] == "https://cloud.example:8443/compute/v2.1"


# --- Keystone ------------------------------------------------------------------------


def test_password_auth_answers_a_scoped_token_with_the_catalog(cloud: Cloud) -> None:
    answer = cloud.client.post(
        "/identity/v3/auth/tokens", json=password_body("alice", "alice-pw", "alpha")
    )
    assert answer.status_code == 201
    assert answer.headers["x-subject-token"].startswith("pk1.")
    token = answer.json()["token"]
    assert token["expires_at"].endswith("Z") and token["issued_at"] < token["expires_at"]
    assert (token["user"]["name"], token["project"]["name"]) == ("alice", "alpha")
    assert [r["name"] for r in token["roles"]] == ["member", "reader"]
    endpoints = {s["type"]: s["endpoints"][0] for s in token["catalog"]}
    assert set(endpoints) == {"identity", "compute", "network", "image"}
    assert endpoints["image"]["url"] == "http://testserver/image"
    assert endpoints["compute"]["url"] == "http://testserver/compute/v2.1"
    assert endpoints["network"]["url"] == "http://testserver"
    assert {e["region"] for e in endpoints.values()} == {"RegionOne"}
    assert {e["interface"] for e in endpoints.values()} == {"public"}


def _auth_with(**changes: Any) -> dict[str, Any]:
    body = password_body("alice", "alice-pw", "alpha")
    user = body["auth"]["identity"]["password"]["user"]
    for key, value in changes.items():
        if key == "scope":
            body["auth"].pop("scope") if value is None else body["auth"].update(scope=value)
        elif key == "drop":
            user.pop(value)
        else:
            user[key] = value
    return body


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        pytest.param(_auth_with(password="wrong"), 401, "user name or the password is wrong",
                     id="wrong-password"),
        pytest.param(_auth_with(name="mallory"), 401, "user name or the password is wrong",
                     id="unknown-user"),
        pytest.param(_auth_with(scope=None), 401, "project-scoped tokens only", id="unscoped"),
        pytest.param(_auth_with(scope={"project": {"name": "beta", "domain": {"id": "default"}}}),
                     401, "no role on project 'beta'", id="no-role-there"),
        pytest.param(_auth_with(domain={"name": "Other"}), 401, "domain is not 'Default'",
                     id="other-domain"),
        pytest.param(_auth_with(drop="password"), 400, "password", id="no-password"),
        pytest.param({"auth": {"identity": {"methods": ["totp"]}}}, 400, "methods",
                     id="other-method"),
    ],
)  # fmt: skip
def test_password_auth_refusals_are_keystone_errors(
    cloud: Cloud, body: dict[str, Any], status: int, message: str
) -> None:
    before = db_state(cloud.db_url)
    answer = cloud.client.post("/identity/v3/auth/tokens", json=body)
    assert message in keystone_error(answer, status)
    assert "x-subject-token" not in answer.headers
    assert db_state(cloud.db_url) == before


def test_a_token_is_validated_by_get_auth_tokens(cloud: Cloud) -> None:
    token = cloud.token("alice")
    caller = {"X-Auth-Token": cloud.token("admin")}
    valid = cloud.client.get(
        "/identity/v3/auth/tokens", headers={**caller, "X-Subject-Token": token}
    )
    assert valid.status_code == 200
    assert valid.json()["token"]["project"]["name"] == "alpha"
    forged = token[:-4] + "AAAA"
    answer = cloud.client.get(
        "/identity/v3/auth/tokens", headers={**caller, "X-Subject-Token": forged}
    )
    assert "Could not find token" in keystone_error(answer, 404)


# --- one token everywhere --------------------------------------------------------------


def test_one_token_works_on_v1_and_compute_and_static_tokens_on_both(cloud: Cloud) -> None:
    _boot(cloud, "alice")
    keystone = cloud.token("alice")
    on_v1 = cloud.client.get("/v1/servers", headers=auth(keystone)).json()["servers"]
    on_nova = cloud.client.get(f"{COMPUTE}/servers/detail", headers=nova(keystone)).json()
    assert [s["name"] for s in on_v1] == ["vm1"] and on_v1[0]["project"] == "alpha"
    assert [s["tenant_id"] for s in on_nova["servers"]] == ["alpha"]
    static = cloud.client.get(f"{COMPUTE}/servers/detail?all_tenants=1", headers=nova(ADMIN))
    assert [s["name"] for s in static.json()["servers"]] == ["vm1"]
    assert cloud.client.get(f"{COMPUTE}/servers", headers=nova("tok-beta")).json() == {
        "servers": []
    }


def _expired(cloud: Cloud) -> str:
    past = time.time() - 2 * cloud.settings.token_expiration
    identity = IdentityService(cloud.settings)
    return identity.authenticate(user="alice", password="alice-pw", project="alpha", now=past).id


def _forged(cloud: Cloud) -> str:
    other = cloud.settings.with_overrides(admin_token="another-service")
    identity = IdentityService(other)
    return identity.authenticate(
        user="admin", password="admin-pw", project="admin", now=time.time()
    ).id


def _removed_user(cloud: Cloud) -> str:
    """A token of a user the operator has since removed from the settings."""
    users = {**USERS, "carol": {"password": "c", "roles": {"alpha": "admin"}}}
    identity = IdentityService(cloud.settings.with_overrides(keystone_users=users))
    return identity.authenticate(user="carol", password="c", project="alpha", now=time.time()).id


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(_expired, "the token expired at", id="expired"),
        pytest.param(_forged, "not one this service signed", id="signed-elsewhere"),
        pytest.param(_removed_user, "no longer has the role", id="user-removed"),
        pytest.param(lambda c: "notused", "noauth setting is on", id="noauth-off"),
    ],
)
def test_a_bad_token_is_refused_everywhere_in_each_apis_shape(
    cloud: Cloud, make: Any, message: str
) -> None:
    token = make(cloud)
    before = db_state(cloud.db_url)
    answer = cloud.client.post(
        f"{COMPUTE}/servers", json=server_body("vm9", cloud.flavor_id), headers=nova(token)
    )
    assert message in keystone_error(answer, 401)
    assert answer.headers["www-authenticate"] == 'Keystone uri="http://testserver/identity"'
    v1 = cloud.client.get("/v1/servers", headers=auth(token))
    assert v1.status_code == 401 and message in v1.json()["errors"][0]["detail"]
    assert db_state(cloud.db_url) == before


def test_noauth_accepts_the_clients_literal_token_as_the_admin(tmp_path: Path) -> None:
    for cloud in _cloud(tmp_path, noauth=True):
        answer = cloud.client.get(f"{COMPUTE}/os-hypervisors", headers=nova("notused"))
        assert answer.json()["hypervisors"][0]["hypervisor_hostname"] == "cmp1"


# --- microversions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "answered"),
    [
        pytest.param({}, "2.1", id="none-is-2.1"),
        pytest.param({"OpenStack-API-Version": "compute 2.30"}, "2.30", id="new-header"),
        pytest.param({"X-OpenStack-Nova-API-Version": "2.19"}, "2.19", id="legacy-header"),
        pytest.param({"OpenStack-API-Version": "identity 3.0, compute 2.40"}, "2.40",
                     id="several-services"),
        pytest.param({"OpenStack-API-Version": "compute 2.20",
                      "X-OpenStack-Nova-API-Version": "2.5"}, "2.20", id="new-header-wins"),
        pytest.param({"OpenStack-API-Version": "compute latest"}, str(MAX_VERSION), id="latest"),
    ],
)  # fmt: skip
def test_the_microversion_asked_is_the_one_answered(
    cloud: Cloud, headers: dict[str, str], answered: str
) -> None:
    answer = cloud.client.get(f"{COMPUTE}/flavors", headers={"X-Auth-Token": ADMIN, **headers})
    assert answer.status_code == 200
    assert answer.headers["openstack-api-version"] == f"compute {answered}"
    assert answer.headers["x-openstack-nova-api-version"] == answered
    assert answer.headers["x-openstack-request-id"].startswith("req-")


@pytest.mark.parametrize(
    ("version", "key", "status", "message"),
    [
        pytest.param(f"2.{MAX_VERSION.minor + 1}", "computeFault", 406,
                     f"Minimum is 2.1 and maximum is {MAX_VERSION}", id="above-max"),
        pytest.param("2.0", "computeFault", 406, "not supported", id="below-min"),
        pytest.param("two", "badRequest", 400, "invalid format", id="malformed"),
        pytest.param("2.1.1", "badRequest", 400, "invalid format", id="three-parts"),
    ],
)  # fmt: skip
def test_a_microversion_not_served_is_refused_as_nova_does(
    cloud: Cloud, version: str, key: str, status: int, message: str
) -> None:
    before = db_state(cloud.db_url)
    answer = cloud.client.post(
        f"{COMPUTE}/flavors", json=flavor_body("g9"), headers=nova(ADMIN, version)
    )
    assert message in nova_error(answer, key, status)
    assert db_state(cloud.db_url) == before


def test_a_server_shows_what_its_microversion_and_role_show(cloud: Cloud) -> None:
    server_id = _boot(cloud, "alice")
    url = f"{COMPUTE}/servers/{server_id}"
    old = cloud.client.get(url, headers=nova(cloud.token("alice"), "2.46")).json()["server"]
    assert old["flavor"]["id"] == cloud.flavor_id and "original_name" not in old["flavor"]
    assert "OS-EXT-SRV-ATTR:host" not in old and old["locked"] is False
    new = cloud.client.get(url, headers=nova(cloud.token("alice"), "2.47")).json()["server"]
    assert new["flavor"] == {
        "original_name": "g1", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
        "extra_specs": {"pci_passthrough:alias": "large_GPU:1"},
    }  # fmt: skip
    assert new["image"]["id"] == IMAGE and new["status"] == "BUILD"
    base = cloud.client.get(url, headers=nova(cloud.token("alice"), None)).json()["server"]
    assert not {"locked", "description", "tags"} & set(base)
    admin = cloud.client.get(url, headers=nova(cloud.token("admin"))).json()["server"]
    assert admin["OS-EXT-SRV-ATTR:host"] == "cmp1" and admin["host_status"] == "UP"


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"ram": "lots"}, "ram", id="ram-not-a-number"),
        pytest.param({"vcpus": 0}, "vcpus", id="no-vcpus"),
        pytest.param({"vcpus": True}, "vcpus", id="vcpus-boolean"),
        pytest.param({"name": "has space"}, "name", id="name-pattern"),
        pytest.param({"os-flavor-access:is_public": False}, "private flavors", id="private"),
        pytest.param({"rxtx_factor": 2.0}, "rxtx_factor", id="rxtx"),
        pytest.param({"description": "x"}, "description", id="description-needs-2.55"),
        pytest.param({"name": "g1"}, "already exists", id="name-taken"),
    ],
)
def test_a_bad_flavor_is_a_nova_bad_request_naming_the_field(
    cloud: Cloud, changes: dict[str, object], message: str
) -> None:
    before = db_state(cloud.db_url)
    body = flavor_body("g2", **changes)
    answer = cloud.client.post(f"{COMPUTE}/flavors", json=body, headers=nova(ADMIN))
    key, status = (
        ("conflictingRequest", 409) if message == "already exists" else ("badRequest", 400)
    )
    assert message in nova_error(answer, key, status)
    assert db_state(cloud.db_url) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"networks": [{"uuid": IMAGE}]},
                     f"networks[0]: network {IMAGE} could not be found", id="no-such-network"),
        pytest.param({"networks": None}, "networks: required", id="networks-missing"),
        pytest.param({"key_name": "k"}, "key_name", id="keypair"),
        pytest.param({"metadata": {"a": "b"}}, "metadata", id="metadata"),
        pytest.param({"max_count": 2}, "one server at a time", id="several"),
        pytest.param({"flavorRef": "nope"}, "Flavor nope could not be found", id="no-flavor"),
        pytest.param({"name": "a b"}, "name", id="name-pattern"),
        pytest.param({"imageRef": "cirros"}, "imageRef", id="image-not-a-uuid"),
        pytest.param({"availability_zone": "az9"}, "availability_zone", id="zone"),
        pytest.param({"block_device_mapping_v2": [{"source_type": "volume", "uuid": IMAGE,
                      "destination_type": "volume", "boot_index": 0}]}, "no volumes",
                     id="volume"),
        pytest.param({"imageRef": "11111111-2222-3333-4444-555555555555"}, "is not the imageRef",
                     id="two-images"),
        pytest.param({"unknown": 1}, "unknown", id="unknown-key"),
    ],
)  # fmt: skip
def test_a_bad_server_is_a_nova_bad_request_and_creates_nothing(
    cloud: Cloud, changes: dict[str, object], message: str
) -> None:
    before = db_state(cloud.db_url)
    body = server_body("vm1", cloud.flavor_id, **changes)
    body["server"] = {k: v for k, v in body["server"].items() if v is not None}
    answer = cloud.client.post(f"{COMPUTE}/servers", json=body, headers=nova(cloud.token("alice")))
    assert message in nova_error(answer, "badRequest", 400)
    assert db_state(cloud.db_url) == before


def test_description_needs_2_19(cloud: Cloud) -> None:
    body = server_body("vm1", cloud.flavor_id, description="gpu box")
    del body["server"]["networks"]  # before 2.37, no networks means none to choose from
    old = cloud.client.post(f"{COMPUTE}/servers", json=body, headers=nova(ADMIN, "2.18"))
    assert "2.19" in nova_error(old, "badRequest", 400)
    made = cloud.client.post(f"{COMPUTE}/servers", json=body, headers=nova(ADMIN, "2.19"))
    shown = cloud.client.get(
        f"{COMPUTE}/servers/{made.json()['server']['id']}", headers=nova(ADMIN)
    )
    assert shown.json()["server"]["description"] == "gpu box"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "/flavors", flavor_body("g2"), id="flavor-create"),
        pytest.param("DELETE", "/flavors/{flavor}", None, id="flavor-delete"),
        pytest.param("POST", "/flavors/{flavor}/os-extra_specs", {"extra_specs": {"a": "b"}},
                     id="extra-specs-set"),
        pytest.param("DELETE", "/flavors/{flavor}/os-extra_specs/pci_passthrough:alias", None,
                     id="extra-spec-unset"),
        pytest.param("GET", "/os-hypervisors", None, id="hypervisors"),
    ],
)  # fmt: skip
def test_a_member_calling_an_admin_call_is_forbidden(
    cloud: Cloud, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = db_state(cloud.db_url)
    url = COMPUTE + path.format(flavor=cloud.flavor_id)
    answer = cloud.client.request(method, url, json=body, headers=nova(cloud.token("alice")))
    assert "admin role" in nova_error(answer, "forbidden", 403)
    assert db_state(cloud.db_url) == before


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_another_projects_server_does_not_exist_for_you(cloud: Cloud, method: str) -> None:
    server_id = _boot(cloud, "alice")
    before = db_state(cloud.db_url)
    answer = cloud.client.request(
        method, f"{COMPUTE}/servers/{server_id}", headers=nova(cloud.token("bob"))
    )
    assert server_id in nova_error(answer, "itemNotFound", 404)
    assert db_state(cloud.db_url) == before
    listed = cloud.client.get(
        f"{COMPUTE}/servers/detail?name=vm1", headers=nova(cloud.token("bob"))
    )
    assert listed.json() == {"servers": []}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/flavors/g1", id="flavor"),
        pytest.param("/servers/vm1", id="server"),
        pytest.param("/os-hypervisors/cmp1", id="hypervisor"),
        pytest.param("/flavors/{flavor}/os-extra_specs/hw:nope", id="extra-spec"),
    ],
)
def test_a_find_by_name_probe_is_404(cloud: Cloud, path: str) -> None:
    _boot(cloud, "admin")
    answer = cloud.client.get(COMPUTE + path.format(flavor=cloud.flavor_id), headers=nova(ADMIN))
    nova_error(answer, "itemNotFound", 404)


def test_extra_specs_set_show_replace_and_unset(cloud: Cloud) -> None:
    specs = f"{COMPUTE}/flavors/{cloud.flavor_id}/os-extra_specs"
    headers = nova(ADMIN)
    added = cloud.client.post(specs, json={"extra_specs": {"quota:a": 1}}, headers=headers)
    assert added.json() == {"extra_specs": {"quota:a": "1"}}
    assert cloud.client.get(f"{specs}/quota:a", headers=headers).json() == {"quota:a": "1"}
    put = cloud.client.put(f"{specs}/quota:a", json={"quota:a": "2"}, headers=headers)
    assert put.json() == {"quota:a": "2"}
    mismatch = cloud.client.put(f"{specs}/quota:a", json={"quota:b": "2"}, headers=headers)
    assert "names extra spec" in nova_error(mismatch, "badRequest", 400)
    assert cloud.client.delete(f"{specs}/quota:a", headers=headers).status_code == 200
    assert cloud.client.get(specs, headers=headers).json() == {
        "extra_specs": {"pci_passthrough:alias": "large_GPU:1"}
    }
    unknown = cloud.client.post(
        specs, json={"extra_specs": {"pci_passthrough:alias": "nope:1"}}, headers=headers
    )
    assert "nope" in nova_error(unknown, "badRequest", 400)


def test_lists_page_with_next_links_and_a_bad_marker_is_400(cloud: Cloud) -> None:
    ids = [_boot(cloud, "admin", f"vm{i}") for i in range(3)]
    first = cloud.client.get(f"{COMPUTE}/servers?limit=2", headers=nova(ADMIN)).json()
    assert [s["id"] for s in first["servers"]] == ids[::-1][:2]  # newest first, as Nova
    (link,) = first["servers_links"]
    rest = cloud.client.get(link["href"].replace("http://testserver", ""), headers=nova(ADMIN))
    assert [s["id"] for s in rest.json()["servers"]] == [ids[0]]
    assert "servers_links" not in rest.json()
    bad = cloud.client.get(f"{COMPUTE}/servers?marker=nope", headers=nova(ADMIN))
    assert "marker" in nova_error(bad, "badRequest", 400)


def test_a_flavors_description_from_2_55_and_its_extra_specs_from_2_61(cloud: Cloud) -> None:
    body = flavor_body("g2", description="two A100s")
    old = cloud.client.post(f"{COMPUTE}/flavors", json=body, headers=nova(ADMIN, "2.54"))
    assert "2.55" in nova_error(old, "badRequest", 400)
    made = cloud.client.post(f"{COMPUTE}/flavors", json=body, headers=nova(ADMIN, "2.55"))
    flavor = made.json()["flavor"]
    assert flavor["description"] == "two A100s" and "extra_specs" not in flavor
    url = f"{COMPUTE}/flavors/{flavor['id']}"
    change = {"flavor": {"description": "spare"}}
    assert cloud.client.put(url, json=change, headers=nova(ADMIN, "2.54")).status_code == 404
    member = cloud.client.put(url, json=change, headers=nova(cloud.token("alice"), "2.55"))
    nova_error(member, "forbidden", 403)
    changed = cloud.client.put(url, json=change, headers=nova(ADMIN, "2.61"))
    assert changed.json()["flavor"]["description"] == "spare"
    assert changed.json()["flavor"]["extra_specs"] == {}
    shown = cloud.client.get(f"{COMPUTE}/flavors/{cloud.flavor_id}", headers=nova(ADMIN, "2.61"))
    assert shown.json()["flavor"]["extra_specs"] == {"pci_passthrough:alias": "large_GPU:1"}
    listed = cloud.client.get(f"{COMPUTE}/flavors", headers=nova(ADMIN, "2.60")).json()
    assert {f["name"]: f["description"] for f in listed["flavors"]} == {"g1": None, "g2": "spare"}


def test_hypervisors_are_uuids_from_2_53_and_list_their_servers_when_asked(
    cloud: Cloud,
) -> None:
    server_id = _boot(cloud, "admin")
    old = cloud.client.get(f"{COMPUTE}/os-hypervisors", headers=nova(ADMIN, "2.52")).json()
    assert old["hypervisors"][0]["id"] == 1
    new = cloud.client.get(
        f"{COMPUTE}/os-hypervisors?with_servers=true", headers=nova(ADMIN, "2.53")
    ).json()
    (host,) = new["hypervisors"]
    assert host["servers"] == [{"name": f"vm1-{server_id[:8]}", "uuid": server_id}]
    shown = cloud.client.get(f"{COMPUTE}/os-hypervisors/{host['id']}", headers=nova(ADMIN, "2.53"))
    assert shown.json()["hypervisor"]["hypervisor_hostname"] == "cmp1"
    by_name = cloud.client.get(f"{COMPUTE}/os-hypervisors/cmp1", headers=nova(ADMIN, "2.53"))
    assert "Invalid uuid" in nova_error(by_name, "badRequest", 400)
    pattern = f"{COMPUTE}/os-hypervisors?hypervisor_hostname_pattern=cmp&limit=1"
    paged = cloud.client.get(pattern, headers=nova(ADMIN, "2.53"))
    assert "cannot be paged" in nova_error(paged, "badRequest", 400)


@pytest.mark.parametrize(
    ("version", "message"),
    [pytest.param("2.51", "needs microversion 2.52", id="before-2.52"),
     pytest.param("2.52", "keeps no server tags", id="from-2.52")],
)  # fmt: skip
def test_server_tags_are_refused_by_name(cloud: Cloud, version: str, message: str) -> None:
    body = server_body("vm1", cloud.flavor_id, tags=["gpu"])
    answer = cloud.client.post(f"{COMPUTE}/servers", json=body, headers=nova(ADMIN, version))
    assert message in nova_error(answer, "badRequest", 400)


def test_a_server_no_host_can_take_is_error_with_its_reason_as_fault(cloud: Cloud) -> None:
    admin = nova(ADMIN)
    flavors = f"{COMPUTE}/flavors"
    big = cloud.client.post(flavors, json=flavor_body("big"), headers=admin).json()["flavor"]
    specs = {"extra_specs": {"pci_passthrough:alias": "large_GPU:8"}}
    cloud.client.post(f"{flavors}/{big['id']}/os-extra_specs", json=specs, headers=admin)
    made = cloud.client.post(
        f"{COMPUTE}/servers", json=server_body("huge", big["id"]), headers=admin
    )
    assert made.status_code == 202
    server = cloud.client.get(
        f"{COMPUTE}/servers/{made.json()['server']['id']}", headers=admin
    ).json()["server"]
    assert (server["status"], server["OS-EXT-STS:vm_state"]) == ("ERROR", "error")
    assert server["fault"]["code"] == 500
    assert server["fault"]["message"].startswith("No valid host for server 'huge'")


def test_numbers_may_come_as_strings_as_nova_takes_them(cloud: Cloud) -> None:
    body = flavor_body("g3", ram="2048", vcpus="2", disk="0", swap="")
    made = cloud.client.post(f"{COMPUTE}/flavors", json=body, headers=nova(ADMIN))
    flavor = made.json()["flavor"]
    assert (flavor["ram"], flavor["vcpus"], flavor["disk"], flavor["swap"]) == (2048, 2, 0, "")
