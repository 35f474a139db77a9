"""Compare pciplane's ``fit`` verdicts with Nova 34's scheduler, host by host.

A developer tool, not part of pciplane or of its tests: it needs Nova, which lives in a
scratch virtualenv. Run it with that interpreter::

    /tmp/novavenv/bin/python scripts/nova_compat.py --fleet F --requests R [--json]

For each host of the snapshot it builds what Nova's scheduler would have: ``[pci]
device_spec`` and ``[pci] alias`` set through oslo.config, the compute node's
``PciDeviceStats`` (a Whitelist from the device spec, one ``objects.PciDevice`` per
available allow-listed device), serialised to a ``PciDevicePoolList`` and read back the
way the scheduler's HostState does (tag values become strings, nova-pci-semantics §3.1),
and Nova's ``InstancePCIRequest``s from the same request (flavor via
``get_pci_requests_from_flavor``, ports by hand per §4.3). The verdict is
``support_requests(requests, provider_mapping=None, numa_cells=cells)`` (§3.7, §5.1).

The host's sysfs, which Nova reads to tell a PF address from any other (§1.4.3, §1.4.4,
§1.7), is answered from the host's own inventory in the snapshot: that is what Nova
would read on that host.

Each disagreement gets a hint: ``Q3`` when Nova's scheduler says yes but its own
compute-side claim (``consume_requests``, which does model PF/VF dependencies) fails;
``order`` when Nova says no but another order of the same requests passes its scheduler
(pciplane tries other orders on purpose); ``unexplained`` otherwise. The exit status is 0
when every disagreement is in a documented class and 1 when one is not
(scripts/nova_compat_report.py says which classes are documented and why).

A port's ``trusted`` and ``numa_affinity_policy`` in the requests file are read by
pciplane's own request reader, and given to Nova the way its Neutron code builds the
port's request (§4.3).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import json
import logging
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from nova_compat_report import Report, explained

from pciplane.cli.request_input import RequestInput, guest_from_input, inputs_from_file
from pciplane.core.boolean import normalise_word
from pciplane.core.device import DevType, PciDevice
from pciplane.core.errors import PciplaneError
from pciplane.core.fleet import Fleet, Host
from pciplane.core.index import FleetIndex
from pciplane.core.snapshot import load_fleet

warnings.filterwarnings("ignore")  # eventlet and oslo deprecation noise on import
logging.disable(logging.CRITICAL)  # Nova logs every failed claim at ERROR

import nova.conf  # noqa: E402
from nova import exception as nova_exc  # noqa: E402
from nova import objects  # noqa: E402
from nova.pci import request as nova_request  # noqa: E402
from nova.pci import stats as nova_stats  # noqa: E402
from nova.pci import utils as nova_utils  # noqa: E402
from nova.pci import whitelist as nova_whitelist  # noqa: E402

objects.register_all()
CONF = nova.conf.CONF
CONF([], project="nova", default_config_files=[])

MAX_ORDERS = 120  # 5! permutations, as pciplane's own bound


# --- the host's sysfs, from its inventory ---------------------------------------------


class FakeSysfs:
    """The four sysfs reads of nova.pci.utils that device specs use, for one host."""

    def __init__(self) -> None:
        self.devices: dict[str, PciDevice] = {}

    def use(self, host: Host) -> None:
        self.devices = {str(d.address): d for d in host.devices}

    def is_physical_function(self, domain: str, bus: str, slot: str, function: str) -> bool:
        dev = self.devices.get(f"{domain}:{bus}:{slot}.{function}")
        return dev is not None and dev.dev_type is DevType.PF

    def get_function_by_ifname(self, ifname: str) -> tuple[str | None, bool]:
        for addr, dev in self.devices.items():
            if dev.devname == ifname:
                return addr, dev.dev_type is DevType.PF
        return None, False

    def _pf(self, pci_addr: str) -> PciDevice:
        dev = self.devices.get(pci_addr)  # Q1: a spec object's repr is no address
        if dev is None:
            raise nova_exc.PciDeviceNotFoundById(id=pci_addr)
        return dev

    def get_vf_product_id_by_pf_addr(self, pci_addr: str) -> str:
        pf = self._pf(pci_addr)
        for dev in self.devices.values():
            if dev.parent_addr == pf.address:
                return dev.product_id
        raise nova_exc.PciDeviceNotFoundById(id=pci_addr)

    def get_pci_ids_by_pci_addr(self, pci_addr: str) -> tuple[str, ...]:
        dev = self._pf(pci_addr)
        return dev.vendor_id, dev.product_id

    def install(self) -> None:
        for name in (
            "is_physical_function",
            "get_function_by_ifname",
            "get_vf_product_id_by_pf_addr",
            "get_pci_ids_by_pci_addr",
        ):
            setattr(nova_utils, name, getattr(self, name))


SYSFS = FakeSysfs()
SYSFS.install()


# --- Nova's side ----------------------------------------------------------------------


def _option_values(entries: tuple[object, ...], *, split_lists: bool) -> list[str]:
    """Snapshot entries as nova.conf option values (one JSON document each)."""
    out: list[str] = []
    for entry in entries:
        text = entry if isinstance(entry, str) else json.dumps(entry)
        if split_lists:  # an alias value is one object; the snapshot allows a list
            doc = json.loads(text)
            if isinstance(doc, list):
                out.extend(json.dumps(item) for item in doc)
                continue
        out.append(text)
    return out


def configure_aliases(fleet: Fleet) -> None:
    CONF.set_override("alias", _option_values(fleet.alias_raw, split_lists=True), group="pci")
    nova_request.get_alias_from_config.cache_clear()  # Q18: cached for the process's life


@dataclass
class NovaHost:
    """What Nova knows of one host: the scheduler's stats (or why there are none)."""

    fleet: Fleet
    host: Host
    scheduler: Any = None
    error: str = ""
    #: The same host with its device_spec's trusted/remote_managed normalised (Q5, Q6).
    normalised: NovaHost | None = None


