"""Malformed requests get a 4xx with a clear, stable error, and change nothing."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, GPU_ALIAS, auth, host_body

ADMIN_H = auth(ADMIN)


def _state(client: TestClient) -> object:
    """Everything a bad request could have changed."""
    return (
        client.get("/v1/export", headers=ADMIN_H).json(),
        client.get("/v1/flavors", headers=ADMIN_H).json(),
        client.get("/v1/servers?all=true", headers=ADMIN_H).json(),
    )


@pytest.fixture
def seeded(app_client: TestClient) -> TestClient:
    app_client.put("/v1/hosts/cmp1", json=host_body("cmp1"), headers=auth("tok-cmp1"))
    app_client.post("/v1/aliases", json=GPU_ALIAS, headers=ADMIN_H)
    body = {
        "name": "m1.gpu",
        "vcpus": 2,
        "ram": 2048,
        "extra_specs": {"pci_passthrough:alias": "large_GPU:1"},
    }
    app_client.post("/v1/flavors", json=body, headers=ADMIN_H)
    return app_client


#: Doors an operator found broken (issue: "every door"), each refused with a 4xx naming
#: the field, on SQLite and PostgreSQL alike.
DOORS = [
    pytest.param("PATCH", "/v1/flavors/m1.gpu", {"set": {"quota:cpu": "a\x00b"}}, 422,
                 "pciplane.request.malformed", "NUL", id="nul-in-extra-spec"),
    pytest.param("PATCH", "/v1/flavors/m1.gpu", b'{"set": {"quota:\\ud800": "x"}}', 422,
                 "pciplane.request.malformed", "unicode", id="lone-surrogate-in-key"),
    pytest.param("POST", "/v1/servers", b'{"name": "vm1", "flavor": "m1.\\ud800"}', 422,
                 "pciplane.request.malformed", "flavor", id="lone-surrogate-in-name"),
    pytest.param("GET", "/v1/flavors/m1%00gpu", None, 422, "pciplane.request.malformed",
                 "name", id="nul-in-path"),
    pytest.param("DELETE", "/v1/aliases/a%00b", None, 422, "pciplane.request.malformed",
                 "name", id="nul-in-alias-path"),
    pytest.param("POST", "/v1/flavors", {"name": "m3", "vcpus": 1, "ram": 2**31}, 422,
                 "pciplane.request.malformed", "ram", id="ram-above-int32"),
    pytest.param("POST", "/v1/flavors", {"name": "m3", "vcpus": True, "ram": 1}, 422,
                 "pciplane.request.malformed", "vcpus", id="boolean-is-not-an-integer"),
    pytest.param("POST", "/v1/fit", {"flavor": "m1.gpu", "numa_cells": [-1]}, 422,
                 "pciplane.request.malformed", "numa_cells", id="fit-negative-numa-cell"),
    pytest.param("PATCH", "/v1/flavors/m1.gpu",
                 {"set": {f"quota:k{i}": "v" for i in range(65)}}, 400,
                 "pciplane.request.invalid", "at most 64", id="too-many-extra-specs"),
    pytest.param("PATCH", "/v1/flavors/m1.gpu", {"set": {"quota:k": "v" * 1025}}, 422,
                 "pciplane.request.malformed", "1024", id="extra-spec-value-too-long"),
    pytest.param("PATCH", "/v1/flavors/m1.gpu",
                 {"set": {"pci_passthrough:aliases": "large_GPU:1"}}, 400,
                 "pciplane.request.invalid", "did you mean 'pci_passthrough:alias'",
                 id="extra-spec-typo"),
    pytest.param("POST", "/v1/flavors",
                 {"name": "m3", "vcpus": 1, "ram": 1, "extra_specs": {"hw:cpu_polcy": "x"}},
                 400, "pciplane.request.invalid", "hw:cpu_polcy", id="unknown-hw-key"),
    pytest.param("POST", "/v1/aliases", {**GPU_ALIAS, "name": "gpu:big"}, 400,
                 "pciplane.alias.invalid", "':'", id="alias-name-with-colon"),
    pytest.param("POST", "/v1/aliases", {**GPU_ALIAS, "name": "a,b"}, 400,
                 "pciplane.alias.invalid", "','", id="alias-name-with-comma"),
    pytest.param("POST", "/v1/aliases", GPU_ALIAS, 400, "pciplane.alias.invalid",
                 "exists already", id="alias-exact-duplicate"),
    pytest.param("DELETE", "/v1/aliases/large_GPU", None, 409, "pciplane.in_use",
                 "m1.gpu", id="alias-used-by-a-flavor"),
    pytest.param("PUT", "/v1/hosts/cmp1", {}, 422, "pciplane.request.malformed", "devices",
                 id="host-report-without-devices"),
    pytest.param("PUT", "/v1/hosts/cmp1",
                 {"devices": [{**host_body("cmp1")["devices"][0], "numa_node": 2**40}]},  # type: ignore[index]
                 400, "pciplane.snapshot.invalid", "numa_node", id="numa-node-out-of-range"),
]  # fmt: skip

BAD = [
    *DOORS,
    pytest.param(
        "POST",
        "/v1/servers",
        b'{"name": "vm1", "flavor":',
        400,
        "pciplane.request.json",
        "line 1, column 26",
        id="bad-json",
    ),
    pytest.param(
        "POST",
        "/v1/servers",
        {"name": "vm1", "flavor": "m9.nope"},
        404,
        "pciplane.not_found",
        "m9.nope",
        id="unknown-flavor",
    ),
    pytest.param(
        "POST",
        "/v1/servers",
        {"name": "vm/1", "flavor": "m1.gpu"},
        422,
        "pciplane.request.malformed",
        "name",
        id="bad-server-name",
    ),
    pytest.param(
        "POST",
        "/v1/servers",
        {"name": "vm1"},
        422,
        "pciplane.request.malformed",
        "flavor",
        id="missing-flavor",
    ),
    pytest.param(
        "PATCH",
        "/v1/flavors/m1.gpu",
        {"set": {"pci_passthrough:alias": "nope:1"}},
        400,
        "pciplane.alias.unknown",
        "nope",
        id="extra-spec-unknown-alias",
    ),
    pytest.param(
        "PATCH",
        "/v1/flavors/m1.gpu",
        {"set": {"pci_passthrough:alias": "large_GPU:two"}},
        400,
        "pciplane.request.invalid",
        "two",
        id="extra-spec-bad-count",
    ),
    pytest.param(
        "PATCH",
        "/v1/flavors/m1.gpu",
        {"set": {"hw:pci_numa_affinity_policy": "sometimes"}},
        400,
        "pciplane.request.invalid",
        "sometimes",
        id="extra-spec-bad-policy",
    ),
    pytest.param(
        "POST",
        "/v1/flavors",
        {"name": "m2", "vcpus": 0, "ram": 1},
        422,
        "pciplane.request.malformed",
        "vcpus",
        id="flavor-zero-vcpus",
    ),
    pytest.param(
        "POST",
        "/v1/flavors",
        {"name": "m1.gpu", "vcpus": 1, "ram": 1},
        409,
        "pciplane.already_exists",
        "already exists",
        id="flavor-duplicate",
    ),
    pytest.param(
        "POST",
        "/v1/aliases",
        {"name": "x", "device_type": "type-XYZ"},
        400,
        "pciplane.alias.invalid",
        "type-XYZ",
        id="alias-bad-device-type",
    ),
    pytest.param(
        "POST",
        "/v1/aliases",
        {**GPU_ALIAS, "numa_policy": "required"},
        400,
        "pciplane.alias.invalid",
        "numa_policy",
        id="alias-conflicting-entry",
    ),
    pytest.param(
        "PUT",
        "/v1/hosts/cmp1",
        {"devices": [{"address": "0000:zz:00.0", "vendor_id": "10de", "product_id": "1db4"}]},
        400,
        "pciplane.snapshot.invalid",
        "0000:zz:00.0",
        id="host-bad-address",
    ),
    pytest.param(
        "PUT",
        "/v1/hosts/cmp1",
        {"name": "cmp2", "devices": []},
        400,
        "pciplane.snapshot.invalid",
        "cmp2",
        id="host-name-mismatch",
    ),
    pytest.param(
        "POST",
        "/v1/servers",
        {"name": "vm1", "flavor": "m1.gpu", "pad": "x" * 300_000},
        413,
        "pciplane.request.too_large",
        "bytes",
        id="huge-body",
    ),
    pytest.param(
        "GET", "/v1/nowhere", None, 404, "pciplane.route.not_found", "Not Found", id="unknown-route"
    ),
    pytest.param(
        "PUT",
        "/v1/servers",
        {},
        405,
        "pciplane.route.method_not_allowed",
        "Method",
        id="wrong-method",
    ),
    pytest.param(
        "GET", "/v1/servers/0000", None, 404, "pciplane.not_found", "0000", id="unknown-server"
    ),
    pytest.param(
        "POST", "/v1/work/999", {"ok": True}, 404, "pciplane.not_found", "999", id="unknown-work"
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "mentions"), BAD)
def test_bad_request_is_refused_and_changes_nothing(
    seeded: TestClient,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
    mentions: str,
) -> None:
    before = _state(seeded)
    content = body if isinstance(body, bytes) else None
    payload = None if isinstance(body, bytes) or body is None else body
    headers = {**ADMIN_H, "Content-Type": "application/json"}
    if path.startswith("/v1/hosts/") or path.startswith("/v1/work/"):
        headers = {**auth("tok-cmp1"), "Content-Type": "application/json"}
    response = seeded.request(method, path, content=content, json=payload, headers=headers)
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == code
    assert error["status"] == str(status)
    assert error["title"]
    assert mentions in error["detail"]
    assert _state(seeded) == before


def test_huge_body_without_content_length_is_refused(seeded: TestClient) -> None:
    before = _state(seeded)

    def chunks() -> object:
        yield b'{"name": "vm1", "flavor": "m1.gpu", "pad": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    response = seeded.post(
        "/v1/servers",
        content=chunks(),  # type: ignore[arg-type]
        headers={**ADMIN_H, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert _state(seeded) == before


def test_bad_alias_file_reload_keeps_aliases(seeded: TestClient, tmp_path: object) -> None:
    before = _state(seeded)
    response = seeded.post("/v1/aliases/reload", headers=ADMIN_H)
    assert response.status_code == 400
    assert "alias_file" in response.json()["errors"][0]["detail"]
    assert _state(seeded) == before
    assert json.dumps(before)
