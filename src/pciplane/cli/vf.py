"""``pciplane vf PF N``: the settings plan for VF N of PF, printed as ``ip link`` lines.

Nothing touches the host unless ``--apply`` is given; then the plan is sent over netlink
through pyroute2, which needs root (CAP_NET_ADMIN) and a real SR-IOV PF. ``--release``
prints (or applies) the plan that resets the VF: MAC zeroed, VLAN 0, spoof checking on,
trust off, link state auto, no rate limits.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from pciplane.core.errors import HypervisorError
from pciplane.host.vf_settings import (
    LinkState,
    VfPlan,
    VfSettings,
    apply,
    assign_plan,
    full_release_plan,
)


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, not {value!r}")
    return value == "on"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "vf",
        help="plan (and with --apply, set) an SR-IOV VF's MAC, VLAN, trust, rates",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("pf", metavar="PF", help="the PF's network interface (ens1f0)")
    parser.add_argument("vf", metavar="N", type=int, help="the VF index (N of virtfnN)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--mac", help="the MAC address to give the VF")
    what.add_argument("--release", action="store_true", help="reset the VF instead")
    parser.add_argument("--vlan", type=int, help="802.1Q VLAN id (0 or absent: untagged)")
    parser.add_argument("--qos", type=int, default=0, help="802.1p priority for the VLAN")
    parser.add_argument("--spoofchk", type=_on_off, default=True, help="on (default) or off")
    parser.add_argument("--trust", type=_on_off, default=False, help="on or off (default)")
    parser.add_argument(
        "--state", choices=[s.value for s in LinkState], default=LinkState.AUTO.value
    )
    parser.add_argument("--max-tx-rate", type=int, metavar="MBPS")
    parser.add_argument("--min-tx-rate", type=int, metavar="MBPS")
    parser.add_argument("--apply", action="store_true", help="set it over netlink (root)")
    parser.set_defaults(func=run)


def build_plan(args: argparse.Namespace) -> VfPlan:
    if args.release:
        return full_release_plan(pf=args.pf, vf=args.vf)
    settings = VfSettings(
        mac=args.mac.lower(),
        vlan=args.vlan,
        qos=args.qos,
        spoofchk=args.spoofchk,
        trust=args.trust,
        link_state=LinkState(args.state),
        max_tx_rate=args.max_tx_rate,
        min_tx_rate=args.min_tx_rate,
    )
    return assign_plan(pf=args.pf, vf=args.vf, settings=settings)


def run(args: argparse.Namespace) -> int:
    plan = build_plan(args)
    for line in plan.commands():
        print(line)
    if not args.apply:
        return 0
    if os.geteuid() != 0:
        raise HypervisorError("--apply sets VF settings over netlink and needs root")
    try:
        from pyroute2 import IPRoute
    except ImportError as exc:  # pragma: no cover - the host extra is not installed
        raise HypervisorError("pyroute2 is not installed (pip install pciplane[host])") from exc
    with IPRoute() as netlink:
        apply(plan, netlink=netlink)
    print(f"applied {len(plan.operations)} settings to {plan.pf} vf {plan.vf}")
    return 0
