"""The read-only web UI at ``/ui``: pages rendered on the server from the same service
calls the JSON API makes, a stylesheet and one small script, all served by pciplane.

:func:`mount` adds the routes of :data:`ROUTES`, the static files, the sign-in redirect and
the HTML error pages to an app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from pciplane.api import errors
from pciplane.api.ui import error_pages, fleet, host, servers, session, whatif

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/ui"


@dataclass(frozen=True, kw_only=True, slots=True)
class UiRoute:
    method: str
    path: str
    handler: Callable[..., object]


ROUTES: tuple[UiRoute, ...] = (
    UiRoute(method="GET", path="/ui", handler=session.home),
    UiRoute(method="GET", path="/ui/login", handler=session.login_form),
    UiRoute(method="POST", path="/ui/login", handler=session.login),
    UiRoute(method="POST", path="/ui/logout", handler=session.logout),
    UiRoute(method="GET", path="/ui/fleet", handler=fleet.show),
    UiRoute(method="GET", path="/ui/hosts/{name}", handler=host.show),
    UiRoute(method="GET", path="/ui/servers", handler=servers.list_servers),
    UiRoute(method="GET", path="/ui/servers/{server_id}", handler=servers.show_server),
    UiRoute(method="GET", path="/ui/ports", handler=servers.list_ports),
    UiRoute(method="GET", path="/ui/ports/{port_id}", handler=servers.show_port),
    UiRoute(method="GET", path="/ui/why", handler=whatif.why),
    UiRoute(method="GET", path="/ui/capacity", handler=whatif.capacity),
)


def mount(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="ui-static")
    for route in ROUTES:
        app.add_api_route(
            route.path,
            route.handler,
            methods=[route.method],
            include_in_schema=False,
            response_class=HTMLResponse,
        )
    app.add_exception_handler(session.SignInRequired, session.to_sign_in)
    errors.RENDERERS[PREFIX] = error_pages.render
    errors.UNEXPECTED[PREFIX] = error_pages.unexpected
