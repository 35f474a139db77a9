"""Run every benchmark in turn (``make bench``), each printing its markdown rows.

Each script is a separate process with its own defaults; see bench/README.md for what
each measures and bench/RESULTS.md for recorded figures with their commands.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_fit.py", "bench_discovery.py", "bench_domain_xml.py", "bench_service.py")


def main() -> int:
    failed = []
    for script in SCRIPTS:
        print(f"\n## {script}\n", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], check=False).returncode:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
