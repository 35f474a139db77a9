"""``pciplane port create|list|show|set|unset|delete``, in the ``openstack port`` command's
flag names (``--network``, ``--vnic-type``, ``--binding-profile k=v``, ``--mac-address``,
``--host``, ``--disable-port-security``, ``--numa-policy-*``, ...), on the service's
Neutron v2.0 API. ``--binding-profile`` takes ``KEY=VALUE`` (a string, as the openstack
CLI sends it) or a JSON object; ``--host`` binds the port to a host without a server.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json
from pciplane.cli.table import print_table
from pciplane.core.request import NumaPolicy, VnicType
from pciplane.wire.networks import PortOut


def binding_profile(text: str) -> dict[str, object]:
    """``KEY=VALUE`` (the value a string) or a JSON object, as ``openstack`` takes it."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not a JSON object: {exc.msg}") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError("a JSON binding profile must be an object")
        return value
    key, sep, val = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE or a JSON object")
    return {key: val}


def _port_flags(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--vnic-type", choices=[v.value for v in VnicType])
    parser.add_argument("--binding-profile", action="append", type=binding_profile, default=[],
                        metavar="KEY=VALUE|JSON")  # fmt: skip
    parser.add_argument("--mac-address")
    parser.add_argument("--host", help="bind the port to this host (admin)")
    parser.add_argument("--description")
    parser.add_argument("--device", help="device_id")
    parser.add_argument("--device-owner")
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="admin_state_up", action="store_true", default=None)
    state.add_argument("--disable", dest="admin_state_up", action="store_false")
    security = parser.add_mutually_exclusive_group()
    security.add_argument("--enable-port-security", dest="port_security", action="store_true",
                          default=None)  # fmt: skip
    security.add_argument("--disable-port-security", dest="port_security", action="store_false")
    numa = parser.add_mutually_exclusive_group()
    for policy in NumaPolicy:
        numa.add_argument(f"--numa-policy-{policy.value}", dest="numa_policy",
                          action="store_const", const=policy.value)  # fmt: skip
    uplink = parser.add_mutually_exclusive_group()
    uplink.add_argument("--enable-uplink-status-propagation", dest="uplink", action="store_true",
                        default=None)  # fmt: skip
    uplink.add_argument("--disable-uplink-status-propagation", dest="uplink",
                        action="store_false")  # fmt: skip
    if create:
        parser.add_argument("--network", required=True, help="network name or id")
        parser.add_argument("--project", help="the project to create it for (admin)")
    else:
        parser.add_argument("--name")
        parser.add_argument("--no-binding-profile", action="store_true",
                            help="clear the profile's own keys (the service's stay)")  # fmt: skip


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("port", help="ports (Neutron's)")
    cmds = parser.add_subparsers(dest="port_command", metavar="ACTION", required=True)
    create = cmds.add_parser("create", help="create a port")
    create.add_argument("name")
    _port_flags(create, create=True)
    create.set_defaults(func=_create)
    listing = cmds.add_parser("list", help="list ports")
    listing.add_argument("--network", help="network name or id")
    listing.add_argument("--server", help="server name or id (its device_id)")
    listing.add_argument("--name")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show one port (name or id)")
    show.add_argument("port")
    show.set_defaults(func=_show)
    set_ = cmds.add_parser("set", help="change a port")
    set_.add_argument("port")
    _port_flags(set_, create=False)
    set_.set_defaults(func=_set)
    unset = cmds.add_parser("unset", help="remove settings from a port")
    unset.add_argument("port")
    unset.add_argument("--binding-profile", action="append", default=[], metavar="KEY")
    unset.add_argument("--host", action="store_true", help="unbind it from its host")
    unset.add_argument("--numa-policy", action="store_true")
    unset.set_defaults(func=_unset)
    delete = cmds.add_parser("delete", help="delete ports (names or ids)")
    delete.add_argument("port", nargs="+")
    delete.set_defaults(func=_delete)
    for p in (create, listing, show, set_, unset, delete):
        add_client_args(p)


