"""The README tells the truth: its offline examples run as shown, and ``make bench``
runs benchmarks that exist.

Every ``console`` block whose commands are all offline (``sim``, ``fit``, ``capacity``,
``lint``, ``discover --root``, ``echo``) is run in order in one scratch directory, so
later blocks see the files earlier ones wrote; an ``ini`` block is written there as
``nova.conf`` first. Output must match what the README shows, where a line ``...``
stands for any number of lines (the examples' own elision).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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


def _shown(expected: list[str], actual: str) -> bool:
    lines = [line.rstrip() for line in actual.rstrip("\n").splitlines()]
    while expected and not expected[-1]:
        expected = expected[:-1]
    pattern = "".join("(?:.*\n)*?" if e.strip() == "..." else re.escape(e) + "\n" for e in expected)
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
