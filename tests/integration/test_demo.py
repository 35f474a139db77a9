"""``pciplane demo`` end to end, as ``make demo`` runs it (issue 4, "The demo").

It must finish well under a minute with exit 0, tell the story (hosts registered,
servers ACTIVE, a refusal with its reasons, devices free again, the pool table, the
offline fit), and leave nothing behind: no process it started and no directory. With
``--keep`` it stays up until interrupted, then cleans up the same way.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

DEMO = [sys.executable, "-m", "pciplane.cli.main", "demo"]


def _pids(out: str) -> list[int]:
    match = re.search(r"stopped (\d+) processes \(([\d, ]+)\); nothing is left", out)
    assert match, out
    pids = [int(p) for p in match.group(2).split(", ")]
    assert len(pids) == int(match.group(1))
    assert set(pids) == {int(p) for p in re.findall(r"\bpid (\d+)", out)}
    return pids


def _alive(pid: int) -> bool:
    """True if ``pid`` is still one of the demo's processes (not reaped, not reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return b"pciplane.cli.main" in cmdline and state != "Z"


def _workdir(out: str) -> Path:
    match = re.search(r"test://(/\S+)/compute-1\.xml", out)
    assert match, out
    return Path(match.group(1))


@pytest.mark.parametrize("hosts", [pytest.param(3, id="3-hosts"), pytest.param(5, id="5-hosts")])
def test_demo_tells_the_story_and_leaves_nothing_running(hosts: int) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [*DEMO, "--hosts", str(hosts)], capture_output=True, text=True, timeout=60, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert time.monotonic() - started < 60
    for line in (
        "every agent registered its host:",
        "vm-1   g1.large     ACTIVE on compute-",
        "vm-3   g1.small-vf  ACTIVE on compute-",
        "vm-big is ERROR; the service says why:",
        f"No valid host for server 'vm-big' (0 of {hosts + 1} hosts fit):",
        "host(s): large_GPU: ",
        "(sriov_only) (hotplug-1)",
        "vm-1 is DELETED;",
        "-> server DELETED",
        "vm-pin ACTIVE on numa-1: 0000:",
        '<memnode cellid="1" mode="strict" nodeset="1" />',
        '<cell id="1" cpus="4-7" memory="8192" unit="MiB" />',
        "refused, nothing claimed: quota exceeded for cores: 28 of 32 used, 16 requested",
        "vm-pin deleted",
        "provider:segmentation_id   100",
        "vm-net is ACTIVE on compute-2",
        "direct device 0000:",
        " vlan 100 hw_veb on compute-2 ACTIVE",
        'binding:vif_details      {"connectivity": "l2", "port_filter": false, "vlan": "100"}',
        "VFs: port ",
        "binding:vif_type   hostdev_physical",
        "vm-hp is ACTIVE on hotplug-1",
        "macvtap device 0000:10:02.",
        "does not support it",
        "p-extra is still DOWN, binding:vif_type unbound",
        "[12] The pools at the end",
        "fit: compute-2",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    # The pinned guest's 8 vCPUs on 8 distinct host CPUs of cpu_dedicated_set, 4 per cell.
    pins = [int(cpu) for cpu in re.findall(r'<vcpupin vcpu="\d" cpuset="(\d+)" />', out)]
    assert len(set(pins)) == 8
    dedicated = {*range(2, 16), *range(18, 32), *range(34, 48), *range(50, 64)}
    assert set(pins) <= dedicated
    assert sum(cpu % 32 < 16 for cpu in pins) == 4  # host cell 0: CPUs 0-15 and 32-47
    assert len(re.findall(r"^    compute-\d +pid \d+(  --.*)?$", out, re.M)) == hosts
    pids = _pids(out)
    assert len(pids) == hosts + 3
    assert not [p for p in pids if _alive(p)]
    assert not _workdir(out).exists()


def _openrc_works(out: str, url: str) -> None:
    """The line ``--keep`` prints gives the openstack CLI a Keystone user of project demo."""
    line = re.search(r'eval "\$\((pciplane openrc --config \S+ --user demo)\)"', out)
    assert line, out
    command = [sys.executable, "-m", "pciplane.cli.main", *line.group(1).split()[1:]]
    rc = dict(re.findall(r"^export (\w+)=(\S+)$", subprocess.run(
        command, capture_output=True, text=True, check=True).stdout, re.M))  # fmt: skip
    assert (rc["OS_AUTH_URL"], rc["OS_USERNAME"], rc["OS_PROJECT_NAME"]) == (
        f"{url}/identity", "demo", "demo")  # fmt: skip
    scope = {"project": {"name": "demo", "domain": {"name": "Default"}}}
    user = {"name": "demo", "domain": {"name": "Default"}, "password": rc["OS_PASSWORD"]}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                     "scope": scope}}  # fmt: skip
    issued = httpx.post(f"{url}/identity/v3/auth/tokens", json=body, timeout=5)
    assert issued.status_code == 201, issued.text
    servers = httpx.get(f"{url}/compute/v2.1/servers", timeout=5,
                        headers={"X-Auth-Token": issued.headers["x-subject-token"]})  # fmt: skip
    assert "vm-net" in {s["name"] for s in servers.json()["servers"]}


def test_demo_dir_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "old.log").write_text("from an earlier run\n")
    done = subprocess.run([*DEMO, "--dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "not a new or empty directory" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["old.log"]


def test_demo_keep_stays_up_until_interrupted() -> None:
    out = rest = ""
    with subprocess.Popen(  # the context closes the pipe whatever happens
        [*DEMO, "--keep"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("    logs in "):
                    break
            out = "".join(lines)
            url = re.search(r"API\s+(http://127\.0\.0\.1:\d+)", out)
            token = re.search(r"admin token\s+(\S+)", out)
            assert url and token, f"exit {proc.poll()}:\n{out}"
            hosts = httpx.get(
                f"{url.group(1)}/v1/hosts",
                headers={"Authorization": f"Bearer {token.group(1)}"},
                timeout=5,
            )
            names = [h["name"] for h in hosts.json()["hosts"]]
            assert names == ["compute-1", "compute-2", "compute-3", "hotplug-1", "numa-1"]
            _openrc_works(out, url.group(1))

            proc.send_signal(signal.SIGINT)
            rest, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:  # a failed assertion: SIGTERM stops the demo and its children
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    assert proc.returncode == 0, out + rest
    pids = _pids(out + rest)
    assert not [p for p in pids if _alive(p)]
    assert not _workdir(out).exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url.group(1)}/healthz", timeout=2)


def test_demo_keep_interrupted_before_it_is_up_says_so() -> None:
    """--keep makes Ctrl-C the way out once everything is up; before that, an interrupt
    is an interrupted demo (exit 130, said), cleaned up like any other end."""
    with subprocess.Popen(
        [*DEMO, "--keep"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[3] "):
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    out = "".join(lines) + rest
    assert proc.returncode == 130, out
    assert out.rstrip().endswith("interrupted"), out
    assert "The demo stays up" not in out
    pids = [int(p) for p in re.findall(r"\bpid (\d+)", out)]
    assert not [p for p in pids if _alive(p)]
    assert not _workdir(out).exists()
