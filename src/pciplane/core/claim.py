"""Claim: turn a fit into held devices, all or nothing; release them again.

The devices are those the fit chose (:attr:`Verdict.choice`), so whenever ``fit`` says
yes the claim succeeds on the same inventory. Every status change goes through the
transition table of :mod:`pciplane.core.device`; the inventory is immutable, so a claim
that fails half-way leaves every device exactly as it was (Nova's Q4 fixed).
"""

from __future__ import annotations

from collections.abc import Sequence

from pciplane.core.device import TAKEN, Action, Inventory, Status
from pciplane.core.errors import NoFitError
from pciplane.core.fit import GuestRequest, Verdict


def claim(
    inventory: Inventory,
    verdict: Verdict,
    guest: GuestRequest,
    *,
    owner: str,
    request_ids: Sequence[str] | None = None,
) -> Inventory:
    """Claim the devices ``verdict`` chose for ``guest``, tagged with each request's id."""
    if not verdict.fits:
        raise NoFitError(f"host {verdict.host}: {verdict.reason}", verdict)
    if len(verdict.choice) != len(guest.pci):
        raise NoFitError(f"host {verdict.host}: the verdict does not belong to this request")
    ids = (
        list(request_ids)
        if request_ids is not None
        else [f"{owner}/{i}" for i in range(len(guest.pci))]
    )
    result = inventory
    for addresses, request_id in zip(verdict.choice, ids, strict=True):
        result = result.apply(Action.CLAIM, addresses, owner=owner, request_id=request_id)
    return result


def release(inventory: Inventory, *, owner: str) -> Inventory:
    """Free every device ``owner`` holds (claimed or allocated)."""
    held = [d.address for d in inventory if d.owner == owner and d.status in TAKEN]
    return inventory.apply(Action.FREE, held, owner=owner)


def allocate(inventory: Inventory, *, owner: str) -> Inventory:
    """Turn ``owner``'s claimed devices into allocated ones (the guest is running)."""
    claimed = [d.address for d in inventory if d.owner == owner and d.status is Status.CLAIMED]
    return inventory.apply(Action.ALLOCATE, claimed, owner=owner)
