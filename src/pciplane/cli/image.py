"""``pciplane image create|list|show|delete``: the boot images servers start from."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pciplane.cli._api import add_client_args, client_from, print_json
from pciplane.cli.table import print_table
from pciplane.core.image import DiskFormat
from pciplane.wire.images import ImageOut


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("image", help="boot images (qcow2, raw)")
    cmds = parser.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    create = cmds.add_parser("create", help="upload an image file")
    create.add_argument("name")
    create.add_argument("--file", type=Path, required=True, metavar="PATH", help="the image")
    create.add_argument(
        "--disk-format",
        choices=[f.value for f in DiskFormat],
        help="refuse the file unless it is this (default: as qemu-img finds it)",
    )
    create.set_defaults(func=_create)
    listing = cmds.add_parser("list", help="list images")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show one image and the servers booting from it")
    show.add_argument("image", metavar="NAME|ID")
    show.set_defaults(func=_show)
    delete = cmds.add_parser("delete", help="delete an image no server uses")
    delete.add_argument("image", metavar="NAME|ID")
    delete.set_defaults(func=_delete)
    for p in (create, listing, show, delete):
        add_client_args(p)


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print(args: argparse.Namespace, image: ImageOut) -> None:
    if args.json:
        print_json(image)
        return
    print_table(
        ["FIELD", "VALUE"],
        [
            ("id", image.id),
            ("name", image.name),
            ("disk_format", image.disk_format),
            ("size", image.size),
            ("virtual_size", image.virtual_size),
            ("sha256", image.sha256),
            ("owner", image.owner),
            ("created_at", _when(image.created_at)),
            ("servers", ", ".join(image.servers)),
        ],
    )


def _create(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        image = client.create_image(args.name, args.file, disk_format=args.disk_format)
    _print(args, image)
    return 0


def _list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        images = client.list_images()
    if args.json:
        print_json(images)
    else:
        print_table(
            ["ID", "NAME", "FORMAT", "SIZE", "SHA256"],
            [(i.id, i.name, i.disk_format, i.size, i.sha256[:16]) for i in images],
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _print(args, client.get_image(args.image))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        client.delete_image(args.image)
    if args.json:
        print_json({"deleted": args.image})
    return 0
