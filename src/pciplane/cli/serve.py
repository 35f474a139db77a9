"""``pciplane serve``: the API service on uvicorn (an entry point of the service ring).

Settings come from ``--config FILE`` (TOML), the environment (``PCIPLANE_*``) and these
flags, built once here and passed down. Without any admin token one is generated and
printed, so the service never runs open.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

from pciplane.api.app import create_app
from pciplane.api.settings import Settings, build_settings
from pciplane.cli.flag_types import LOG_LEVELS, port_number
from pciplane.conf.pci_entries import FILE_HELP


def add_settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file ([pciplane] table)")
    parser.add_argument("--db", dest="db_url", help="database URL (default: SQLite in data dir)")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("serve", help="run the API service")
    add_settings_args(parser)
    parser.add_argument("--host", dest="bind_host", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="port to listen on (8774)")
    parser.add_argument("--admin-token", help="the admin bearer token (env PCIPLANE_ADMIN_TOKEN)")
    parser.add_argument("--weigher", choices=["pack", "spread"])
    parser.add_argument("--alias-file", type=Path, help=f"[pci] alias entries: {FILE_HELP}")
    parser.add_argument("--virt-type", help="libvirt domain type in the XML (kvm, qemu, test)")
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    parser.set_defaults(func=_serve)


def settings_from(args: argparse.Namespace, extra: tuple[str, ...] = ()) -> Settings:
    names = ("db_url", *extra)
    flags = {name: getattr(args, name, None) for name in names}
    return build_settings(config=args.config, flags=flags)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_from(
        args, ("bind_host", "port", "admin_token", "weigher", "alias_file", "virt_type")
    )
    if not settings.admin_token:
        token = secrets.token_urlsafe(24)
        settings = settings.with_overrides({"admin_token": token})
        print(f"pciplane serve: no admin token configured; generated: {token}", file=sys.stderr)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    app = create_app(settings)
    print(
        f"pciplane serve: http://{settings.bind_host}:{settings.port} "
        f"database {app.state.ctx.db.engine.url.render_as_string(hide_password=True)}",
        file=sys.stderr,
    )
    uvicorn.run(app, host=settings.bind_host, port=settings.port, log_level=args.log_level)
    return 0
