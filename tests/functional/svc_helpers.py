"""Constants and body builders shared by the functional tests."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from pciplane.service.settings import Settings

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

ADMIN = "admin-secret"
PROJECTS = {"tok-alpha": "alpha", "tok-beta": "beta"}
AGENTS = {"tok-cmp1": "cmp1", "tok-cmp2": "cmp2", "tok-cmp3": "cmp3"}

GPU_SPEC = [
    {"vendor_id": "10de", "product_id": "1db4"},
    {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"},
]
GPU_ALIAS = {
    "name": "large_GPU",
    "vendor_id": "10de",
    "product_id": "1db4",
    "device_type": "type-PCI",
}


def _data_dir(db_url: str) -> str:
    """Beside a SQLite test database; a fresh directory under /tmp otherwise."""
    if db_url.startswith("sqlite:///"):
        return str(Path(db_url.removeprefix("sqlite:///")).parent / "data")
    return tempfile.mkdtemp(prefix="pciplane-data-")


def make_settings(db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": _data_dir(db_url),
        "db_url": db_url,
        "admin_token": ADMIN,
        "project_tokens": PROJECTS,
        "agent_tokens": AGENTS,
        "device_spec": GPU_SPEC,
        "max_body_bytes": 256 * 1024,
        **overrides,
    }
    return Settings.model_validate(values)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def gpu(address: str, numa: int = 0) -> dict[str, object]:
    return {
        "address": address,
        "vendor_id": "10de",
        "product_id": "1db4",
        "dev_type": "type-PCI",
        "numa_node": numa,
    }


def host_body(name: str, gpus: int = 2) -> dict[str, object]:
    return {
        "name": name,
        "numa_nodes": [{"id": 0, "socket": 0}, {"id": 1, "socket": 1}],
        "devices": [gpu(f"0000:{0x3B + i:02x}:00.0", i % 2) for i in range(gpus)],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
