"""``pciplane network create|list|show|set|delete`` and ``network agent list|show``, in the
``openstack network`` command's flag names (``--provider-network-type``,
``--provider-physical-network``, ``--provider-segment``, ``--share``, ...), on the
service's Neutron v2.0 API. ``--segment`` (pciplane's) gives a multi-segment network.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json
from pciplane.cli.table import print_table
from pciplane.core.errors import ConfigError
from pciplane.wire.networks import AgentOut, NetworkOut

SEGMENT_KEYS = {
    "network_type": "provider:network_type",
    "physical_network": "provider:physical_network",
    "segmentation_id": "provider:segmentation_id",
}


def segment(text: str) -> dict[str, str]:
    """``network_type=vlan,physical_network=physnet1,segmentation_id=101``."""
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in SEGMENT_KEYS:
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(SEGMENT_KEYS)}"
            )
        out[SEGMENT_KEYS[key.strip()]] = value.strip()
    return out


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("network", help="networks (Neutron's)")
    cmds = parser.add_subparsers(dest="network_command", metavar="ACTION", required=True)
    create = cmds.add_parser("create", help="create a network")
    create.add_argument("name")
    create.add_argument("--provider-network-type", metavar="TYPE",
                        help="flat, vlan, vxlan, gre, geneve or local")  # fmt: skip
    create.add_argument("--provider-physical-network", metavar="PHYSNET")
    create.add_argument("--provider-segment", metavar="ID", help="the VLAN id (or tunnel id)")
    create.add_argument("--segment", action="append", type=segment, default=[],
                        metavar="network_type=T,physical_network=P,segmentation_id=N",
                        help="one segment of a multi-segment network (repeat)")  # fmt: skip
    create.add_argument("--share", action="store_true", help="usable by every project")
    create.add_argument("--mtu", type=int)
    create.add_argument("--description")
    create.add_argument("--project", help="the project to create it for (admin)")
    security = create.add_mutually_exclusive_group()
    security.add_argument("--enable-port-security", dest="port_security", action="store_true",
                          default=None)  # fmt: skip
    security.add_argument("--disable-port-security", dest="port_security", action="store_false")
    create.set_defaults(func=_create)
    listing = cmds.add_parser("list", help="list networks")
    listing.add_argument("--name")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show one network (name or id)")
    show.add_argument("network")
    show.set_defaults(func=_show)
    delete = cmds.add_parser("delete", help="delete networks (names or ids)")
    delete.add_argument("network", nargs="+")
    delete.set_defaults(func=_delete)
    agent = cmds.add_parser("agent", help="the host agents (GET /v2.0/agents)")
    agent_cmds = agent.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    agents = agent_cmds.add_parser("list", help="each host's agent, alive or not, its mappings")
    agents.add_argument("--host")
    agents.set_defaults(func=_agents)
    one = agent_cmds.add_parser("show", help="one agent (id or host)")
    one.add_argument("agent")
    one.set_defaults(func=_agent)
    for p in (create, listing, show, delete, agents, one):
        add_client_args(p)


def _attrs(args: argparse.Namespace) -> dict[str, object]:
    attrs: dict[str, object] = {"name": args.name, "admin_state_up": True}
    for key, value in (
        ("provider:network_type", args.provider_network_type),
        ("provider:physical_network", args.provider_physical_network),
        ("provider:segmentation_id", args.provider_segment),  # a string, as the CLI sends it
        ("description", args.description),
        ("mtu", args.mtu),
        ("project_id", args.project),
        ("port_security_enabled", args.port_security),
    ):
        if value is not None:
            attrs[key] = value
    if args.share:
        attrs["shared"] = True
    if args.segment:
        if args.provider_network_type or args.provider_physical_network or args.provider_segment:
            raise ConfigError("--segment cannot be combined with the --provider-* flags")
        attrs["segments"] = args.segment
    return attrs


def segments_text(network: NetworkOut) -> str:
    """``vlan physnet1 100; flat physnet2`` (the admin sees the provider attributes)."""
    if network.segments:
        parts = [(s.network_type, s.physical_network, s.segmentation_id) for s in network.segments]
    elif network.network_type:
        parts = [(network.network_type, network.physical_network, network.segmentation_id)]
    else:
        return ""
    return "; ".join(" ".join(str(p) for p in part if p is not None) for part in parts)


def _print(args: argparse.Namespace, network: NetworkOut) -> None:
    if args.json:
        print_json(network)
        return
    rows: list[tuple[str, object]] = [
        ("id", network.id),
        ("name", network.name),
        ("project_id", network.project_id),
        ("status", network.status),
        ("admin_state_up", network.admin_state_up),
        ("shared", network.shared),
        ("mtu", network.mtu),
        ("port_security_enabled", network.port_security_enabled),
    ]
    if network.segments:
        for i, part in enumerate(segments_text(network).split("; ")):
            rows.append((f"segments[{i}]", part))
        print_table(["FIELD", "VALUE"], rows)
        return
    rows += [
        ("provider:network_type", network.network_type),
        ("provider:physical_network", network.physical_network),
        ("provider:segmentation_id", network.segmentation_id),
    ]
    print_table(["FIELD", "VALUE"], rows)


def _create(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _print(args, client.create_network(_attrs(args)))
    return 0


def _list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        networks = client.list_networks(name=args.name)
    if args.json:
        print_json(networks)
        return 0
    print_table(
        ["ID", "NAME", "SEGMENTS", "SHARED", "PROJECT"],
        [(n.id, n.name, segments_text(n), n.shared, n.project_id) for n in networks],
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _print(args, client.find_network(args.network))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        for name in args.network:
            client.delete_network(client.find_network(name).id)
    if args.json:
        print_json({"deleted": args.network})
    return 0


def _agent_rows(agent: AgentOut) -> tuple[object, ...]:
    mappings = agent.configurations.get("device_mappings") or {}
    shown = json.dumps(mappings, sort_keys=True) if mappings else ""
    return (agent.host, agent.agent_type, "yes" if agent.alive else "DOWN", shown)


def _agents(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        agents = client.list_agents(host=args.host)
    if args.json:
        print_json(agents)
        return 0
    print_table(
        ["HOST", "AGENT TYPE", "ALIVE", "DEVICE MAPPINGS"], [_agent_rows(a) for a in agents]
    )
    return 0


def _agent(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        agent = client.get_agent(args.agent)
    if args.json:
        print_json(agent)
        return 0
    rows: list[tuple[str, object]] = [
        ("id", agent.id),
        ("host", agent.host),
        ("agent_type", agent.agent_type),
        ("binary", agent.binary),
        ("alive", agent.alive),
        ("heartbeat_timestamp", agent.heartbeat_timestamp),
    ]
    rows += [(f"configurations.{k}", json.dumps(v)) for k, v in agent.configurations.items()]
    print_table(["FIELD", "VALUE"], rows)
    return 0
