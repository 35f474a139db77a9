"""Requests as users write them, for ``fit`` and ``capacity``, and the guests they ask for.

shared/fleet-format.md, "Requests": the flavor's ``pci_passthrough:alias`` value, ports
as ``PHYSNET[:VNIC_TYPE]``, the guest's host NUMA cells and a flavor-level NUMA policy on
the command line; or many requests from a JSON file. Every key of that file is checked:
a misspelt one (``numa_cell``) would otherwise be a request for something else, answered
as if it were right. A port takes the keys Nova reads from a Neutron port to build its
PCI request (nova-pci-semantics §4.3): ``physical_network``, ``vnic_type``, ``trusted``
(``binding:profile``) and ``numa_affinity_policy``, which overrides the flavor's policy.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pciplane.conf.json_file import read_json
from pciplane.core.alias import Alias, requests_from_flavor
from pciplane.core.boolean import strict_word
from pciplane.core.errors import RequestError
from pciplane.core.fit import GuestRequest
from pciplane.core.flavor import check_extra_specs
from pciplane.core.guest_cpu import cpu_ask
from pciplane.core.port_ask import ASKABLE_VNIC_TYPES, parse_numa_cells, parse_port_ask
from pciplane.core.request import PciRequest, VnicType, parse_numa_policy, request_from_port

PORT_VNIC_TYPES = ASKABLE_VNIC_TYPES
REQUEST_KEYS = (
    "name",
    "alias",
    "ports",
    "numa_cells",
    "numa_policy",
    "vcpus",
    "ram",
    "extra_specs",
)
PORT_KEYS = ("physical_network", "vnic_type", "trusted", "numa_affinity_policy", "pci_group")


@dataclass(frozen=True, kw_only=True, slots=True)
class PortInput:
    """One SR-IOV port of a request, as the user wrote it."""

    physical_network: str
    vnic_type: str = VnicType.DIRECT.value
    trusted: bool | None = None
    numa_affinity_policy: str | None = None
    #: The SR-IOV group a host must be in (its agent's ``sriov_pci_group``).
    pci_group: str | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "physical_network": self.physical_network,
            "vnic_type": self.vnic_type,
        }
        if self.trusted is not None:
            out["trusted"] = self.trusted
        if self.numa_affinity_policy is not None:
            out["numa_affinity_policy"] = self.numa_affinity_policy
        if self.pci_group is not None:
            out["pci_group"] = self.pci_group
        return out

    def describe(self) -> str:
        notes = [self.vnic_type]
        if self.trusted is not None:
            notes.append("trusted" if self.trusted else "untrusted")
        if self.numa_affinity_policy is not None:
            notes.append(f"numa_affinity_policy={self.numa_affinity_policy}")
        if self.pci_group is not None:
            notes.append(f"pci-group={self.pci_group}")
        return f"port {self.physical_network} ({', '.join(notes)})"


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestInput:
    """One request as the user wrote it, kept for echoing back in ``--json``."""

    name: str = ""
    alias: str = ""
    ports: tuple[PortInput, ...] = ()
    numa_cells: tuple[int, ...] | None = None
    numa_policy: str | None = None
    #: The flavor's size; with them its CPUs and memory are fitted too.
    vcpus: int | None = None
    ram: int | None = None
    #: The flavor's other extra specs (``hw:cpu_policy``, ``hw:numa_nodes``, ...).
    extra_specs: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.name:
            out["name"] = self.name
        out["alias"] = self.alias
        out["ports"] = [p.as_json() for p in self.ports]
        out["numa_cells"] = list(self.numa_cells) if self.numa_cells is not None else None
        out["numa_policy"] = self.numa_policy
        if self.vcpus is not None:
            out["vcpus"] = self.vcpus
            out["ram"] = self.ram
        if self.extra_specs:
            out["extra_specs"] = dict(self.extra_specs)
        return out

    def describe(self) -> str:
        parts = []
        if self.alias:
            parts.append(f"pci_passthrough:alias={self.alias}")
        parts += [p.describe() for p in self.ports]
        if self.numa_cells is not None:
            parts.append("NUMA cells " + ",".join(map(str, self.numa_cells)))
        if self.numa_policy:
            parts.append(f"numa_policy={self.numa_policy}")
        if self.vcpus is not None:
            parts.insert(0, f"{self.vcpus} vCPUs, {self.ram} MiB")
        parts += [f"{k}={v}" for k, v in self.extra_specs]
        text = ", ".join(parts) or "no PCI devices"
        return f"{self.name}: {text}" if self.name else text


def add_request_arguments(parser: argparse.ArgumentParser, *, many: bool = True) -> None:
    """The request flags; ``many`` adds ``--requests FILE`` (for commands that take it)."""
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
        metavar="PHYSNET[:VNIC_TYPE[:PCI_GROUP]]",
        help="an SR-IOV port on PHYSNET; VNIC_TYPE direct (default), macvtap, "
        "direct-physical; PCI_GROUP: only hosts of that SR-IOV group (sriov_pci_group)",
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
        "--vcpus", type=int, metavar="N", help="the flavor's vCPUs (fits CPUs and memory too)"
    )
    parser.add_argument("--ram", type=int, metavar="MIB", help="the flavor's RAM, with --vcpus")
    parser.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a flavor extra spec, e.g. hw:cpu_policy=dedicated or hw:numa_nodes=2 "
        "(with --vcpus and --ram)",
    )
    if many:
        parser.add_argument(
            "--requests",
            metavar="FILE",
            help="a JSON list of requests, each judged on its own: objects with the keys "
            f"{', '.join(REQUEST_KEYS)}; each port has {', '.join(PORT_KEYS)}",
        )


def _vnic(vnic: str, text: str, where: str) -> str:
    if vnic not in {v.value for v in PORT_VNIC_TYPES}:
        allowed = ", ".join(v.value for v in PORT_VNIC_TYPES)
        raise RequestError(f"{where}: port {text!r}: vnic type {vnic!r} is not one of {allowed}")
    return vnic


def _parse_port(text: str, where: str) -> PortInput:
    ask = parse_port_ask(text, where)
    return PortInput(
        physical_network=ask.physical_network,
        vnic_type=ask.vnic_type.value,
        pci_group=ask.pci_group,
    )


def _parse_cells(text: str | None, where: str) -> tuple[int, ...] | None:
    return None if text is None else parse_numa_cells(text, where)


def inputs_from_args(args: argparse.Namespace) -> list[RequestInput]:
    if getattr(args, "requests", None):
        given = (args.alias_request, args.port, args.numa_cells, args.numa_policy)
        if any(given) or args.vcpus is not None or args.ram is not None or args.property:
            raise RequestError("--requests cannot be combined with a request on the command line")
        return inputs_from_file(args.requests)
    return [
        _checked(
            RequestInput(
                alias=args.alias_request,
                ports=tuple(_parse_port(p, "--port") for p in args.port),
                numa_cells=_parse_cells(args.numa_cells, "--numa-cells"),
                numa_policy=args.numa_policy,
                vcpus=args.vcpus,
                ram=args.ram,
                extra_specs=tuple(_property(p) for p in args.property),
            ),
            "command line",
        )
    ]


def _property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise RequestError(f"--property {text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def _checked(inp: RequestInput, where: str) -> RequestInput:
    """A flavor's size comes whole (a guest with cells of its own, ``hw:numa_nodes`` or
    pinned vCPUs, is placed on the host cells chosen; ``numa_cells`` then does not apply)."""
    if (inp.vcpus is None) != (inp.ram is None):
        raise RequestError(f"{where}: give the flavor's vcpus and ram together")
    if inp.vcpus is not None and (inp.vcpus < 1 or (inp.ram or 0) < 1):
        raise RequestError(f"{where}: vcpus and ram must be whole numbers above 0")
    if inp.extra_specs and inp.vcpus is None:
        raise RequestError(f"{where}: extra specs describe a flavor: give its vcpus and ram")
    keys = [k for k, _ in inp.extra_specs]
    if "pci_passthrough:alias" in keys or "hw:pci_numa_affinity_policy" in keys:
        raise RequestError(f"{where}: give the alias and NUMA policy as their own options")
    return inp


def _check_keys(obj: Mapping[str, object], known: Sequence[str], where: str) -> None:
    for key in obj:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RequestError(f"{where}: unknown key {key!r} (known: {', '.join(known)}){hint}")


def _field(obj: Mapping[str, object], key: str, kind: type, where: str) -> object:
    value = obj.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise RequestError(f"{where}: {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _policy(obj: Mapping[str, object], key: str, where: str) -> str | None:
    policy = _field(obj, key, str, where)
    if policy is not None:
        parse_numa_policy(policy, what=f"{where} {key}")
    return policy  # type: ignore[return-value]


def _port_from_json(port: object, where: str) -> PortInput:
    if not isinstance(port, dict):
        raise RequestError(f"{where}: a port must be an object, got {port!r}")
    _check_keys(port, PORT_KEYS, where)
    physnet = port.get("physical_network")
    if not isinstance(physnet, str) or not physnet:
        raise RequestError(f"{where}: 'physical_network' must be a non-empty string")
    vnic = _field(port, "vnic_type", str, where) or VnicType.DIRECT.value
    trusted = port.get("trusted")
    word = strict_word(trusted) if trusted is not None else None
    if trusted is not None and word is None:
        raise RequestError(f"{where}: 'trusted' must be true or false, got {trusted!r}")
    group = _field(port, "pci_group", str, where)
    return PortInput(
        physical_network=physnet,
        vnic_type=_vnic(str(vnic), f"{physnet}:{vnic}", where),
        trusted=None if word is None else word == "true",
        numa_affinity_policy=_policy(port, "numa_affinity_policy", where),
        pci_group=None if group is None else str(group),
    )


def _input_from_json(obj: object, where: str) -> RequestInput:
    if not isinstance(obj, dict):
        raise RequestError(f"{where}: a request must be an object, got {obj!r}")
    _check_keys(obj, REQUEST_KEYS, where)
    raw_ports: list[object] = _field(obj, "ports", list, where) or []  # type: ignore[assignment]
    cells = _field(obj, "numa_cells", list, where)
    if cells is not None and not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0
        for c in cells  # type: ignore[attr-defined]
    ):
        raise RequestError(f"{where}: 'numa_cells' must be a list of cell ids, got {cells!r}")
    extra = _field(obj, "extra_specs", dict, where) or {}
    if not all(isinstance(v, str) for v in extra.values()):  # type: ignore[attr-defined]
        raise RequestError(f"{where}: 'extra_specs' values must be strings, got {extra!r}")
    vcpus = _field(obj, "vcpus", int, where)
    ram = _field(obj, "ram", int, where)
    return _checked(
        RequestInput(
            name=str(_field(obj, "name", str, where) or ""),
            alias=str(_field(obj, "alias", str, where) or ""),
            ports=tuple(_port_from_json(p, f"{where} ports[{j}]") for j, p in enumerate(raw_ports)),
            numa_cells=tuple(cells) if cells is not None else None,  # type: ignore[arg-type]
            numa_policy=_policy(obj, "numa_policy", where),
            vcpus=vcpus,  # type: ignore[arg-type]
            ram=ram,  # type: ignore[arg-type]
            extra_specs=tuple(sorted(extra.items())),  # type: ignore[attr-defined]
        ),
        where,
    )


def inputs_from_file(path: str) -> list[RequestInput]:
    doc = read_json(path, "requests")
    if not isinstance(doc, list):
        raise RequestError(f"requests {path}: expected a JSON list of request objects")
    return [_input_from_json(obj, f"requests {path} [{i}]") for i, obj in enumerate(doc)]


def guest_from_input(inp: RequestInput, aliases: Mapping[str, Alias]) -> GuestRequest:
    """The guest a request asks for: flavor requests first, then one per port (§4.2)."""
    extra = dict(inp.extra_specs)
    if inp.alias:
        extra["pci_passthrough:alias"] = inp.alias
    if inp.numa_policy:
        extra["hw:pci_numa_affinity_policy"] = inp.numa_policy
    check_extra_specs(extra)
    cpu = None
    if inp.vcpus is not None and inp.ram is not None:
        cpu = cpu_ask(extra, vcpus=inp.vcpus, memory_mib=inp.ram)
    policy = parse_numa_policy(inp.numa_policy, what="numa_policy") if inp.numa_policy else None
    pci: list[PciRequest] = list(requests_from_flavor(extra, aliases))
    for port in inp.ports:
        own = port.numa_affinity_policy
        req = request_from_port(
            vnic_type=port.vnic_type,
            physical_network=port.physical_network,
            trusted=port.trusted,
            numa_policy=parse_numa_policy(own, what="numa_affinity_policy") if own else None,
            flavor_numa_policy=policy,
            pci_group=port.pci_group,
        )
        if req is not None:
            pci.append(req)
    cells = frozenset(inp.numa_cells) if inp.numa_cells is not None else None
    return GuestRequest(name=inp.name, pci=tuple(pci), numa_cells=cells, cpu=cpu)
