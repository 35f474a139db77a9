"""The tally of scripts/nova_compat.py and its exit status, apart from Nova (no import).

Every disagreement carries a hint naming its class. A class is *documented* when the
README ("Compatibility with Nova") or nova-pci-semantics' table of quirks says pciplane
differs there on purpose:

* ``Q1``: Nova's compute cannot resolve a remote-managed PF named by address (it looks up
  an object's repr); pciplane resolves it from the host's inventory.
* ``Q3``: Nova's scheduler ignores PF/VF dependencies that its own claim enforces.
* ``Q5/Q6``: ``trusted``/``remote_managed`` compared as booleans, an untagged VF untrusted.
* ``order``: another order of the same requests fits; pciplane tries it, Nova does not.
* ``count0``: an alias request of count 0, which pciplane refuses.

A hint may combine classes (``Q5/Q6+Q3+order``); it is explained when every part is
documented. The script exits 0 when every disagreement is explained and 1 when any is
not (``unexplained``, or ``error``: one side refused what the other took, for no
documented reason), so a run in CI or by hand fails only on something new.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

DOCUMENTED = frozenset({"Q1", "Q3", "Q5/Q6", "order", "count0"})


def explained(hint: str) -> bool:
    return all(part in DOCUMENTED for part in hint.split("+"))


@dataclass
class Report:
    compared: int = 0
    agreed: int = 0
    disagreements: list[dict[str, object]] = field(default_factory=list)

    def by_class(self) -> Counter[str]:
        return Counter(str(d["hint"]) for d in self.disagreements)

    def unexplained(self) -> list[dict[str, object]]:
        return [d for d in self.disagreements if not explained(str(d["hint"]))]

    def exit_status(self) -> int:
        return 1 if self.unexplained() else 0
