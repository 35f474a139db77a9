"""What the real ``openstack`` CLI and openstacksdk show when pciplane says no, and that
nothing changed: a wrong password, an expired token, another project's server and port, a
member calling an admin call (Nova's and Neutron's provider attributes), and a hot plug on
libvirt's ``test:///`` driver, which cannot do one. Each answer is in the shape of the API
it came from (Nova's, Neutron's, Keystone's), with the status the clients map to their
exceptions. Tokens signed by one API process work on another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from load_helpers import pg_database, start_api
from openstack import exceptions as sdk_exceptions
from os_stack import ADMIN_TOKEN, HOST, USERS, Stack, service_env, start_stack

from pciplane.service.identity import IdentityService
from pciplane.service.settings import Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("refusals"))


@dataclass(frozen=True)
class Alices:
    """Project alpha's things that others try to reach: an ACTIVE server on ``test:///``
    (``cmp1``) and a ``normal`` port on a shared VLAN network."""

    server: str
    port: str
    network: str


@pytest.fixture(scope="module")
def alices(stack: Stack) -> Alices:
    operator = stack.connect("admin_token")
    flavor = operator.compute.create_flavor(name="plain", ram=256, vcpus=1, disk=0)
    network = operator.network.create_network(
        name="shared", provider_network_type="vlan", provider_physical_network="physnet1",
        provider_segmentation_id=400, is_shared=True,
    )  # fmt: skip
    alice = stack.connect("password")
    port = alice.network.create_port(network_id=network.id, name="p-alice")
    server = alice.compute.create_server(name="alice-vm", flavor_id=flavor.id, networks="none")
    server = alice.compute.wait_for_server(server, status="ACTIVE", interval=0.2, wait=60)
    assert server.compute_host in (None, HOST)  # a member does not see the host; /v1 does
    assert stack.v1("GET", f"/v1/servers/{server.id}").json()["host"] == HOST
    return Alices(server=str(server.id), port=str(port.id), network=str(network.id))


def _expired_token(stack: Stack) -> str:
    settings = Settings.model_validate(
        {"admin_token": ADMIN_TOKEN, "keystone_users": USERS, "db_url": "sqlite://"}
    )
    past = time.time() - 2 * settings.token_expiration
    identity = IdentityService(settings)
    return identity.authenticate(user="alice", password="alice-pw", project="alpha", now=past).id


def _token_rc(stack: Stack, token: str) -> dict[str, str]:
    rc = stack.openrc("--auth", "token")
    rc["OS_TOKEN"] = token
    return rc


def _alice(stack: Stack) -> dict[str, str]:
    return stack.openrc("--user", "alice")


def _bob(stack: Stack) -> dict[str, str]:
    return stack.openrc("--user", "bob")


PROVIDER = ["--provider-network-type", "vlan", "--provider-physical-network", "physnet1",
            "--provider-segment", "300"]  # fmt: skip


@pytest.mark.parametrize(
    ("who", "command", "message"),
    [
        pytest.param(lambda s: {**_alice(s), "OS_PASSWORD": "wrong"}, ["server", "list"],
                     "the user name or the password is wrong (HTTP 401)", id="wrong-password"),
        pytest.param(lambda s: _token_rc(s, _expired_token(s)), ["server", "list"],
                     "the token expired at", id="expired-token"),
        pytest.param(_bob, ["server", "show", "{server}"], "No Server found for {server}",
                     id="another-projects-server"),
        pytest.param(_bob, ["server", "delete", "{server}"], "No Server found for {server}",
                     id="another-projects-delete"),
        pytest.param(_bob, ["port", "show", "{port}"], "No Port found for {port}",
                     id="another-projects-port"),
        pytest.param(_bob, ["port", "delete", "{port}"], "No Port found for {port}",
                     id="another-projects-port-delete"),
        pytest.param(_bob, ["port", "set", "--name", "mine", "{port}"],
                     "No Port found for {port}", id="another-projects-port-set"),
        pytest.param(_bob, ["server", "add", "port", "{server}", "{port}"],
                     "No Server found for {server}", id="another-projects-add-port"),
        pytest.param(_alice, ["flavor", "create", "--ram", "1", "--disk", "0", "--vcpus", "1",
                              "mine"], "ForbiddenException: 403", id="member-creates-a-flavor"),
        pytest.param(_alice, ["hypervisor", "list"], "ForbiddenException: 403",
                     id="member-lists-hypervisors"),
        pytest.param(_alice, ["network", "create", *PROVIDER, "mine"],
                     "ForbiddenException: 403: Client Error for url: {url}/v2.0/networks, the "
                     "provider attributes and segments are the admin's to set",
                     id="member-creates-a-provider-network"),
        pytest.param(_alice, ["port", "create", "--network", "{network}", "--host", HOST, "p"],
                     "ForbiddenException: 403", id="member-binds-a-port-to-a-host"),
        pytest.param(_bob, ["server", "create", "--flavor", "plain", "--nic",
                            "port-id={port}", "--block-device",
                            "uuid=6c1c1c5e-8a8c-4a55-9a57-6d3c6b9a1f00,source_type=image,"
                            "destination_type=local,boot_index=0", "vm"],
                     "No Port found for {port}", id="boot-with-another-projects-port"),
    ],
)  # fmt: skip
def test_the_cli_shows_each_refusal_and_nothing_changes(
    stack: Stack, alices: Alices, who: Any, command: list[str], message: str
) -> None:
    rc = who(stack)
    names = {"server": alices.server, "port": alices.port, "network": alices.network}
    before = stack.rows()
    done = stack.openstack(rc, *(part.format(**names) for part in command))
    assert done.returncode == 1
    assert message.format(url=stack.url, **names) in done.stderr
    assert stack.rows() == before


def test_the_test_driver_refuses_a_hot_plug_and_nothing_changes(
    stack: Stack, alices: Alices
) -> None:
    """libvirt's ``test:///`` cannot attach a device: Nova's 400 (AttachInterfaceNotSupported),
    the port as it was, the server's devices and claims as they were."""
    before = stack.state()
    done = stack.openstack(_alice(stack), "server", "add", "port", alices.server, alices.port)
    assert done.returncode == 1
    assert "BadRequestException: 400" in done.stderr
    assert "cannot add port 'p-alice' to server 'alice-vm'" in done.stderr
    assert "does not support it" in done.stderr
    assert stack.state() == before
    port = stack.openstack_json(_alice(stack), "port", "show", alices.port)
    assert (port["binding_vif_type"], port["status"], port["device_id"]) == ("unbound", "DOWN", "")
    with pytest.raises(sdk_exceptions.BadRequestException) as refused:
        stack.connect("password").compute.create_server_interface(
            alices.server, port_id=alices.port
        )
    assert "does not support it" in refused.value.response.json()["badRequest"]["message"]
    assert stack.state() == before


