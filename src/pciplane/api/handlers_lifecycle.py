"""Server stop, start and reboot on pciplane's own API: body -> lifecycle service -> view."""

from __future__ import annotations

from fastapi import Request

from pciplane.api import views
from pciplane.api.auth import Who, require_user
from pciplane.api.paths import ServerIdParam, services
from pciplane.core.power import PowerAction
from pciplane.wire import servers as ws


def _act(request: Request, server_id: str, who: Who, action: PowerAction) -> ws.ServerOut:
    project = require_user(who)
    return views.server_out(services(request).lifecycle.request(server_id, project, action))


def stop_server(request: Request, server_id: ServerIdParam, who: Who) -> ws.ServerOut:
    """Shut the guest down (202); the server is SHUTOFF once the agent reports, its
    devices and ports still its own."""
    return _act(request, server_id, who, PowerAction.STOP)


def start_server(request: Request, server_id: ServerIdParam, who: Who) -> ws.ServerOut:
    """Start a SHUTOFF server's guest again on its host (202)."""
    return _act(request, server_id, who, PowerAction.START)


def reboot_server(
    request: Request, server_id: ServerIdParam, who: Who, body: ws.RebootIn | None = None
) -> ws.ServerOut:
    """Reboot (202): clean shutdown and start, or with ``hard`` power off, define afresh
    from the plan and start (also from SHUTOFF and ERROR)."""
    hard = body is not None and body.hard
    return _act(request, server_id, who, PowerAction.HARD_REBOOT if hard else PowerAction.REBOOT)