def _numa_topology(host: Host) -> Any:
    cells = [objects.NUMACell(id=n.id, socket=n.socket) for n in host.numa_nodes]
    return objects.NUMATopology(cells=cells)


def _nova_device(dev: PciDevice) -> Any:
    extra: dict[str, str] = {}
    if dev.parent_ifname:
        extra["parent_ifname"] = dev.parent_ifname
    if dev.card_serial_number:
        extra["capabilities"] = json.dumps({"vpd": {"card_serial_number": dev.card_serial_number}})
    return objects.PciDevice(
        compute_node_id=1,
        address=str(dev.address),
        vendor_id=dev.vendor_id,
        product_id=dev.product_id,
        dev_type=str(dev.dev_type),
        numa_node=dev.numa_node,
        parent_addr=str(dev.parent_addr) if dev.parent_addr else None,
        status=str(dev.status),
        extra_info=extra,
    )


def _link_tree(devs: list[Any]) -> None:
    """The tracker's device tree (§2.5), which the compute-side consume relies on."""
    by_addr = {d.address: d for d in devs if d.status != "removed"}
    for d in by_addr.values():
        parent = by_addr.get(d.parent_addr) if d.parent_addr else None
        if parent is not None:
            d.parent_device = parent
            parent.child_devices.append(d)


def _normalised_entry(entry: dict[str, object]) -> dict[str, object]:
    """A device_spec entry as pciplane reads it: booleans normalised (Q5), and an
    untagged device untrusted (Q6)."""
    out = dict(entry)
    for key in ("trusted", "remote_managed"):
        value = out.get(key)
        if value is not None:
            word = normalise_word(str(value)) if not isinstance(value, bool) else str(value)
            out[key] = word.lower()
    out.setdefault("trusted", "false")
    return out


def normalised_specs(raw: tuple[object, ...]) -> tuple[object, ...]:
    out: list[object] = []
    for entry in raw:
        doc = json.loads(entry) if isinstance(entry, str) else entry
        items = doc if isinstance(doc, list) else [doc]
        out.append([_normalised_entry(e) if isinstance(e, dict) else e for e in items])
    return tuple(out)


def compute_stats(fleet: Fleet, host: Host) -> Any:
    """The compute node's PciDeviceStats (§2.6 start): allow-listed, available devices.

    Built afresh for every use that consumes: a deep copy of a PciDevice keeps its
    fields only, not the PF/VF tree the consume relies on.
    """
    SYSFS.use(host)
    raw = host.device_spec_raw if host.device_spec_raw is not None else fleet.device_spec_raw
    CONF.set_override("device_spec", _option_values(raw, split_lists=False), group="pci")
    allow = nova_whitelist.Whitelist(CONF.pci.device_spec)
    stats = nova_stats.PciDeviceStats(_numa_topology(host), dev_filter=allow)
    tracked = [_nova_device(d) for d in host.devices]
    tracked = [d for d in tracked if allow.get_devspec(d) is not None]
    _link_tree(tracked)
    for d in tracked:
        if d.status == "available":
            stats.add_device(d)
    return stats


