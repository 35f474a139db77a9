"""Nova's server actions over pciplane's lifecycle service: ``os-stop``, ``os-start``,
``reboot``.

``openstack server stop|start|reboot [--hard]`` send ``POST /servers/{id}/action`` with
one key naming the action (``{"os-stop": null}``, ``{"reboot": {"type": "HARD"}}``); the
answer is 202 with no body once the agent's work is queued, and the server's status shows
the action under way (``task_state`` ``powering-off``, status ``REBOOT``) until the agent
reports. A server in a state that cannot take the action is a 409 naming the state, as
Nova's InstanceInvalidState; an action pciplane does not carry out is a 400 naming it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Request
from fastapi.responses import Response
from pydantic import JsonValue

from pciplane.api.auth import Who
from pciplane.api.openstack.nova_common import IdParam
from pciplane.api.openstack.nova_servers import _scope, live_server
from pciplane.api.paths import services
from pciplane.core.errors import RequestError
from pciplane.core.power import PowerAction

#: Nova's reboot types (``reboot.type``), case as Nova's schema takes them.
REBOOT_TYPES = {"SOFT": PowerAction.REBOOT, "HARD": PowerAction.HARD_REBOOT}
SIMPLE = {"os-stop": PowerAction.STOP, "os-start": PowerAction.START}


def action_of(body: object) -> PowerAction:
    """The action the body names; a RequestError naming what is wrong."""
    if not isinstance(body, dict) or len(body) != 1:
        raise RequestError("the body must be an object with exactly one key, the action")
    ((name, value),) = body.items()
    if name in SIMPLE:
        return SIMPLE[name]
    if name == "reboot":
        kind = value.get("type") if isinstance(value, dict) else None
        if not isinstance(value, dict) or set(value) != {"type"} or kind not in REBOOT_TYPES:
            raise RequestError('reboot: expected {"type": "SOFT"} or {"type": "HARD"}')
        return REBOOT_TYPES[str(kind)]
    known = ", ".join([*SIMPLE, "reboot"])
    raise RequestError(f"there is no such action: {name!r} (pciplane carries out {known})")


def server_action(
    request: Request,
    server_id: IdParam,
    who: Who,
    body: Annotated[dict[str, JsonValue], Body()],
) -> Response:
    """``POST /servers/{id}/action``: 202, the agent's work queued."""
    action = action_of(body)
    server = live_server(request, server_id, who)
    services(request).lifecycle.request(server.id, _scope(who), action)
    return Response(status_code=202)
