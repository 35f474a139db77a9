"""scripts/nova_compat.py's exit status: 1 only for a disagreement no documented class
explains (the tally lives apart from Nova in scripts/nova_compat_report.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "nova_compat_report.py"
_spec = importlib.util.spec_from_file_location("nova_compat_report", SCRIPT)
assert _spec is not None and _spec.loader is not None
report_module = importlib.util.module_from_spec(_spec)
sys.modules["nova_compat_report"] = report_module
_spec.loader.exec_module(report_module)


@pytest.mark.parametrize(
    ("hints", "status"),
    [
        pytest.param([], 0, id="all-agree"),
        pytest.param(["Q3", "Q5/Q6", "order", "count0", "Q1"], 0, id="documented"),
        pytest.param(["Q3+order", "Q5/Q6+Q3", "Q5/Q6+Q3+order"], 0, id="combined"),
        pytest.param(["Q3", "unexplained"], 1, id="unexplained"),
        pytest.param(["order", "error"], 1, id="an-undocumented-refusal"),
        pytest.param(["Q5/Q6+error"], 1, id="combined-with-undocumented"),
    ],
)
def test_exit_status(hints: list[str], status: int) -> None:
    report = report_module.Report(compared=10, agreed=10 - len(hints))
    report.disagreements = [{"host": f"h{i}", "hint": h} for i, h in enumerate(hints)]
    assert report.exit_status() == status
    assert len(report.unexplained()) == sum(1 for h in hints if "error" in h or "unex" in h)
