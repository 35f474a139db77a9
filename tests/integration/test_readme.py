"""The README tells the truth: its offline examples run as shown, and ``make bench``
runs benchmarks that exist.

Every ``console`` block whose commands are all offline (``sim``, ``fit``, ``capacity``,
``lint``, ``discover --root``, ``echo``) is run in order in one scratch directory, so
later blocks see the files earlier ones wrote; an ``ini`` block is written there as
``nova.conf`` first. Output must match what the README shows, where a line ``...``
stands for any number of lines and a line ending in ``...`` for any ending (the
examples' own elisions). The service walkthrough runs the same way, its background
processes stopped at the end.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
OFFLINE = re.compile(r"pciplane (sim (fleet|host)|fit|capacity|lint|discover --root) |echo ")


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    return [(m[1], m[2].splitlines()) for m in re.finditer(r"```(\w+)\n(.*?)```", text, re.S)]


def _commands(lines: list[str]) -> list[tuple[str, list[str]]]:
    """``$ command`` lines, each with the output lines shown under it."""
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line.rstrip())
    return out


def _line_pattern(expected: str) -> str:
    """A line ``...`` stands for any lines; a line ending in ``...`` for any ending."""
    if expected.strip() == "...":
        return "(?:.*\n)*?"
    if expected.endswith("..."):
        return re.escape(expected[:-3]) + ".*\n"
    return re.escape(expected) + "\n"


def _shown(expected: list[str], actual: str) -> bool:
    lines = [line.rstrip() for line in actual.rstrip("\n").splitlines()]
    while expected and not expected[-1]:
        expected = expected[:-1]
    pattern = "".join(_line_pattern(e) for e in expected)
    return re.fullmatch(pattern, "".join(f"{line}\n" for line in lines)) is not None


def test_readme_offline_examples_run_as_shown(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    ran = 0
    for lang, lines in _blocks((ROOT / "README.md").read_text()):
        if lang == "ini":
            (tmp_path / "nova.conf").write_text("\n".join(lines) + "\n")
            continue
        commands = _commands(lines) if lang == "console" else []
        if not commands or not all(OFFLINE.match(c) for c, _ in commands):
            continue
        for command, expected in commands:
            done = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode in (0, 1), f"$ {command}\n{done.stdout}"
            assert _shown(expected, done.stdout), f"$ {command}\n{done.stdout}"
            ran += 1
    assert ran >= 9  # sim fleet, fit, capacity, lint, nova.conf x2, sim host, echo, discover


def test_make_bench_runs_benchmarks_that_exist() -> None:
    done = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "-o", ".venv/.installed", "bench"],
        cwd=ROOT, text=True, capture_output=True, check=True,
    )  # fmt: skip
    scripts = re.findall(r"\b(bench/[\w/]+\.py)\b", done.stdout)
    assert scripts, done.stdout
    assert all((ROOT / s).is_file() for s in scripts), scripts
    assert {s.split("/")[-1] for s in scripts} >= {"bench_fit.py", "bench_discovery.py"}


def _kill_started_in(directory: Path) -> None:
    """Stop every process the walkthrough left running in ``directory``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if Path(os.readlink(proc / "cwd")) == directory:
                os.kill(int(proc.name), signal.SIGTERM)
        except OSError:
            continue


def _section(text: str, heading: str) -> str:
    """The lines under ``heading`` up to the next heading (``#`` lines in code are not)."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    fenced = False
    for end in range(start, len(lines)):
        fenced ^= lines[end].startswith("```")
        if not fenced and re.match(r"#{1,3} ", lines[end]):
            return "\n".join(lines[start:end]) + "\n"
    return "\n".join(lines[start:]) + "\n"


def _apply_openrc(env: dict[str, str], command: str, cwd: Path) -> None:
    """``eval "$(pciplane openrc ...)"``: its exports and unsets, into ``env``."""
    inner = command.removeprefix('eval "$(').removesuffix(')"')
    done = subprocess.run(
        ["bash", "-c", inner], cwd=cwd, env=env, text=True, capture_output=True, check=True
    )
    for line in done.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = shlex.split(value)[0] if value else ""
        elif line.startswith("unset "):
            for key in line.split()[1:]:
                env.pop(key, None)


@pytest.mark.parametrize(
    ("heading", "at_least", "leaves"),
    [
        pytest.param("### From nothing, with tokens", 12, "fleet.json", id="tokens"),
        pytest.param("### Images and a server with a disk", 12, "cirros.qcow2", id="images"),
        pytest.param("### Stop, start, reboot; disabled hosts; quotas", 18, "compute-1.xml",
                     id="lifecycle"),
        pytest.param("### The openstack CLI and openstacksdk", 20, "demo/pciplane.toml",
                     id="openstack-cli"),
    ],
)  # fmt: skip
def test_readme_service_walkthrough_runs_as_shown(
    tmp_path: Path, heading: str, at_least: int, leaves: str
) -> None:
    """A service walkthrough as written: serve (or ``pciplane demo --keep``), an agent on
    test:///, servers; with the OpenStack clients, a GPU server with its SR-IOV port bound."""
    section = _section((ROOT / "README.md").read_text(), heading)
    blocks = _blocks(section)
    (toml,) = [lines for lang, lines in blocks if lang == "toml"]
    (tmp_path / "pciplane.toml").write_text("\n".join(toml) + "\n")
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200", HOME=str(tmp_path))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for name in [n for n in env if n.startswith(("PCIPLANE_", "OS_"))]:
        del env[name]
    ran = 0
    try:
        for lang, lines in blocks:
            for command, expected in _commands(lines) if lang == "console" else []:
                if command.startswith("export "):
                    key, _, value = command.removeprefix("export ").partition("=")
                    env[key] = value
                    continue
                if command.startswith('eval "$('):
                    _apply_openrc(env, command, tmp_path)
                    continue
                done = subprocess.run(
                    ["bash", "-c", command], cwd=tmp_path, env=env, text=True,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False,
                )  # fmt: skip
                logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
                assert done.returncode in (0, 1), f"$ {command}\n{done.stdout}\n{logs}"
                assert _shown(expected, done.stdout), f"$ {command}\n{done.stdout}\n{logs}"
                ran += 1
    finally:
        _kill_started_in(tmp_path)
    assert ran >= at_least
    assert (tmp_path / leaves).is_file()
