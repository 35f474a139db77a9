"""Stop, start and reboot over HTTP: /v1 and Nova's server actions, the host's agent
played over HTTP. A stopped server keeps its device and its port's binding (the port
goes DOWN and comes back ACTIVE with the guest); Nova's views show the status, task,
vm_state and power state Nova would; a refused action is a 409 naming the state and
writes nothing; an action Nova has and pciplane does not is a 400 naming it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from net_helpers import ADMIN_H, ALPHA, NET_SPEC, flavor, get_port, port, register, rows, vlan
from net_helpers import run_agent as agent_turn
from net_helpers import server as create
from os_helpers import COMPUTE, nova
from svc_helpers import make_settings

from pciplane.api.app import create_app


@pytest.fixture
def client(db_url: str) -> Any:
    app = create_app(make_settings(db_url, device_spec=NET_SPEC))
    with TestClient(app) as test_client:
        yield test_client
    app.state.services.db.dispose()


def _active(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A server holding a GPU and an SR-IOV port on cmp1, started by its agent."""
    register(client, "cmp1", gpus=1)
    flavor(client, "g1", alias="gpu:1")
    net = vlan(client, "net1", "physnet1", 100)
    nic = port(client, net["id"], **{"binding:vnic_type": "direct"})
    server = create(client, "vm1", "g1", [{"port_id": nic["id"]}])
    (started,) = agent_turn(client, "cmp1")
    assert started["state"] == "ACTIVE", started
    assert get_port(client, nic["id"])["status"] == "ACTIVE"
    return server, get_port(client, nic["id"])


def _post(client: TestClient, server_id: str, action: str, body: object = None) -> Any:
    return client.post(f"/v1/servers/{server_id}/{action}", json=body, headers=ALPHA)


def test_stop_and_start_keep_device_and_port_binding(client: TestClient) -> None:
    server, bound = _active(client)
    stopping = _post(client, server["id"], "stop")
    assert stopping.status_code == 202, stopping.text
    assert (stopping.json()["state"], stopping.json()["task"]) == ("ACTIVE", "powering-off")
    (stopped,) = agent_turn(client, "cmp1")
    assert (stopped["state"], stopped["devices"]) == ("SHUTOFF", server["devices"])
    down = get_port(client, bound["id"])
    assert down["status"] == "DOWN"
    keys = ("binding:host_id", "binding:profile", "binding:vif_type", "device_id")
    assert {k: down[k] for k in keys} == {k: bound[k] for k in keys}

    assert _post(client, server["id"], "start").status_code == 202
    (started,) = agent_turn(client, "cmp1")
    assert (started["state"], started["devices"]) == ("ACTIVE", server["devices"])
    assert get_port(client, bound["id"])["status"] == "ACTIVE"

    rebooting = _post(client, server["id"], "reboot", {"hard": True})
    assert (rebooting.status_code, rebooting.json()["state"]) == (202, "HARD_REBOOT")
    assert agent_turn(client, "cmp1")[0]["state"] == "ACTIVE"


@pytest.mark.parametrize(
    ("action", "body", "words"),
    [
        pytest.param("start", None, "server 'vm1' is ACTIVE: cannot start it", id="start"),
        pytest.param("reboot", {"force": True}, "force", id="malformed"),
    ],
)
def test_a_refused_action_writes_nothing(
    client: TestClient, action: str, body: object, words: str
) -> None:
    server, _ = _active(client)
    before = rows(client)
    answer = _post(client, server["id"], action, body)
    assert answer.status_code in (409, 422), answer.text
    assert words in answer.text
    assert rows(client) == before


def test_another_projects_server_is_not_found(client: TestClient) -> None:
    server, _ = _active(client)
    answer = client.post(
        f"/v1/servers/{server['id']}/stop", headers={"Authorization": "Bearer tok-beta"}
    )
    assert answer.status_code == 404


def _nova_show(client: TestClient, server_id: str) -> dict[str, Any]:
    answer = client.get(f"{COMPUTE}/servers/{server_id}", headers=nova("tok-alpha"))
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()["server"]
    return shown


def _nova_action(client: TestClient, server_id: str, body: object) -> Any:
    return client.post(
        f"{COMPUTE}/servers/{server_id}/action", json=body, headers=nova("tok-alpha")
    )


STATUS = ("status", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state")


def test_nova_actions_show_what_nova_shows(client: TestClient) -> None:
    server, _ = _active(client)
    sid = server["id"]
    on, off = ("ACTIVE", None, "active", 1), ("SHUTOFF", None, "stopped", 4)
    steps = [
        ({"os-stop": None}, ("ACTIVE", "powering-off", "active", 1), off),
        ({"os-start": None}, ("SHUTOFF", "powering-on", "stopped", 4), on),
        ({"reboot": {"type": "SOFT"}}, ("REBOOT", "rebooting", "active", 1), on),
        ({"reboot": {"type": "HARD"}}, ("HARD_REBOOT", "rebooting_hard", "active", 1), on),
    ]
    for body, during, after in steps:
        answer = _nova_action(client, sid, body)
        assert (answer.status_code, answer.content) == (202, b""), answer.text
        assert tuple(_nova_show(client, sid)[k] for k in STATUS) == during
        agent_turn(client, "cmp1")
        assert tuple(_nova_show(client, sid)[k] for k in STATUS) == after


@pytest.mark.parametrize(
    ("body", "status", "fault", "words"),
    [
        pytest.param({"os-start": None}, 409, "conflictingRequest", "is ACTIVE: cannot start",
                     id="state"),
        pytest.param({"pause": None}, 400, "badRequest", "no such action: 'pause'", id="unknown"),
        pytest.param({"reboot": {"type": "COLD"}}, 400, "badRequest", "SOFT", id="reboot-type"),
        pytest.param({"os-stop": None, "os-start": None}, 400, "badRequest", "exactly one",
                     id="two"),
    ],
)  # fmt: skip
def test_nova_refusals_are_novas_shape(
    client: TestClient, body: object, status: int, fault: str, words: str
) -> None:
    server, _ = _active(client)
    before = rows(client)
    answer = _nova_action(client, server["id"], body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()[fault]["message"]
    assert rows(client) == before


def test_an_action_on_a_host_whose_agent_is_down_is_refused(client: TestClient) -> None:
    server, _ = _active(client)
    engine = client.app.state.services.db.engine  # type: ignore[attr-defined]
    import sqlalchemy as sa

    from pciplane.store.tables import hosts

    with engine.begin() as conn:
        conn.execute(sa.update(hosts).values(last_seen=0.0))
    answer = _post(client, server["id"], "stop")
    assert answer.status_code == 409 and "the agent of host cmp1 is down" in answer.text
    assert client.get(f"/v1/servers/{server['id']}", headers=ADMIN_H).json()["task"] is None
