"""Pages: the template environment, the one call that renders a page, and its headers.

Every page is rendered here on the server (Jinja2, autoescaped); the only script is
``static/ui.js``. The content security policy lets a page load nothing but pciplane's own
files, so a browser on an air-gapped management network never reaches out, and a signed-in
page is never cached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from pciplane.api.auth import Principal

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def ago(timestamp: float | None, now: float | None = None) -> str:
    """``12s ago``, ``3m ago``, ``2h ago``, ``never``."""
    if timestamp is None:
        return "never"
    seconds = max(0, int((now if now is not None else time.time()) - timestamp))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=_plain)


def compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=_plain)


ENV = Environment(
    loader=PackageLoader("pciplane.api.ui", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(ago=ago, when=when, pretty=pretty, compact=compact)


def page(
    template: str, *, who: Principal | None, status: int = 200, **context: Any
) -> HTMLResponse:
    html = ENV.get_template(template).render(who=who, **context)
    return HTMLResponse(html, status_code=status, headers=dict(HEADERS))
