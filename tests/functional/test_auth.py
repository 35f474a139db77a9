"""Who may do what: the admin, a project, a host's agent, a stranger, nobody.

Every refused call must answer 401/403 (or 404 for another project's server) and leave
the state exactly as it was.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, GPU_ALIAS, auth, host_body

NOBODY: dict[str, str] = {}
STRANGER = auth("not-a-token")
ADMIN_H = auth(ADMIN)
ALPHA = auth("tok-alpha")
BETA = auth("tok-beta")
CMP1 = auth("tok-cmp1")
CMP2 = auth("tok-cmp2")
BASIC = {"Authorization": "Basic YWRtaW46YWRtaW4="}


@pytest.fixture
def world(app_client: TestClient) -> tuple[TestClient, str]:
    """cmp1 and cmp2 registered, one alias, one flavor, and alpha's server vm1 on cmp1."""
    c = app_client
    c.put("/v1/hosts/cmp1", json=host_body("cmp1"), headers=CMP1)
    c.put("/v1/hosts/cmp2", json=host_body("cmp2", gpus=0), headers=CMP2)
    c.post("/v1/aliases", json=GPU_ALIAS, headers=ADMIN_H)
    c.post(
        "/v1/flavors",
        json={
            "name": "m1.gpu",
            "vcpus": 1,
            "ram": 512,
            "extra_specs": {"pci_passthrough:alias": "large_GPU:1"},
        },
        headers=ADMIN_H,
    )
    server = c.post("/v1/servers", json={"name": "vm1", "flavor": "m1.gpu"}, headers=ALPHA)
    return c, server.json()["id"]


def _state(c: TestClient) -> object:
    return (
        c.get("/v1/export", headers=ADMIN_H).json(),
        c.get("/v1/flavors", headers=ADMIN_H).json(),
        c.get("/v1/aliases", headers=ADMIN_H).json(),
        c.get("/v1/servers?all=true", headers=ADMIN_H).json(),
    )


SERVER = "{server}"
FLAVOR = {"name": "m2", "vcpus": 1, "ram": 1}

MATRIX = [
    # (method, path, body, who, expected status)
    pytest.param("GET", "/v1/hosts", None, NOBODY, 401, id="hosts-no-token"),
    pytest.param("GET", "/v1/hosts", None, STRANGER, 401, id="hosts-wrong-token"),
    pytest.param("GET", "/v1/hosts", None, BASIC, 401, id="hosts-basic-scheme"),
    pytest.param("GET", "/v1/hosts", None, ALPHA, 403, id="hosts-project"),
    pytest.param("GET", "/v1/hosts", None, CMP1, 403, id="hosts-agent"),
    pytest.param("GET", "/v1/hosts", None, ADMIN_H, 200, id="hosts-admin"),
    pytest.param("GET", "/v1/export", None, ALPHA, 403, id="export-project"),
    pytest.param("POST", "/v1/flavors", FLAVOR, ALPHA, 403, id="flavor-create-project"),
    pytest.param("POST", "/v1/flavors", FLAVOR, CMP1, 403, id="flavor-create-agent"),
    pytest.param("POST", "/v1/flavors", FLAVOR, NOBODY, 401, id="flavor-create-nobody"),
    pytest.param("GET", "/v1/flavors", None, ALPHA, 200, id="flavor-list-project"),
    pytest.param(
        "POST",
        "/v1/aliases",
        {"name": "x", "vendor_id": "8086"},
        BETA,
        403,
        id="alias-create-project",
    ),
    pytest.param("DELETE", "/v1/aliases/large_GPU", None, CMP1, 403, id="alias-delete-agent"),
    pytest.param("POST", "/v1/fit", {"flavor": "m1.gpu"}, ALPHA, 403, id="fit-project"),
    pytest.param("GET", f"/v1/servers/{SERVER}", None, ALPHA, 200, id="server-own"),
    pytest.param("GET", f"/v1/servers/{SERVER}", None, BETA, 404, id="server-other-project"),
    pytest.param(
        "DELETE", f"/v1/servers/{SERVER}", None, BETA, 404, id="server-delete-other-project"
    ),
    pytest.param("GET", f"/v1/servers/{SERVER}", None, CMP1, 403, id="server-agent"),
    pytest.param("GET", f"/v1/servers/{SERVER}", None, ADMIN_H, 200, id="server-admin"),
    pytest.param(
        "POST",
        "/v1/servers",
        {"name": "x", "flavor": "m1.gpu"},
        CMP1,
        403,
        id="server-create-agent",
    ),
    pytest.param(
        "POST",
        "/v1/servers",
        {"name": "x", "flavor": "m1.gpu"},
        NOBODY,
        401,
        id="server-create-nobody",
    ),
    pytest.param(
        "PUT", "/v1/hosts/cmp1", host_body("cmp1", gpus=1), CMP2, 403, id="register-other-host"
    ),
    pytest.param(
        "PUT", "/v1/hosts/cmp1", host_body("cmp1", gpus=1), ALPHA, 403, id="register-project"
    ),
    pytest.param("GET", "/v1/hosts/cmp1/work", None, CMP2, 403, id="work-other-host"),
    pytest.param("GET", "/v1/hosts/cmp1/work", None, ALPHA, 403, id="work-project"),
    pytest.param("GET", "/v1/hosts/cmp1", None, CMP1, 200, id="host-show-own-agent"),
    pytest.param("GET", "/v1/hosts/cmp1", None, CMP2, 403, id="host-show-other-agent"),
    pytest.param("GET", "/healthz", None, NOBODY, 200, id="healthz-open"),
    pytest.param("GET", "/metrics", None, NOBODY, 200, id="metrics-open"),
]


@pytest.mark.parametrize(("method", "path", "body", "who", "status"), MATRIX)
def test_access(
    world: tuple[TestClient, str],
    method: str,
    path: str,
    body: object,
    who: dict[str, str],
    status: int,
) -> None:
    client, server_id = world
    before = _state(client)
    response = client.request(method, path.replace(SERVER, server_id), json=body, headers=who)
    assert response.status_code == status, response.text
    if status >= 400:
        (error,) = response.json()["errors"]
        assert error["code"].startswith("pciplane.")
        assert _state(client) == before
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_agent_may_not_report_work_of_another_host(world: tuple[TestClient, str]) -> None:
    client, _ = world
    (item,) = client.get("/v1/hosts/cmp1/work", headers=CMP1).json()["work"]
    before = _state(client)
    refused = client.post(f"/v1/work/{item['id']}", json={"ok": True}, headers=CMP2)
    assert refused.status_code == 403
    assert _state(client) == before


def test_project_lists_only_its_own_servers(world: tuple[TestClient, str]) -> None:
    client, server_id = world
    client.post("/v1/servers", json={"name": "vm2", "flavor": "m1.gpu"}, headers=BETA)
    mine = [s["id"] for s in client.get("/v1/servers", headers=ALPHA).json()["servers"]]
    theirs = [s["name"] for s in client.get("/v1/servers", headers=BETA).json()["servers"]]
    everyone = client.get("/v1/servers", headers=ADMIN_H).json()["servers"]
    assert (mine, theirs, len(everyone)) == ([server_id], ["vm2"], 2)
