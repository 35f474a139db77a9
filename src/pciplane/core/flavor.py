"""A flavor's extra specs: which keys pciplane honours, and refusing the ones it would not.

Nova reads many extra-spec namespaces; pciplane honours a few keys of two of them
(``pci_passthrough:`` and ``hw:``). A misspelt key there (``pci_passthrough:aliases``)
would otherwise be stored and ignored, and the server would boot without its GPU; so
any other key in those namespaces is refused, naming the key and the nearest known one.
Keys of other namespaces (``quota:``, ``trait:``, ...) concern other services and are
kept as they are.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from pciplane.core.alias import ALIAS_KEY, NUMA_POLICY_KEY
from pciplane.core.errors import RequestError
from pciplane.core.guest_cpu import CPU_KEYS, NUMA_CPUS_PREFIX, NUMA_MEM_PREFIX, is_cpu_key

#: The namespaces whose keys pciplane validates.
VALIDATED_NAMESPACES = ("pci_passthrough:", "hw:")

#: Every key of those namespaces that pciplane honours.
#: ``hw:numa_cpus.N`` and ``hw:numa_mem.N`` are known for any cell number N.
KNOWN_KEYS: frozenset[str] = frozenset({ALIAS_KEY, NUMA_POLICY_KEY, *CPU_KEYS})
_PER_CELL = (f"{NUMA_CPUS_PREFIX}N", f"{NUMA_MEM_PREFIX}N")

#: Limits on what one flavor may carry, so a request cannot fill the database.
MAX_EXTRA_SPECS = 64
MAX_KEY_LENGTH = 255
MAX_VALUE_LENGTH = 1024


def check_extra_specs(specs: Mapping[str, str]) -> None:
    """Refuse unknown keys in the validated namespaces, and oversized specs."""
    if len(specs) > MAX_EXTRA_SPECS:
        raise RequestError(
            f"a flavor takes at most {MAX_EXTRA_SPECS} extra specs, not {len(specs)}"
        )
    for key, value in specs.items():
        if not key or len(key) > MAX_KEY_LENGTH:
            raise RequestError(
                f"extra spec key {key[:40]!r} must be 1 to {MAX_KEY_LENGTH} characters"
            )
        if len(value) > MAX_VALUE_LENGTH:
            raise RequestError(
                f"extra spec {key!r}: the value is {len(value)} characters, at most "
                f"{MAX_VALUE_LENGTH}"
            )
        namespace = next((ns for ns in VALIDATED_NAMESPACES if key.startswith(ns)), None)
        if namespace is None or key in KNOWN_KEYS or is_cpu_key(key):
            continue
        every = (*KNOWN_KEYS, *_PER_CELL)
        known = sorted(k for k in every if k.startswith(namespace))
        near = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise RequestError(
            f"extra spec {key!r} is not one pciplane knows in the {namespace!r} namespace "
            f"(known: {', '.join(known)}){hint}"
        )