def _common(args: argparse.Namespace) -> dict[str, object]:
    attrs: dict[str, object] = {}
    for key, value in (
        ("binding:vnic_type", args.vnic_type),
        ("mac_address", args.mac_address),
        ("binding:host_id", args.host),
        ("description", args.description),
        ("device_id", args.device),
        ("device_owner", args.device_owner),
        ("admin_state_up", args.admin_state_up),
        ("port_security_enabled", args.port_security),
        ("numa_affinity_policy", args.numa_policy),
        ("propagate_uplink_status", args.uplink),
    ):
        if value is not None:
            attrs[key] = value
    return attrs


def _profile(items: list[dict[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        out.update(item)
    return out


def _print(args: argparse.Namespace, port: PortOut) -> None:
    if args.json:
        print_json(port)
        return
    rows: list[tuple[str, object]] = [
        ("id", port.id),
        ("name", port.name),
        ("network_id", port.network_id),
        ("project_id", port.project_id),
        ("mac_address", port.mac_address),
        ("status", port.status),
        ("admin_state_up", port.admin_state_up),
        ("device_id", port.device_id),
        ("device_owner", port.device_owner),
        ("port_security_enabled", port.port_security_enabled),
        ("numa_affinity_policy", port.numa_affinity_policy),
        ("propagate_uplink_status", port.propagate_uplink_status),
        ("binding:vnic_type", port.vnic_type),
        ("binding:host_id", port.host_id),
        ("binding:vif_type", port.vif_type),
        ("binding:vif_details", json.dumps(port.vif_details, sort_keys=True)),
        ("binding:profile", json.dumps(port.profile, sort_keys=True)),
    ]
    print_table(["FIELD", "VALUE"], rows)


def _create(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        network = client.find_network(args.network)
        attrs = {"name": args.name, "network_id": network.id, "admin_state_up": True,
                 **_common(args)}  # fmt: skip
        if args.binding_profile:
            attrs["binding:profile"] = _profile(args.binding_profile)
        if args.project:
            attrs["project_id"] = args.project
        _print(args, client.create_port(attrs))
    return 0


def _list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        network = client.find_network(args.network).id if args.network else None
        device = client.find_server(args.server).id if args.server else None
        ports = client.list_ports(name=args.name, network_id=network, device_id=device)
    if args.json:
        print_json(ports)
        return 0
    print_table(
        ["ID", "NAME", "MAC ADDRESS", "VNIC TYPE", "STATUS", "HOST", "VIF TYPE", "PCI SLOT"],
        [
            (p.id, p.name, p.mac_address, p.vnic_type, p.status, p.host_id, p.vif_type,
             p.profile.get("pci_slot"))
            for p in ports
        ],
    )  # fmt: skip
    return 0


def _show(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _print(args, client.find_port(args.port))
    return 0


def _set(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        port = client.find_port(args.port)
        attrs = _common(args)
        if args.name is not None:
            attrs["name"] = args.name
        if args.no_binding_profile or args.binding_profile:
            # As the openstack CLI does: read the whole profile, change it, write it back
            # (the service keeps its own keys, clients §7.6).
            base = {} if args.no_binding_profile else dict(port.profile)
            attrs["binding:profile"] = {**base, **_profile(args.binding_profile)}
        _print(args, client.update_port(port.id, attrs))
    return 0


def _unset(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        port = client.find_port(args.port)
        attrs: dict[str, object] = {}
        if args.binding_profile:
            kept = {k: v for k, v in port.profile.items() if k not in args.binding_profile}
            attrs["binding:profile"] = kept
        if args.host:
            attrs["binding:host_id"] = ""
        if args.numa_policy:
            attrs["numa_affinity_policy"] = None
        _print(args, client.update_port(port.id, attrs))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        for name in args.port:
            client.delete_port(client.find_port(name).id)
    if args.json:
        print_json({"deleted": args.port})
    return 0
