"""``pciplane serve``: the API service on uvicorn (an entry point of the service ring).

Settings come from ``--config FILE`` (TOML), the environment (``PCIPLANE_*``) and these
flags, built once here and passed down; ``--help`` lists every setting. Without any
admin token one is generated and printed, so the service never runs open.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

from pciplane.api.app import create_app
from pciplane.cli.flag_types import LOG_LEVELS, port_number
from pciplane.conf.pci_entries import FILE_HELP
from pciplane.service.settings import Settings, build_settings, describe_settings

#: Flags of ``serve``, each a setting of the same name (``--db`` is ``db_url``).
SERVE_FLAGS = ("db_url", "bind_host", "port", "admin_token", "weigher", "alias_file", "log_level")


def add_settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file ([pciplane] table)")
    parser.add_argument("--db", dest="db_url", help="database URL (default: SQLite in data dir)")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run the API service",
        epilog=describe_settings(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_args(parser)
    parser.add_argument("--host", dest="bind_host", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="port to listen on (8774)")
    parser.add_argument("--admin-token", help="the admin bearer token (env PCIPLANE_ADMIN_TOKEN)")
    parser.add_argument("--weigher", choices=["pack", "spread"])
    parser.add_argument("--alias-file", type=Path, help=f"[pci] alias entries: {FILE_HELP}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="(default info)")
    parser.set_defaults(func=_serve)


def settings_from(args: argparse.Namespace, names: tuple[str, ...] = ("db_url",)) -> Settings:
    """The settings: defaults, ``--config``, the environment, then the flags given."""
    return build_settings(
        config=args.config, flags={name: getattr(args, name, None) for name in names}
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_from(args, SERVE_FLAGS)
    if not settings.admin_token:
        token = secrets.token_urlsafe(24)
        settings = settings.with_overrides(admin_token=token)
        print(f"pciplane serve: no admin token configured; generated: {token}", file=sys.stderr)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    app = create_app(settings)
    url = app.state.services.db.engine.url.render_as_string(hide_password=True)
    print(
        f"pciplane serve: http://{settings.bind_host}:{settings.port} database {url}",
        file=sys.stderr,
    )
    uvicorn.run(
        app,
        host=settings.bind_host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )
    return 0
