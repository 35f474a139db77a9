"""``pciplane sim host``: write one synthetic host as a sysfs tree and a libvirt node XML.

Both forms describe the same functions (:mod:`pciplane.sim.host`), so ``pciplane
discover --root DIR`` and ``pciplane discover --libvirt test:///FILE`` list the same host.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from pciplane.core.errors import ConfigError
from pciplane.sim.host import PROFILES, build_host
from pciplane.sim.host_write import node_xml, write_sysfs


def register(sub: Any) -> None:
    profiles = "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values())
    parser: argparse.ArgumentParser = sub.add_parser(
        "host",
        help="write a synthetic host (sysfs tree and libvirt node XML)",
        description=f"Profiles: {profiles}.",
    )
    parser.add_argument("--profile", required=True, choices=sorted(PROFILES))
    parser.add_argument(
        "--sysfs-out", metavar="DIR", type=Path, help="write DIR/sys/... (DIR must be empty)"
    )
    parser.add_argument(
        "--libvirt-node-xml", metavar="FILE", type=Path, help="write the node XML to FILE"
    )
    parser.set_defaults(func=run)


def _check_empty(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"--sysfs-out {path} must be an empty or new directory")


def run(args: argparse.Namespace) -> int:
    if args.sysfs_out is None and args.libvirt_node_xml is None:
        raise ConfigError("give --sysfs-out DIR, --libvirt-node-xml FILE, or both")
    host = build_host(args.profile)
    try:
        if args.sysfs_out is not None:
            _check_empty(args.sysfs_out)
            write_sysfs(host, args.sysfs_out)
            print(f"wrote {len(host.functions)} PCI functions to {args.sysfs_out}/sys")
        if args.libvirt_node_xml is not None:
            args.libvirt_node_xml.write_text(node_xml(host), encoding="utf-8")
            uri = f"test://{os.path.abspath(args.libvirt_node_xml)}"
            print(f"wrote {args.libvirt_node_xml} (libvirt URI {uri})")
    except OSError as exc:
        raise ConfigError(f"cannot write {exc.filename}: {exc.strerror}") from exc
    return 0
