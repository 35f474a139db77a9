"""``/healthz`` and ``/metrics``: unauthenticated, read-only, cheap."""

from __future__ import annotations

from fastapi import Request, Response

from pciplane.api.paths import services
from pciplane.service.metrics import CONTENT_TYPE
from pciplane.wire.common import Health


def healthz(request: Request) -> Health:
    return Health(status="ok", database=services(request).health())


def metrics(request: Request) -> Response:
    return Response(services(request).metrics_text(), media_type=CONTENT_TYPE)
