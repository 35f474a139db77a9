"""Boolean spellings in operators' configuration, in one place.

Nova reads ``managed``, ``live_migratable`` and friends with oslo's strict parser
(nova-pci-semantics §1.6) and ``remote_managed`` with a lax one (§1.5); pciplane
normalises ``trusted`` and ``remote_managed`` on both sides of a match too (Q5). All of
them accept the same words, listed here once.
"""

from __future__ import annotations

TRUE_WORDS = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE_WORDS = frozenset({"0", "f", "false", "n", "no", "off"})
#: The spellings the strict parser accepts, in the order oslo's message lists them.
ACCEPTED = tuple(sorted(TRUE_WORDS | FALSE_WORDS))


def strict_word(value: object) -> str | None:
    """``"true"``/``"false"`` for an accepted spelling (JSON booleans and 0/1 too), else None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return "true"
    if word in FALSE_WORDS:
        return "false"
    return None


def accepted_list() -> str:
    """``'0', '1', 'f', ...``: the accepted spellings as oslo's error message lists them."""
    return ", ".join(f"'{w}'" for w in ACCEPTED)


def normalise_word(value: str) -> str:
    """``"true"``/``"false"`` for a boolean spelling; any other word lower-cased as is."""
    word = value.strip().lower()
    return strict_word(word) or word


def truthy(value: object) -> bool:
    """Nova's lax reading: a JSON true or a true spelling; anything else is false."""
    return value is True or (isinstance(value, str) and value.strip().lower() in TRUE_WORDS)
