"""Real API processes on a real database, for the load and fault tests.

Each API is its own ``pciplane serve`` process (uvicorn) bound to loopback on a free
port; its settings come from the environment (``PCIPLANE_*``, service/settings.py), so the
tokens and the fleet-wide device_spec are the same in every process sharing a database.
PostgreSQL databases are created as ``pciplane_it_<random>`` and dropped with FORCE.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ADMIN = "it-admin"
PROJECT_TOKEN = "it-project"
GPU_SPEC = [{"vendor_id": "10de", "product_id": "1db4"}]
GPU_ALIAS = {"name": "gpu", "vendor_id": "10de", "product_id": "1db4", "device_type": "type-PCI"}
FLAVOR = {"name": "g1", "vcpus": 1, "ram": 512, "extra_specs": {"pci_passthrough:alias": "gpu:1"}}


def agent_token(host: str) -> str:
    return f"agent-{host}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gpu(address: str, numa: int) -> dict[str, object]:
    return {
        "address": address,
        "vendor_id": "10de",
        "product_id": "1db4",
        "dev_type": "type-PCI",
        "numa_node": numa,
    }


def host_body(name: str, gpus: int) -> dict[str, object]:
    """A two-socket host with ``gpus`` allow-listed GPUs alternating between NUMA nodes."""
    return {
        "name": name,
        "numa_nodes": [{"id": 0, "socket": 0}, {"id": 1, "socket": 1}],
        "devices": [gpu(f"0000:{0x10 + i:02x}:00.0", i % 2) for i in range(gpus)],
    }


def service_env(db_url: str, hosts: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PCIPLANE_DB_URL": db_url,
            "PCIPLANE_ADMIN_TOKEN": ADMIN,
            "PCIPLANE_PROJECT_TOKENS": json.dumps({PROJECT_TOKEN: "load"}),
            "PCIPLANE_AGENT_TOKENS": json.dumps({agent_token(h): h for h in hosts}),
            "PCIPLANE_DEVICE_SPEC": json.dumps(GPU_SPEC),
            # One project creates every server of a load test: no per-project quota.
            "PCIPLANE_QUOTA_INSTANCES": "-1",
            "PCIPLANE_QUOTA_CORES": "-1",
            "PCIPLANE_QUOTA_RAM": "-1",
        }
    )
    return env


def serve_command(db_url: str, port: int) -> list[str]:
    return [sys.executable, "-m", "pciplane.cli.main", "serve", "--db", db_url,
            "--port", str(port), "--log-level", "warning"]  # fmt: skip


@dataclass
class ApiProcess:
    """One API process; ``url`` is its loopback base URL."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_api(db_url: str, env: Mapping[str, str], log: Path, timeout: float = 30.0) -> ApiProcess:
    """Start one API process and wait until ``/healthz`` answers 200."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            serve_command(db_url, port), env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
    api = ApiProcess(proc=proc, url=f"http://127.0.0.1:{port}", log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"API process exited {proc.returncode}: {log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api.url}/healthz", timeout=2).status_code == 200:
                return api
        time.sleep(0.1)
    api.stop()
    raise AssertionError(f"API process not healthy after {timeout}s: {log.read_text()}")


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test; skipped when the server is unreachable."""
    name = f"pciplane_it_{secrets.token_hex(4)}"
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc.orig}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


TABLES = (
    "hosts",
    "numa_nodes",
    "devices",
    "aliases",
    "flavors",
    "flavor_extra_specs",
    "servers",
    "claims",
    "work_items",
)


def db_state(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, sorted: what "changes nothing" is checked against."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                t: sorted((tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))), key=repr)
                for t in TABLES
            }
    finally:
        engine.dispose()


def device_owners(db_url: str) -> list[tuple[str, str, str | None, str | None]]:
    """``(host, address, owner, claim's server)`` for every device, straight from the tables."""
    query = sa.text(
        "SELECT h.name, d.address, d.owner, c.server_id FROM devices d"
        " JOIN hosts h ON h.id = d.host_id LEFT JOIN claims c ON c.device_id = d.id"
    )
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]
    finally:
        engine.dispose()
