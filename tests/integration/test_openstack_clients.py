"""The real ``openstack`` CLI and openstacksdk against a live ``pciplane serve`` with an
agent on libvirt's ``test:///`` driver: the GPU server story, in Keystone mode and without
Keystone, and the refusals the clients must show (wrong password, expired token, another
project's server, a member calling an admin call), each leaving the database as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from load_helpers import pg_database, start_api
from openstack import exceptions as sdk_exceptions
from os_stack import ADMIN_TOKEN, BOOT, HOST, USERS, Stack, service_env, start_stack

from pciplane.service.identity import IdentityService
from pciplane.service.settings import Settings

pytestmark = [
    pytest.mark.integration,
    # openstacksdk and keystoneauth warn about their own deprecations.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("openstack"))


def _gpus_free(stack: Stack) -> int:
    pools = stack.v1("GET", f"/v1/hosts/{HOST}").json()["pools"]
    return sum(p["free"] for p in pools)


#: (label, openrc flags of the operator, openrc flags of the user who boots)
MODES = [
    pytest.param("ks", ("--user", "admin"), ("--user", "alice"), id="keystone"),
    pytest.param("noauth", ("--auth", "none"), ("--auth", "none"), id="no-keystone"),
]


@pytest.mark.parametrize(("label", "operator", "user"), MODES)
def test_the_cli_boots_a_gpu_server_and_deletes_it(
    stack: Stack, label: str, operator: tuple[str, ...], user: tuple[str, ...]
) -> None:
    admin, me = stack.openrc(*operator), stack.openrc(*user)
    flavor = f"gpu.{label}"
    made = stack.openstack_json(
        admin, "flavor", "create", "--ram", "1024", "--disk", "1", "--vcpus", "2", flavor
    )
    assert made["name"] == flavor and made["os-flavor-access:is_public"] is True
    alias, quota = "pci_passthrough:alias=large_GPU:1", "quota:cpu_shares=10"
    done = stack.openstack(admin, "flavor", "set", "--property", alias, "--property", quota, flavor)
    assert done.returncode == 0, done.stderr
    done = stack.openstack(admin, "flavor", "unset", "--property", "quota:cpu_shares", flavor)
    assert done.returncode == 0, done.stderr
    shown = stack.openstack_json(admin, "flavor", "show", flavor)
    assert shown["properties"] == {"pci_passthrough:alias": "large_GPU:1"}
    free = _gpus_free(stack)

    name = f"vm-{label}"
    server = stack.openstack_json(me, "server", "create", "--flavor", flavor, "--block-device",
                                  BOOT, "--nic", "none", "--wait", name)  # fmt: skip
    assert server["status"] == "ACTIVE"
    shown = stack.openstack_json(me, "server", "show", name)
    assert (shown["status"], shown["OS-EXT-STS:power_state"]) == ("ACTIVE", 1)
    assert shown["flavor"]["original_name"] == flavor  # type: ignore[index]
    assert shown["flavor"]["extra_specs"] == {"pci_passthrough:alias": "large_GPU:1"}  # type: ignore[index]
    listed = stack.openstack_json(me, "server", "list")
    assert [(s["Name"], s["Status"]) for s in listed] == [(name, "ACTIVE")]  # type: ignore[attr-defined]
    v1 = stack.v1("GET", f"/v1/servers/{server['id']}").json()
    assert (v1["state"], v1["host"], len(v1["devices"])) == ("ACTIVE", HOST, 1)
    assert _gpus_free(stack) == free - 1

    hypervisors = stack.openstack_json(admin, "hypervisor", "list")
    assert [(h["Hypervisor Hostname"], h["State"]) for h in hypervisors] == [(HOST, "up")]  # type: ignore[attr-defined]
    host = stack.openstack_json(admin, "hypervisor", "show", HOST)
    assert (host["running_vms"], host["vcpus_used"]) == (1, 2)

    done = stack.openstack(me, "server", "delete", "--wait", name)
    assert done.returncode == 0, done.stderr
    gone = stack.openstack(me, "server", "show", name)
    assert gone.returncode == 1 and f"No Server found for {name}" in gone.stderr
    assert stack.v1("GET", f"/v1/servers/{server['id']}").json()["state"] == "DELETED"
    assert _gpus_free(stack) == free


def _connect(stack: Stack, mode: str) -> Any:
    if mode == "password":
        auth = {
            "auth_url": f"{stack.url}/identity", "username": "alice", "password": "alice-pw",
            "project_name": "alpha", "user_domain_name": "Default",
            "project_domain_name": "Default",
        }  # fmt: skip
        return openstack.connect(auth=auth, region_name="RegionOne", identity_api_version="3")
    return openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": f"{stack.url}/identity", "token": ADMIN_TOKEN},
        compute_endpoint_override=f"{stack.url}/compute/v2.1",
    )


@pytest.mark.parametrize("mode", ["password", "admin_token"])
def test_openstacksdk_boots_a_gpu_server_and_deletes_it(stack: Stack, mode: str) -> None:
    operator = _connect(stack, "admin_token")
    flavor = operator.compute.create_flavor(name=f"sdk.{mode}", ram=512, vcpus=1, disk=0)
    operator.compute.create_flavor_extra_specs(flavor, {"pci_passthrough:alias": "large_GPU:1"})
    got = operator.compute.get_flavor(flavor.id, get_extra_specs=True)
    assert got.extra_specs == {"pci_passthrough:alias": "large_GPU:1"}

    conn = _connect(stack, mode)
    server = conn.compute.create_server(name=f"sdk-{mode}", flavor_id=flavor.id, networks="none")
    server = conn.compute.wait_for_server(server, status="ACTIVE", interval=0.2, wait=60)
    assert server.flavor.original_name == f"sdk.{mode}"
    found = list(conn.compute.servers(details=True, name=f"sdk-{mode}"))
    assert [s.id for s in found] == [server.id]
    (host,) = operator.compute.hypervisors(details=True)
    assert (host.name, host.running_vms) == (HOST, 1)

    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.2, wait=60)
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.compute.get_server(server.id)
    operator.compute.delete_flavor(flavor)


# --- refusals --------------------------------------------------------------------------


def _expired_token(stack: Stack) -> str:
    settings = Settings.model_validate(
        {"admin_token": ADMIN_TOKEN, "keystone_users": USERS, "db_url": "sqlite://"}
    )
    past = time.time() - 2 * settings.token_expiration
    identity = IdentityService(settings)
    return identity.authenticate(user="alice", password="alice-pw", project="alpha", now=past).id


@pytest.fixture(scope="module")
def alices_server(stack: Stack) -> str:
    """A server of project alpha that others try to reach."""
    operator = _connect(stack, "admin_token")
    flavor = operator.compute.create_flavor(name="plain", ram=256, vcpus=1, disk=0)
    server = _connect(stack, "password").compute.create_server(
        name="alice-vm", flavor_id=flavor.id, networks="none"
    )
    return str(server.id)


def _token_rc(stack: Stack, token: str) -> dict[str, str]:
    rc = stack.openrc("--auth", "token")
    rc["OS_TOKEN"] = token
    return rc


@pytest.mark.parametrize(
    ("who", "command", "message"),
    [
        pytest.param(lambda s: {**s.openrc("--user", "alice"), "OS_PASSWORD": "wrong"},
                     ["server", "list"], "the user name or the password is wrong (HTTP 401)",
                     id="wrong-password"),
        pytest.param(lambda s: _token_rc(s, _expired_token(s)), ["server", "list"],
                     "the token expired at", id="expired-token"),
        pytest.param(lambda s: s.openrc("--user", "bob"), ["server", "show", "{server}"],
                     "No Server found for {server}", id="another-projects-server"),
        pytest.param(lambda s: s.openrc("--user", "bob"), ["server", "delete", "{server}"],
                     "No Server found for {server}", id="another-projects-delete"),
        pytest.param(lambda s: s.openrc("--user", "alice"),
                     ["flavor", "create", "--ram", "1", "--disk", "0", "--vcpus", "1", "mine"],
                     "ForbiddenException: 403", id="member-creates-a-flavor"),
        pytest.param(lambda s: s.openrc("--user", "alice"), ["hypervisor", "list"],
                     "ForbiddenException: 403", id="member-lists-hypervisors"),
    ],
)  # fmt: skip
def test_the_cli_shows_each_refusal_and_nothing_changes(
    stack: Stack, alices_server: str, who: Any, command: list[str], message: str
) -> None:
    rc = who(stack)
    before = stack.rows()
    done = stack.openstack(rc, *(part.format(server=alices_server) for part in command))
    assert done.returncode == 1
    assert message.format(server=alices_server) in done.stderr
    assert stack.rows() == before


def test_openstacksdk_sees_each_refusal_in_novas_and_keystones_shapes(
    stack: Stack, alices_server: str
) -> None:
    before = stack.rows()
    wrong = openstack.connect(
        auth={"auth_url": f"{stack.url}/identity", "username": "alice", "password": "no",
              "project_name": "alpha", "user_domain_name": "Default",
              "project_domain_name": "Default"},
        region_name="RegionOne",
    )  # fmt: skip
    with pytest.raises(sdk_exceptions.SDKException) as unauthorized:
        wrong.authorize()  # keystoneauth's Unauthorized, as the SDK re-raises it
    assert "password is wrong (HTTP 401)" in str(unauthorized.value)
    bob = openstack.connect(
        auth={"auth_url": f"{stack.url}/identity", "username": "bob", "password": "bob-pw",
              "project_name": "beta", "user_domain_name": "Default",
              "project_domain_name": "Default"},
        region_name="RegionOne",
    )  # fmt: skip
    with pytest.raises(sdk_exceptions.NotFoundException) as missing:
        bob.compute.get_server(alices_server)
    assert missing.value.response.json()["itemNotFound"]["code"] == 404
    with pytest.raises(sdk_exceptions.ForbiddenException) as forbidden:
        bob.compute.create_flavor(name="bobs", ram=1, vcpus=1, disk=0)
    assert "admin role" in forbidden.value.response.json()["forbidden"]["message"]
    expired = openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": f"{stack.url}/identity", "token": _expired_token(stack)},
        compute_endpoint_override=f"{stack.url}/compute/v2.1",
    )
    with pytest.raises(sdk_exceptions.HttpException) as refused:
        list(expired.compute.servers())
    assert refused.value.status_code == 401
    assert "expired" in refused.value.response.json()["error"]["message"]
    assert stack.rows() == before


# --- tokens across processes -------------------------------------------------------------


def test_a_token_from_one_api_process_works_on_another(tmp_path: Path) -> None:
    """Tokens are signed, not stored: two API processes on one PostgreSQL database (and
    the same settings) each accept the other's tokens, on Nova's API and on /v1."""
    with pg_database() as db_url:
        env = service_env(db_url)
        first = start_api(db_url, env, tmp_path / "a.log")
        try:
            second = start_api(db_url, env, tmp_path / "b.log")
            try:
                user = {"name": "alice", "domain": {"name": "Default"}, "password": "alice-pw"}
                body = {"auth": {
                    "identity": {"methods": ["password"], "password": {"user": user}},
                    "scope": {"project": {"name": "alpha", "domain": {"name": "Default"}}},
                }}  # fmt: skip
                issued = httpx.post(f"{first.url}/identity/v3/auth/tokens", json=body, timeout=10)
                token = issued.headers["x-subject-token"]
                nova = httpx.get(
                    f"{second.url}/compute/v2.1/servers", headers={"X-Auth-Token": token}
                )
                v1 = httpx.get(
                    f"{second.url}/v1/servers", headers={"Authorization": f"Bearer {token}"}
                )
                assert (nova.status_code, nova.json()) == (200, {"servers": []})
                assert (v1.status_code, v1.json()) == (200, {"servers": []})
            finally:
                second.stop()
        finally:
            first.stop()
