"""What the offline commands (fit, lint, capacity) share: reading a snapshot, building requests.

Requests are given the way users make them (shared/fleet-format.md, "Requests"): the
flavor's ``pci_passthrough:alias`` value, ports as ``PHYSNET[:VNIC_TYPE]``, the guest's
host NUMA cells and a flavor-level NUMA policy; or many at once from a JSON file.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pciplane.cli.snapshot_file import read_fleet_file
from pciplane.core.alias import Alias, requests_from_flavor
from pciplane.core.errors import RequestError, SnapshotError
from pciplane.core.fit import GuestRequest
from pciplane.core.fleet import Fleet
from pciplane.core.request import PciRequest, VnicType, parse_numa_policy, request_from_port

PORT_VNIC_TYPES = (VnicType.DIRECT, VnicType.MACVTAP, VnicType.DIRECT_PHYSICAL)


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestInput:
    """One request as the user wrote it, kept for echoing back in ``--json``."""

    name: str = ""
    alias: str = ""
    ports: tuple[tuple[str, str], ...] = ()
    numa_cells: tuple[int, ...] | None = None
    numa_policy: str | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.name:
            out["name"] = self.name
        out["alias"] = self.alias
        out["ports"] = [{"physical_network": p, "vnic_type": v} for p, v in self.ports]
        out["numa_cells"] = list(self.numa_cells) if self.numa_cells is not None else None
        out["numa_policy"] = self.numa_policy
        return out


def read_json(path: str, what: str) -> object:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise SnapshotError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(
            f"{what} {path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def load_fleet_file(path: str, *, quiet: bool = False) -> Fleet:
    return read_fleet_file(path, quiet=quiet)


def settle_heap() -> None:
    """Move the loaded fleet out of the collector's reach: a full collection over a large
    snapshot's millions of long-lived objects costs ~100 ms and would land in a fit."""
    gc.collect()
    gc.freeze()


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--alias-request",
        default="",
        metavar="SPEC",
        help="the flavor's pci_passthrough:alias value, e.g. 'large_GPU:1,small_GPU:1'",
    )
    parser.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="PHYSNET[:VNIC_TYPE]",
        help="an SR-IOV port on PHYSNET; VNIC_TYPE direct (default), macvtap, direct-physical",
    )
    parser.add_argument(
        "--numa-cells", metavar="0[,1]", help="host NUMA cells the guest is confined to"
    )
    parser.add_argument(
        "--numa-policy",
        choices=["required", "legacy", "preferred", "socket"],
        help="flavor-level policy that overrides the aliases' own",
    )
    parser.add_argument(
        "--requests", metavar="FILE", help="a JSON list of requests, each judged on its own"
    )


def _parse_port(text: str, where: str) -> tuple[str, str]:
    physnet, _, vnic = text.partition(":")
    vnic = vnic or VnicType.DIRECT.value
    if not physnet:
        raise RequestError(f"{where}: port {text!r} names no physical network")
    if vnic not in {v.value for v in PORT_VNIC_TYPES}:
        allowed = ", ".join(v.value for v in PORT_VNIC_TYPES)
        raise RequestError(f"{where}: port {text!r}: vnic type {vnic!r} is not one of {allowed}")
    return physnet, vnic


def _parse_cells(text: str | None, where: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        cells = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise RequestError(f"{where}: NUMA cells {text!r} are not integers like 0,1") from None
    if any(c < 0 for c in cells):
        raise RequestError(f"{where}: NUMA cells {text!r} must not be negative")
    return cells


def inputs_from_args(args: argparse.Namespace) -> list[RequestInput]:
    if args.requests:
        if args.alias_request or args.port or args.numa_cells or args.numa_policy:
            raise RequestError("--requests cannot be combined with a request on the command line")
        return inputs_from_file(args.requests)
    return [
        RequestInput(
            alias=args.alias_request,
            ports=tuple(_parse_port(p, "--port") for p in args.port),
            numa_cells=_parse_cells(args.numa_cells, "--numa-cells"),
            numa_policy=args.numa_policy,
        )
    ]


def _field(obj: dict[str, object], key: str, kind: type, where: str) -> object:
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise RequestError(f"{where}: {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _input_from_json(obj: object, where: str) -> RequestInput:
    if not isinstance(obj, dict):
        raise RequestError(f"{where}: a request must be an object, got {obj!r}")
    alias = _field(obj, "alias", str, where) or ""
    ports = []
    raw_ports: list[object] = _field(obj, "ports", list, where) or []  # type: ignore[assignment]
    for j, port in enumerate(raw_ports):
        pw = f"{where} ports[{j}]"
        if not isinstance(port, dict) or not isinstance(port.get("physical_network"), str):
            raise RequestError(f"{pw}: expected {{'physical_network': str, 'vnic_type': str}}")
        vnic = port.get("vnic_type", "direct")
        ports.append(_parse_port(f"{port['physical_network']}:{vnic}", pw))
    cells = _field(obj, "numa_cells", list, where)
    if cells is not None and not all(isinstance(c, int) and c >= 0 for c in cells):  # type: ignore[attr-defined]
        raise RequestError(f"{where}: 'numa_cells' must be a list of cell ids, got {cells!r}")
    policy = _field(obj, "numa_policy", str, where)
    if policy is not None:
        parse_numa_policy(policy, what=f"{where} numa_policy")
    return RequestInput(
        name=str(_field(obj, "name", str, where) or ""),
        alias=str(alias),
        ports=tuple(ports),
        numa_cells=tuple(cells) if cells is not None else None,  # type: ignore[arg-type]
        numa_policy=policy,  # type: ignore[arg-type]
    )


def inputs_from_file(path: str) -> list[RequestInput]:
    doc = read_json(path, "requests")
    if not isinstance(doc, list):
        raise RequestError(f"requests {path}: expected a JSON list of request objects")
    return [_input_from_json(obj, f"requests {path} [{i}]") for i, obj in enumerate(doc)]


def guest_from_input(inp: RequestInput, aliases: Mapping[str, Alias]) -> GuestRequest:
    extra = {"pci_passthrough:alias": inp.alias} if inp.alias else {}
    if inp.numa_policy:
        extra["hw:pci_numa_affinity_policy"] = inp.numa_policy
    policy = parse_numa_policy(inp.numa_policy, what="numa_policy") if inp.numa_policy else None
    pci: list[PciRequest] = list(requests_from_flavor(extra, aliases))
    for physnet, vnic in inp.ports:
        req = request_from_port(vnic_type=vnic, physical_network=physnet, flavor_numa_policy=policy)
        if req is not None:
            pci.append(req)
    cells = frozenset(inp.numa_cells) if inp.numa_cells is not None else None
    return GuestRequest(name=inp.name, pci=tuple(pci), numa_cells=cells)