def nova_host(fleet: Fleet, host: Host) -> NovaHost:
    """The scheduler's view of the host: pools serialised as the compute node saves them."""
    try:
        compute = compute_stats(fleet, host)
    except (nova_exc.NovaException, ValueError, TypeError, AttributeError) as exc:
        return NovaHost(fleet, host, error=f"{type(exc).__name__}: {exc}")
    pools = objects.PciDevicePoolList.obj_from_primitive(
        compute.to_device_pools_obj().obj_to_primitive()
    )
    scheduler = nova_stats.PciDeviceStats(
        compute.numa_topology, stats=pools, dev_filter=compute.dev_filter
    )
    return NovaHost(fleet, host, scheduler=scheduler)


@dataclass
class NovaRequest:
    requests: list[Any] = field(default_factory=list)
    cells: list[Any] | None = None
    error: str = ""


def nova_request_of(inp: RequestInput) -> NovaRequest:
    policy = inp.numa_policy
    try:
        reqs: list[Any] = []
        if inp.alias:
            flavor = objects.Flavor(extra_specs={"pci_passthrough:alias": inp.alias})
            reqs += nova_request.get_pci_requests_from_flavor(flavor, policy).requests
    except (nova_exc.NovaException, ValueError) as exc:
        return NovaRequest(error=f"{type(exc).__name__}: {exc}")
    for i, port in enumerate(inp.ports):
        spec: dict[str, str | None] = {
            "physical_network": port.physical_network,
            "remote_managed": "False",
        }
        if port.vnic_type == "direct-physical":
            spec["dev_type"] = "type-PF"
        if port.trusted is not None:
            spec["trusted"] = str(port.trusted)
        req = objects.InstancePCIRequest(
            count=1, spec=[spec], request_id=f"00000000-0000-0000-0000-{i:012d}",
            requester_id=f"port-{i}",
        )  # fmt: skip
        if port.numa_affinity_policy or policy:  # the port's own policy wins (§4.3)
            req.numa_policy = port.numa_affinity_policy or policy
        reqs.append(req)
    cells = None
    if inp.numa_cells is not None:
        cells = [objects.InstanceNUMACell(id=c) for c in inp.numa_cells]
    return NovaRequest(requests=reqs, cells=cells)


def nova_supports(host: NovaHost, req: NovaRequest, requests: list[Any] | None = None) -> bool:
    reqs = req.requests if requests is None else requests
    return bool(host.scheduler.support_requests(reqs, provider_mapping=None, numa_cells=req.cells))


def nova_claims(host: NovaHost, req: NovaRequest, requests: list[Any] | None = None) -> bool:
    """The compute node's claim (§2.6 claim_instance): consume from the pools with PF/VF
    dependencies, then ``claim()`` each device, which checks its relatives' statuses."""
    stats = compute_stats(host.fleet, host.host)
    reqs = req.requests if requests is None else requests
    try:
        devices = stats.consume_requests(copy.deepcopy(reqs), numa_cells=req.cells)
        for dev in devices or []:
            dev.claim("00000000-0000-0000-0000-0000000000aa")
    except nova_exc.NovaException:
        return False
    return True


def nova_some_order(host: NovaHost, req: NovaRequest, *, claim: bool = False) -> bool:
    """Whether some order of the requests passes Nova's scheduler (or its claim)."""
    if len(req.requests) < 2:
        return False
    check = nova_claims if claim else nova_supports
    orders = itertools.islice(itertools.permutations(req.requests), MAX_ORDERS)
    return any(check(host, req, list(order)) for order in orders)


# --- comparison -----------------------------------------------------------------------


def _normalised_host(host: NovaHost) -> NovaHost:
    if host.normalised is None:
        raw = host.host.device_spec_raw
        raw = raw if raw is not None else host.fleet.device_spec_raw
        spec = normalised_specs(raw)
        fleet = dataclasses.replace(host.fleet, device_spec_raw=spec)
        host.normalised = nova_host(fleet, dataclasses.replace(host.host, device_spec_raw=spec))
    return host.normalised


