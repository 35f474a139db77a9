"""Per-project quotas: the limits (settings' defaults, a project's own overrides), the
usage, ``quota show|set``, and the check a create or a port attach makes.

The check runs twice: once before scheduling, so an over-quota request is refused at
once, and once inside the claim's transaction under the project's lock
(:func:`pciplane.store.quotas.lock`), which is the one that counts: two hundred
concurrent creates of one project cannot together go over, whichever API process serves
them. Over quota is :class:`QuotaExceededError` (HTTP 403) and nothing is claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from pciplane.core.network import request_physnets
from pciplane.core.quota import (
    CORES,
    INSTANCES,
    PCI_PREFIX,
    PORT_PREFIX,
    RAM,
    UNLIMITED,
    binding,
    check,
    check_limit,
    check_resource,
    order,
)
from pciplane.service.settings import Settings
from pciplane.store import quotas as store
from pciplane.store.db import Database
from pciplane.store.networks import NetworkRecord

Guard = Callable[[Connection], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class QuotaLine:
    """One resource of a project: its limit (-1 unlimited), what is used, and whether
    the limit is the project's own (``quota set``) or the default."""

    resource: str
    limit: int
    in_use: int
    own: bool


def nic_physnets(networks: Iterable[NetworkRecord]) -> list[str]:
    """The physical network each SR-IOV port counts against (its network's first)."""
    out = []
    for network in networks:
        physnets = request_physnets(network.segments)
        if physnets:
            out.append(physnets[0])
    return out


class QuotaService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def defaults(self) -> dict[str, int]:
        s = self.settings
        return {
            INSTANCES: s.quota_instances,
            CORES: s.quota_cores,
            RAM: s.quota_ram,
            **{PCI_PREFIX + k: v for k, v in s.quota_pci_devices.items()},
            **{PORT_PREFIX + k: v for k, v in s.quota_sriov_ports.items()},
        }

    def _limits(self, conn: Connection, project: str) -> tuple[dict[str, int], dict[str, int]]:
        own = store.overrides(conn, project)
        return {**self.defaults(), **own}, own

    # --- quota show|set -----------------------------------------------------------

    def show(self, project: str) -> list[QuotaLine]:
        with self.db.read() as conn:
            limits, own = self._limits(conn, project)
            used = store.usage(conn, project)
        return [
            QuotaLine(
                resource=r,
                limit=limits.get(r, UNLIMITED),
                in_use=used.get(r, 0),
                own=r in own,
            )
            for r in order({*limits, *used})
        ]

    def set(self, project: str, changes: Mapping[str, int | None]) -> list[QuotaLine]:
        """Set the project's own limits (None: back to the default); every name and
        value is checked first, so a bad one changes nothing."""
        checked = {
            check_resource(name): None if value is None else check_limit(name, value)
            for name, value in changes.items()
        }
        with self.db.write() as conn:
            store.lock(conn, project)
            store.set_overrides(conn, project, checked)
        return self.show(project)

    # --- the check ----------------------------------------------------------------

    def checked(
        self, project: str, requested: Mapping[str, int], conn: Connection | None = None
    ) -> Guard | None:
        """The early check, before scheduling (in ``conn``'s transaction when given), and
        the guard that checks again in the claim's transaction, under the project's lock;
        None when no limit of the project can refuse ``requested`` (nothing to count,
        nothing to serialise)."""
        if conn is None:
            with self.db.read() as fresh:
                return self.checked(project, requested, fresh)
        limits, _ = self._limits(conn, project)
        if not binding(limits, requested):
            return None
        check(limits, store.usage(conn, project), requested)

        def run(conn: Connection) -> None:
            store.lock(conn, project)
            limits, _ = self._limits(conn, project)  # as of the lock
            check(limits, store.usage(conn, project), requested)

        return run
