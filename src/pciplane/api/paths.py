"""Path parameters, checked before a handler runs: a name a column can hold, no NUL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from pciplane.service.context import Services
from pciplane.wire.common import NAME_PATTERN

NameParam = Annotated[str, Path(min_length=1, max_length=256, pattern=NAME_PATTERN)]
ServerIdParam = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
WorkIdParam = int


def services(request: Request) -> Services:
    """The process's services (built once by the app factory)."""
    found: Services = request.app.state.services
    return found
