"""How long one ``openstack server show`` takes against pciplane (issue 11).

Starts ``pciplane serve`` (SQLite) and one agent on libvirt's ``test:///`` driver in a
scratch directory, boots one GPU server through the OpenStack API, then times the real CLI
``openstack server show vm-1`` as a user runs it (a new process each time: authenticate,
discover, find by name, show), in Keystone mode and without Keystone, and, for comparison,
the CLI's own start (``openstack --version``) and the same lookup through openstacksdk in
one process (no start-up, token reused). Prints markdown rows; medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
IMAGE = "6c1c1c5e-8a8c-4a55-9a57-6d3c6b9a1f00"
USERS = {"admin": {"password": "admin-pw", "roles": {"admin": "admin"}}}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openrc(env: dict[str, str], url: str, *flags: str) -> dict[str, str]:
    out = subprocess.run(
        [str(BIN / "pciplane"), "openrc", "--url", url, *flags],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rc = {}
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            rc[name] = shlex.split(value)[0]
    return rc


def _timed(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _row(what: str, times: list[float]) -> str:
    return (
        f"| {what} | {statistics.median(times):.0f} ms | {min(times):.0f} ms | "
        f"{max(times):.0f} ms |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    from pciplane.sim.host import build_host
    from pciplane.sim.host_write import node_xml

    work = Path(tempfile.mkdtemp(prefix="bench-openstack-"))
    (work / "cmp1.xml").write_text(node_xml(build_host("gpu")), encoding="utf-8")
    (work / "spec.json").write_text('[{"vendor_id": "10de"}]', encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PCIPLANE_"))}
    env = {
        **base,
        "HOME": str(work),
        "PCIPLANE_DB_URL": f"sqlite:///{work / 'pciplane.db'}",
        "PCIPLANE_ADMIN_TOKEN": "bench-admin",
        "PCIPLANE_AGENT_TOKENS": json.dumps({"bench-agent": "cmp1"}),
        "PCIPLANE_KEYSTONE_USERS": json.dumps(USERS),
        "PCIPLANE_NOAUTH": "true",
    }
    serve = subprocess.Popen(
        [str(BIN / "pciplane"), "serve", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    agent = None
    try:
        _wait(lambda: httpx.get(f"{url}/healthz").status_code == 200)
        agent = subprocess.Popen(
            [str(BIN / "pciplane"), "agent", "--api", url, "--name", "cmp1", "--libvirt",
             f"test://{work / 'cmp1.xml'}", "--device-spec", str(work / "spec.json"),
             "--interval", "0.2"],
            env={**env, "PCIPLANE_TOKEN": "bench-agent"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        admin = {"Authorization": "Bearer bench-admin"}
        _wait(lambda: httpx.get(f"{url}/v1/hosts/cmp1", headers=admin).status_code == 200)
        alias = {"name": "large_GPU", "vendor_id": "10de", "product_id": "20b5",
                 "device_type": "type-PCI"}  # fmt: skip
        httpx.post(f"{url}/v1/aliases", json=alias, headers=admin).raise_for_status()
        flavor = {"name": "gpu.large", "vcpus": 2, "ram": 1024,
                  "extra_specs": {"pci_passthrough:alias": "large_GPU:1"}}  # fmt: skip
        httpx.post(f"{url}/v1/flavors", json=flavor, headers=admin).raise_for_status()
        keystone = {**base, "HOME": str(work), **_openrc(env, url, "--user", "admin")}
        noauth = {**base, "HOME": str(work), **_openrc(env, url, "--auth", "none")}
        boot = f"uuid={IMAGE},source_type=image,destination_type=local,boot_index=0"
        subprocess.run(
            [str(BIN / "openstack"), "server", "create", "--flavor", "gpu.large",
             "--block-device", boot, "--nic", "none", "--wait", "vm-1"],
            env=keystone, check=True, capture_output=True,
        )  # fmt: skip
        show = [str(BIN / "openstack"), "server", "show", "vm-1"]
        print(f"runs: {args.runs} each; `openstack` = python-openstackclient from .venv")
        print("| what | median | min | max |")
        print("| --- | --- | --- | --- |")
        version = [str(BIN / "openstack"), "--version"]
        ks_label = "`openstack server show vm-1`, Keystone password auth"
        rows = [
            (ks_label, _timed(show, keystone, args.runs)),
            ("`openstack server show vm-1`, auth_type none", _timed(show, noauth, args.runs)),
            ("`openstack --version` (the CLI's start alone)", _timed(version, noauth, args.runs)),
            ("openstacksdk `find_server` + `get_server`, one process", _sdk(url, args.runs)),
        ]  # fmt: skip
        for what, times in rows:
            print(_row(what, times))
    finally:
        for proc in (agent, serve):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return 0


def _sdk(url: str, runs: int) -> list[float]:
    import warnings

    warnings.simplefilter("ignore")
    import openstack

    conn = openstack.connect(
        auth={"auth_url": f"{url}/identity", "username": "admin", "password": "admin-pw",
              "project_name": "admin", "user_domain_name": "Default",
              "project_domain_name": "Default"},
        region_name="RegionOne",
    )  # fmt: skip
    conn.compute.find_server("vm-1", ignore_missing=False)  # token and discovery, once
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        found = conn.compute.find_server("vm-1", ignore_missing=False)
        conn.compute.get_server(found.id)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _wait(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the service did not come up")


if __name__ == "__main__":
    sys.exit(main())