def test_openstacksdk_sees_each_refusal_in_each_apis_shape(stack: Stack, alices: Alices) -> None:
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
    bob = stack.connect("password", "bob")
    with pytest.raises(sdk_exceptions.NotFoundException) as missing:
        bob.compute.get_server(alices.server)
    assert missing.value.response.json()["itemNotFound"]["code"] == 404
    with pytest.raises(sdk_exceptions.ForbiddenException) as forbidden:
        bob.compute.create_flavor(name="bobs", ram=1, vcpus=1, disk=0)
    assert "admin role" in forbidden.value.response.json()["forbidden"]["message"]
    with pytest.raises(sdk_exceptions.NotFoundException) as no_port:
        bob.network.get_port(alices.port)
    assert no_port.value.response.json()["NeutronError"]["type"] == "NotFound"
    with pytest.raises(sdk_exceptions.NotFoundException):
        bob.network.delete_port(alices.port, ignore_missing=False)
    with pytest.raises(sdk_exceptions.ForbiddenException) as provider:
        bob.network.create_network(name="bobs", provider_network_type="flat",
                                   provider_physical_network="physnet2")  # fmt: skip
    error = provider.value.response.json()["NeutronError"]
    assert (error["type"], error["detail"]) == ("Forbidden", "")
    assert "admin's to set" in error["message"]
    expired = openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": f"{stack.url}/identity", "token": _expired_token(stack)},
        compute_endpoint_override=f"{stack.url}/compute/v2.1",
        network_endpoint_override=stack.url,
    )
    for call in (lambda: list(expired.compute.servers()), lambda: list(expired.network.ports())):
        with pytest.raises(sdk_exceptions.HttpException) as refused:
            call()
        assert refused.value.status_code == 401
        assert "expired" in refused.value.response.json()["error"]["message"]
    assert stack.rows() == before


# --- tokens across processes -------------------------------------------------------------


def test_a_token_from_one_api_process_works_on_another(tmp_path: Path) -> None:
    """Tokens are signed, not stored: two API processes on one PostgreSQL database (and
    the same settings) each accept the other's tokens, on Nova's and Neutron's APIs and on
    /v1."""
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
                keystone = {"X-Auth-Token": token}
                nova = httpx.get(f"{second.url}/compute/v2.1/servers", headers=keystone)
                neutron = httpx.get(f"{second.url}/v2.0/ports", headers=keystone)
                v1 = httpx.get(
                    f"{second.url}/v1/servers", headers={"Authorization": f"Bearer {token}"}
                )
                assert (nova.status_code, nova.json()) == (200, {"servers": []})
                assert (neutron.status_code, neutron.json()) == (200, {"ports": []})
                assert (v1.status_code, v1.json()) == (200, {"servers": []})
            finally:
                second.stop()
        finally:
            first.stop()