def _hint(host: NovaHost, req: NovaRequest, nova_yes: bool) -> str:
    """Why Nova and pciplane differ, found by asking Nova counterfactual questions.

    ``Q3``: Nova's own claim, which models PF/VF dependencies, disagrees with its
    scheduler and agrees with pciplane. ``order``: another order of the requests passes
    Nova's scheduler (``Q3+order``: its claim). ``Q5/Q6``: Nova with the device_spec
    normalised as pciplane reads it (booleans, untagged = untrusted) agrees with
    pciplane, alone or with the above. ``unexplained``: none of these.
    """
    fixed = _normalised_host(host)
    if nova_yes:
        if not nova_claims(host, req):
            return "Q3"
        if not fixed.error and not nova_supports(fixed, req):
            return "Q5/Q6"
        return "unexplained"
    for name, variant in (("", host), ("Q5/Q6+", fixed)):
        if variant.error:
            continue
        if name and nova_supports(variant, req):
            return "Q5/Q6"
        if nova_some_order(variant, req):
            return f"{name}order"
        if nova_claims(variant, req):
            return f"{name}Q3"
        if nova_some_order(variant, req, claim=True):
            return f"{name}Q3+order"
    return "unexplained"


_COUNT_ZERO = re.compile(r":\s*0+\s*(,|$)")


def _error_hint(inp: RequestInput, nova_err: str, ours_err: str) -> str:
    """``count0`` and ``Q1`` are documented; any other refusal by one side is ``error``."""
    if ours_err and not nova_err and _COUNT_ZERO.search(inp.alias):
        return "count0"
    if nova_err.startswith("PciDeviceNotFoundById") and not ours_err:
        return "Q1"  # a remote-managed PF named by address: Nova looks up an object repr
    return "error"


def compare_request(
    fleet: Fleet,
    index: FleetIndex,
    hosts: list[NovaHost],
    inp: RequestInput,
    report: Report,
) -> None:
    req = nova_request_of(inp)
    try:
        verdicts = list(index.fit(guest_from_input(inp, fleet.aliases)).verdicts())
        ours_error = ""
    except PciplaneError as exc:
        verdicts, ours_error = [], f"{type(exc).__name__}: {exc}"
    for i, (host, nh) in enumerate(zip(fleet.hosts, hosts, strict=True)):
        report.compared += 1
        nova_err = req.error or nh.error
        nova_yes = not nova_err and nova_supports(nh, req)
        ours_yes = not ours_error and verdicts[i].fits
        if nova_yes == ours_yes:
            report.agreed += 1
            continue
        if nova_err or ours_error:
            hint = _error_hint(inp, nova_err, ours_error)
        else:
            hint = _hint(nh, req, nova_yes)
        report.disagreements.append(
            {
                "host": host.name,
                "request": inp.as_json(),
                "nova": nova_err or nova_yes,
                "pciplane": ours_error or ours_yes,
                "pciplane_reason": "" if ours_error else verdicts[i].reason,
                "hint": hint,
            }
        )


def run(fleet_path: str, requests_path: str) -> Report:
    fleet = load_fleet(json.loads(Path(fleet_path).read_text()), source=fleet_path)
    inputs = inputs_from_file(requests_path)
    configure_aliases(fleet)
    index = FleetIndex.build(fleet)
    hosts = [nova_host(fleet, h) for h in fleet.hosts]
    report = Report()
    for inp in inputs:
        compare_request(fleet, index, hosts, inp, report)
    return report


def _print_text(report: Report, limit: int) -> None:
    print(f"compared {report.compared} host x request verdicts, agreed {report.agreed}")
    for hint, n in sorted(report.by_class().items()):
        print(f"  {hint}: {n}" + ("" if explained(hint) else "  (not a documented class)"))
    for d in report.disagreements[:limit]:
        print(json.dumps(d))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", required=True)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show", type=int, default=20, help="disagreements to print")
    args = parser.parse_args(argv)
    report = run(args.fleet, args.requests)
    if args.json:
        out = {
            "compared": report.compared,
            "agreed": report.agreed,
            "by_class": dict(report.by_class()),
            "unexplained": len(report.unexplained()),
            "disagreements": report.disagreements,
        }
        print(json.dumps(out, indent=1, default=str))
    else:
        _print_text(report, args.show)
    return report.exit_status()


if __name__ == "__main__":
    sys.exit(main())
