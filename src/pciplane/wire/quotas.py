"""Per-project quotas on the wire."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from pciplane.wire.common import Answer, Strict


class QuotaOut(Answer):
    #: ``instances``, ``cores``, ``ram`` (MiB), ``pci_devices:ALIAS``, ``sriov_ports:PHYSNET``.
    resource: str
    #: -1: unlimited.
    limit: int
    in_use: int
    #: The project's own limit (``quota set``); False: the default from the settings.
    own: bool


class QuotaSetOut(Answer):
    project: str
    quotas: list[QuotaOut]


class QuotaSetIn(Strict):
    """Resource -> limit (-1 unlimited); null removes the project's own limit."""

    limits: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=300)], int | None],
        Field(max_length=256),
    ]
