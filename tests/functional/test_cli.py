"""The CLI against a real service on a real port (uvicorn in a thread), and migrations."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from svc_helpers import ADMIN, GPU_ALIAS, free_port, host_body

from pciplane.cli.main import main
from pciplane.client import Client
from pciplane.core.snapshot import host_from_json, load_fleet
from pciplane.service.settings import Settings
from pciplane.store.db import create_engine, head_revision
from pciplane.store.tables import metadata


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_operator_story(
    live_api: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PCIPLANE_API", live_api)
    monkeypatch.setenv("PCIPLANE_TOKEN", ADMIN)
    with Client(live_api, "tok-cmp1") as agent:
        agent.register_host(host_from_json(host_body("cmp1")))
    entry = json.dumps(GPU_ALIAS)
    assert _run(capsys, "alias", "create", "--entry", entry)[0] == 0
    assert "large_GPU" in _run(capsys, "alias", "list")[1]
    assert _run(capsys, "flavor", "create", "m1.large", "--vcpus", "4", "--ram", "8192")[0] == 0
    status, out, _ = _run(
        capsys, "flavor", "set", "m1.large", "--property", "pci_passthrough:alias=large_GPU:2"
    )
    assert status == 0 and "pci_passthrough:alias='large_GPU:2'" in out
    status, out, _ = _run(capsys, "server", "create", "--flavor", "m1.large", "vm1", "--json")
    server = json.loads(out)
    assert (status, server["state"], len(server["devices"])) == (0, "BUILD", 2)
    _, out, _ = _run(capsys, "host", "show", "cmp1")
    assert "10de:1db4" in out
    _, out, _ = _run(capsys, "host", "list", "--json")
    assert [sum(p["used"] for p in h["pools"]) for h in json.loads(out)] == [2]
    status, out, _ = _run(capsys, "server", "create", "--flavor", "m1.large", "vm2")
    assert status == 1 and "No valid host" in out
    assert "vm1" in _run(capsys, "server", "list")[1]
    snapshot = tmp_path / "fleet.json"
    assert _run(capsys, "export", "--out", str(snapshot))[0] == 0
    fleet = load_fleet(json.loads(snapshot.read_text()), source=str(snapshot))
    assert sorted(d.status for d in fleet.hosts[0].devices) == ["claimed", "claimed"]
    status, out, _ = _run(capsys, "server", "delete", "vm1", "--json")
    assert json.loads(out)["state"] == "DELETED"  # the agent had not taken the start yet


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["flavor", "show", "nope"], "flavor 'nope' does not exist", id="not-found"),
        pytest.param(["--token", "bad"], "the token is not valid", id="bad-token"),
        pytest.param(
            ["flavor", "set", "nope", "--property", "novalue"], "KEY=VALUE", id="bad-property"
        ),
    ],
)
def test_errors_are_one_line(
    live_api: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("PCIPLANE_API", live_api)
    monkeypatch.setenv("PCIPLANE_TOKEN", ADMIN)
    if argv[0] == "--token":
        argv = ["host", "list", "--token", argv[1]]
    status, _, err = _run(capsys, *argv)
    assert status == 2
    assert message in err and "Traceback" not in err


def test_unreachable_service_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "host", "list", "--api", f"http://127.0.0.1:{free_port()}")
    assert status == 2 and "cannot reach the pciplane API" in err


def test_db_upgrade_builds_the_schema_of_the_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    status, out, _ = _run(capsys, "db", "upgrade", "--db", url)
    assert (status, out.strip()) == (0, f"database at revision {head_revision()}")
    engine = create_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()


@pytest.fixture
def seeded_cli(live_api: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PCIPLANE_API", live_api)
    monkeypatch.setenv("PCIPLANE_TOKEN", ADMIN)
    with Client(live_api, "tok-cmp1") as agent:
        agent.register_host(host_from_json(host_body("cmp1")))
    with Client(live_api, ADMIN) as admin:
        admin.create_alias(GPU_ALIAS)
        admin.create_alias({**GPU_ALIAS, "name": "a6"})
        admin.create_flavor("m1", vcpus=1, ram=64, extra_specs={"pci_passthrough:alias": "a6:1"})
    return live_api


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(("flavor", "delete", "../aliases/a6"), "'../aliases/a6' is not a name",
                     id="dot-dot-is-not-a-name"),
        pytest.param(("flavor", "delete", ""), "the flavor name must not be empty",
                     id="empty-flavor"),
        pytest.param(("flavor", "show", ""), "the flavor name must not be empty", id="show-empty"),
        pytest.param(("server", "show", ""), "must not be empty", id="empty-server"),
        pytest.param(("host", "show", "cmp1/work"), "'cmp1/work' is not a name",
                     id="slash-in-host-name"),
        pytest.param(("host", "show", "nosuch"), "host 'nosuch' is not registered",
                     id="unknown-host"),
    ],
)  # fmt: skip
def test_names_are_path_segments_and_errors_are_one_line(
    seeded_cli: str, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    status, out, err = _run(capsys, *argv)
    assert (status, out) == (2, "")
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    with Client(seeded_cli, ADMIN) as admin:
        assert [a.name for a in admin.list_aliases().aliases] == ["large_GPU", "a6"]
        assert [f.name for f in admin.list_flavors()] == ["m1"]


@pytest.mark.parametrize(
    ("argv", "path"),
    [
        pytest.param(("flavor", "show", "m1"), "/v1/flavors/m1", id="flavor"),
        pytest.param(("host", "show", "cmp1"), "/v1/hosts/cmp1", id="host-with-devices"),
        pytest.param(("flavor", "list"), "/v1/flavors", id="flavors"),
    ],
)
def test_cli_json_is_the_apis_json(
    seeded_cli: str, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], path: str
) -> None:
    status, out, _ = _run(capsys, *argv, "--json")
    api = httpx.get(f"{seeded_cli}{path}", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    if path == "/v1/flavors":
        api = api["flavors"]
    assert status == 0 and json.loads(out) == api


def test_cli_server_json_is_the_apis_json(
    seeded_cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "server", "create", "vm1", "--flavor", "m1", "--json")
    created = json.loads(out)
    api = httpx.get(
        f"{seeded_cli}/v1/servers/{created['id']}", headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()
    assert status == 0 and created == api
    assert (created["vcpus"], created["ram"], created["extra_specs"]) == (
        1, 64, {"pci_passthrough:alias": "a6:1"},
    )  # fmt: skip
    _, out, _ = _run(capsys, "server", "show", "vm1", "--json")
    assert json.loads(out) == api


def test_serve_help_names_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for name in Settings.model_fields:
        assert f"  {name} [PCIPLANE_{name.upper()}]" in out


def test_alias_create_refuses_two_names(
    seeded_cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = json.dumps({**GPU_ALIAS, "name": "bar"})
    status, _, err = _run(capsys, "alias", "create", "foo", "--entry", entry)
    assert status == 2 and "--entry names alias 'bar', not 'foo'" in err
    with Client(seeded_cli, ADMIN) as admin:
        assert [a.name for a in admin.list_aliases().aliases] == ["large_GPU", "a6"]


def test_a_snapshot_host_with_usage_registers_through_the_client(live_api: str) -> None:
    """A host of a varied snapshot carries ``usage`` (what its guests hold); registering it
    through the client sends what an agent reports, and the service keeps its own claims."""
    from pciplane.sim.fleet_varied import generate_varied

    doc = generate_varied(20, 7)
    used = [h for h in doc["hosts"] if h.get("usage")]  # type: ignore[attr-defined]
    assert used, "the varied fleet has hosts with usage"
    host = host_from_json({**used[0], "name": "cmp1"}, source="test")
    with Client(live_api, "tok-cmp1") as agent:
        agent.register_host(host)
    with Client(live_api, ADMIN) as admin:
        shown = admin.get_host("cmp1")
    assert shown.devices == len(host.devices) > 0
    assert shown.usage["cells"] == [] and shown.usage["pinned_cpus"] == []  # no claim yet
