"""What the Nova handlers share: path parameters, Nova's loose integers, paging."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Query
from pydantic import BeforeValidator, Field

from pciplane.api.openstack.microversions import Microversion, microversion
from pciplane.core.errors import NotFoundError, RequestError
from pciplane.wire.common import INT32_MAX

T = TypeVar("T")

#: An id or name in a path: Nova takes any text; no control character reaches a query.
IdParam = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")]
Version = Annotated[Microversion, Depends(microversion)]
Limit = Annotated[int | None, Query(ge=0, le=INT32_MAX)]
Marker = Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00-\x1f]+$")]


def _loose_int(value: object) -> object:
    """Nova takes ``"1024"`` wherever it takes ``1024`` (its JSON schemas allow both)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


#: A whole number, as an integer or a string of digits (never a boolean, never 1.5).
LooseInt = Annotated[int, BeforeValidator(_loose_int), Field(strict=True)]


def page(
    items: Sequence[T],
    key: Callable[[T], str],
    *,
    limit: int | None,
    marker: str | None,
    what: str,
) -> tuple[list[T], str | None]:
    """One page after ``marker`` (whose item must exist, as in Nova), and the marker of the
    next page when this one is full and more follow."""
    start = 0
    if marker is not None:
        keys = [key(item) for item in items]
        if marker not in keys:
            raise RequestError(f"marker [{marker}] not found: no such {what}")
        start = keys.index(marker) + 1
    if limit is None:
        return list(items[start:]), None
    chosen = list(items[start : start + limit])
    more = start + limit < len(items)
    return chosen, key(chosen[-1]) if more and chosen else None


def not_found(what: str, ident: str) -> NotFoundError:
    return NotFoundError(f"{what} {ident} could not be found.")
