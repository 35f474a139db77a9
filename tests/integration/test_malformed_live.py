"""Malformed requests to a live API process: a 4xx in the errors shape, and no change.

tests/functional/test_malformed.py covers the common cases in-process and compares
what the API shows. These go through a real uvicorn process on SQLite and PostgreSQL,
cover what that file does not (wrong JSON types, bodies that are JSON but not objects,
deep nesting, bytes that are not UTF-8, bad extra specs on create, numbers too big for
the database, megabytes streamed without a length), and compare every row of every
table before and after, so a stray generation bump or work item counts as a change.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from load_helpers import (
    ADMIN,
    FLAVOR,
    GPU_ALIAS,
    PROJECT_TOKEN,
    ApiProcess,
    agent_token,
    auth,
    db_state,
    gpu,
    host_body,
    pg_database,
    service_env,
    start_api,
)

pytestmark = pytest.mark.integration

HOST = "bad1"
JSON_CT = {"Content-Type": "application/json"}


def _flavor(**extra_specs: object) -> bytes:
    return json.dumps({"name": "f2", "vcpus": 1, "ram": 1, "extra_specs": extra_specs}).encode()


def _host(**fields: object) -> bytes:
    return json.dumps({**host_body(HOST, 2), **fields}).encode()


def _device(**fields: object) -> bytes:
    return _host(devices=[{**gpu("0000:10:00.0", 0), **fields}])


#: (method, path, raw body, who, status, code, what the detail mentions)
BAD = [
    pytest.param("POST", "/v1/servers", b"[]", "user", 422, "pciplane.request.malformed",
                 "dictionary", id="json-array-not-object"),
    pytest.param("POST", "/v1/servers", b"null", "user", 422, "pciplane.request.malformed",
                 "dictionary", id="json-null"),
    pytest.param("POST", "/v1/aliases", b'"gpu"', "admin", 422, "pciplane.request.malformed",
                 "dictionary", id="alias-json-string"),
    pytest.param("POST", "/v1/servers", b'{"name": "\xc3\x28", "flavor": "g1"}', "user",
                 400, "pciplane.request.json", "not UTF-8", id="not-utf8"),
    pytest.param("POST", "/v1/servers", b"[" * 20000 + b"]" * 20000, "user", 400,
                 "pciplane.request.json", "nested too deeply", id="deeply-nested-json"),
    pytest.param("POST", "/v1/servers", b'{"name": 123, "flavor": "g1"}', "user", 422,
                 "pciplane.request.malformed", "name", id="server-name-number"),
    pytest.param("POST", "/v1/servers", b'{"name": "a", "flavor": "g1", "host": "bad1"}',
                 "user", 422, "pciplane.request.malformed", "host", id="server-unknown-field"),
    pytest.param("POST", "/v1/flavors", b'{"name": "f2", "vcpus": "four", "ram": 1}', "admin",
                 422, "pciplane.request.malformed", "vcpus", id="flavor-vcpus-string"),
    pytest.param("POST", "/v1/flavors", b'{"name": "f2", "vcpus": 1.5, "ram": 1}', "admin",
                 422, "pciplane.request.malformed", "vcpus", id="flavor-vcpus-fraction"),
    pytest.param("POST", "/v1/flavors", b'{"name": "f2", "vcpus": 1, "ram": NaN}', "admin",
                 422, "pciplane.request.malformed", "ram", id="flavor-ram-nan"),
    pytest.param("POST", "/v1/flavors", b'{"name": "f2", "vcpus": 99999999999999999999, '
                 b'"ram": 1}', "admin", 422, "pciplane.request.malformed", "vcpus",
                 id="flavor-vcpus-huge"),
    pytest.param("POST", "/v1/flavors", _flavor(**{"pci_passthrough:alias": 1}), "admin", 422,
                 "pciplane.request.malformed", "pci_passthrough:alias", id="extra-spec-number"),
    pytest.param("POST", "/v1/flavors", _flavor(**{"pci_passthrough:alias": "gpu:0"}), "admin",
                 400, "pciplane.request.invalid", "at least 1", id="extra-spec-count-zero"),
    pytest.param("POST", "/v1/flavors", _flavor(**{"pci_passthrough:alias": "gpu:-1"}),
                 "admin", 400, "pciplane.request.invalid", "gpu:-1", id="extra-spec-negative"),
    pytest.param("POST", "/v1/flavors", _flavor(**{"pci_passthrough:alias": "gpu:1,"}), "admin",
                 400, "pciplane.request.invalid", "name:count", id="extra-spec-trailing-comma"),
    pytest.param("POST", "/v1/flavors", _flavor(**{"pci_passthrough:alias": "gpu"}), "admin",
                 400, "pciplane.request.invalid", "name:count", id="extra-spec-no-count"),
    pytest.param("POST", "/v1/flavors", _flavor(**{"pci_passthrough:alias": "tpu:1"}), "admin",
                 400, "pciplane.alias.unknown", "tpu", id="extra-spec-unknown-alias-on-create"),
    pytest.param("PATCH", "/v1/flavors/g1", b'{"unset": "pci_passthrough:alias"}', "admin", 422,
                 "pciplane.request.malformed", "unset", id="flavor-unset-not-list"),
    pytest.param("POST", "/v1/aliases", json.dumps({**GPU_ALIAS, "name": "g2",
                 "numa_policy": "bogus"}).encode(), "admin", 400, "pciplane.alias.invalid",
                 "bogus", id="alias-bad-numa-policy"),
    pytest.param("PUT", f"/v1/hosts/{HOST}", _host(devices="x"), "agent", 422,
                 "pciplane.request.malformed", "devices", id="host-devices-not-list"),
    pytest.param("PUT", f"/v1/hosts/{HOST}", _host(devices=host_body(HOST, 2)["devices"] * 2),
                 "agent", 400, "pciplane.snapshot.invalid", "listed twice",
                 id="host-device-twice"),
    pytest.param("PUT", f"/v1/hosts/{HOST}", _host(numa_nodes=[{"id": "zero"}]), "agent", 400,
                 "pciplane.snapshot.invalid", "zero", id="host-numa-id-string"),
    pytest.param("PUT", f"/v1/hosts/{HOST}", _device(numa_node="zero"), "agent", 400,
                 "pciplane.snapshot.invalid", "numa_node", id="device-numa-string"),
    pytest.param("PUT", f"/v1/hosts/{HOST}", _device(dev_type="type-X"), "agent", 400,
                 "pciplane.snapshot.invalid", "type-X", id="device-bad-type"),
    pytest.param("PUT", f"/v1/hosts/{HOST}", _device(vendor_id=None), "agent", 400,
                 "pciplane.snapshot.invalid", "vendor_id", id="device-no-vendor"),
    pytest.param("PUT", f"/v1/hosts/{HOST}", _host(device_spec=[{"vendor_id": "zz"}]), "agent",
                 400, "pciplane.snapshot.invalid", "zz", id="host-bad-device-spec"),
    pytest.param("POST", "/v1/work/1", b'{"ok": "maybe"}', "agent", 422,
                 "pciplane.request.malformed", "ok", id="work-ok-not-bool"),
    pytest.param("POST", "/v1/work/abc", b'{"ok": true}', "agent", 422,
                 "pciplane.request.malformed", "work_id", id="work-id-not-int"),
    pytest.param("POST", "/v1/work/99999999999999999999", b'{"ok": true}', "agent", 404,
                 "pciplane.not_found", "99999999999999999999", id="work-id-beyond-database"),
    pytest.param("POST", "/v1/fit", b'{"numa_cells": ["a"]}', "admin", 422,
                 "pciplane.request.malformed", "numa_cells", id="fit-cells-strings"),
]  # fmt: skip

TOKENS = {"admin": ADMIN, "user": PROJECT_TOKEN, "agent": agent_token(HOST)}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiProcess, str]]:
    """One seeded API process per database: an alias, a flavor, a host, a BUILD server."""
    tmp = tmp_path_factory.mktemp(f"malformed-{request.param}")
    with _database(request.param, tmp) as db_url:
        api = start_api(db_url, service_env(db_url, [HOST]), tmp / "api.log")
        try:
            _seed(api)
            yield api, db_url
        finally:
            api.stop()


def _database(kind: str, tmp: Path) -> contextlib.AbstractContextManager[str]:
    return (
        contextlib.nullcontext(f"sqlite:///{tmp / 'bad.db'}") if kind == "sqlite" else pg_database()
    )


def _seed(api: ApiProcess) -> None:
    admin = auth(ADMIN)
    assert httpx.post(f"{api.url}/v1/aliases", json=GPU_ALIAS, headers=admin).is_success
    assert httpx.post(f"{api.url}/v1/flavors", json=FLAVOR, headers=admin).is_success
    host = httpx.put(f"{api.url}/v1/hosts/{HOST}", json=host_body(HOST, 2),
                     headers=auth(agent_token(HOST)))  # fmt: skip
    assert host.is_success
    server = httpx.post(f"{api.url}/v1/servers", json={"name": "vm", "flavor": "g1"},
                        headers=auth(PROJECT_TOKEN))  # fmt: skip
    assert server.json()["state"] == "BUILD"


def _refusal(response: httpx.Response, status: int, code: str, mentions: str) -> None:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert (error["status"], error["code"]) == (str(status), code)
    assert error["title"] and mentions in error["detail"], error


@pytest.mark.parametrize(("method", "path", "body", "who", "status", "code", "mentions"), BAD)
def test_malformed_request_is_refused_and_changes_nothing(
    live: tuple[ApiProcess, str],
    method: str,
    path: str,
    body: bytes,
    who: str,
    status: int,
    code: str,
    mentions: str,
) -> None:
    api, db_url = live
    before = db_state(db_url)
    headers = {**auth(TOKENS[who]), **JSON_CT}
    response = httpx.request(method, f"{api.url}{path}", content=body, headers=headers, timeout=30)
    _refusal(response, status, code, mentions)
    assert db_state(db_url) == before


def _streamed_report(megabytes: int) -> Iterator[bytes]:
    """A host report of ever more devices, sent chunked: no Content-Length to refuse early."""
    yield b'{"name": "bad1", "devices": ['
    one = json.dumps(gpu("0000:10:00.0", 0)).encode() + b","
    for _ in range(megabytes * 1024 * 1024 // len(one)):
        yield one
    yield json.dumps(gpu("0000:11:00.0", 0)).encode() + b"]}"


@pytest.mark.parametrize(
    ("chunked", "megabytes"),
    [pytest.param(True, 4, id="4MiB-chunked"), pytest.param(False, 2, id="2MiB-with-length")],
)
def test_huge_host_report_is_refused_and_changes_nothing(
    live: tuple[ApiProcess, str], chunked: bool, megabytes: int
) -> None:
    api, db_url = live
    before = db_state(db_url)
    stream = _streamed_report(megabytes)
    content = stream if chunked else b"".join(stream)
    headers = {**auth(agent_token(HOST)), **JSON_CT}
    response = httpx.put(f"{api.url}/v1/hosts/{HOST}", content=content, headers=headers, timeout=60)
    _refusal(response, 413, "pciplane.request.too_large", "bytes")
    assert db_state(db_url) == before
    assert httpx.get(f"{api.url}/healthz").status_code == 200
