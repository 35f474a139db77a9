"""Per-project quotas: what a server or a port counts against, and the check.

The resources are Nova's (``instances``, ``cores``, ``ram`` in MiB) and two of
pciplane's: PCI devices per alias (``pci_devices:ALIAS``) and SR-IOV ports per
physical network (``sriov_ports:PHYSNET``). A limit of -1 is unlimited, as in Nova.
Every live server of the project counts, in ERROR too (Nova counts every instance not
deleted); a server's devices count by its flavor's ``pci_passthrough:alias``, its ports
by their network's physical network. The check refuses the first resource that the
request would take over its limit, naming the quota, the usage and the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pciplane.core.alias import ALIAS_KEY, parse_alias_names
from pciplane.core.errors import QuotaExceededError, RequestError

INSTANCES, CORES, RAM = "instances", "cores", "ram"
PCI_PREFIX, PORT_PREFIX = "pci_devices:", "sriov_ports:"
UNLIMITED = -1
#: The order resources are checked and shown in: Nova's three, then pciplane's.
FIXED = (INSTANCES, CORES, RAM)


def alias_counts(extra_specs: Mapping[str, str]) -> dict[str, int]:
    """``{"pci_devices:ALIAS": n}`` from a flavor's ``pci_passthrough:alias``."""
    value = extra_specs.get(ALIAS_KEY)
    if not value:
        return {}
    out: dict[str, int] = {}
    names = parse_alias_names(value)
    for item, name in zip(value.split(","), names, strict=True):
        count = int(item.split(":")[1])
        out[PCI_PREFIX + name] = out.get(PCI_PREFIX + name, 0) + count
    return out


def server_request(
    *, vcpus: int, ram: int, extra_specs: Mapping[str, str], physnets: Iterable[str] = ()
) -> dict[str, int]:
    """What one server takes: itself, its vCPUs and RAM, its devices, its SR-IOV ports."""
    out = {INSTANCES: 1, CORES: vcpus, RAM: ram, **alias_counts(extra_specs)}
    for physnet in physnets:
        out[PORT_PREFIX + physnet] = out.get(PORT_PREFIX + physnet, 0) + 1
    return out


def add(total: dict[str, int], more: Mapping[str, int]) -> dict[str, int]:
    for key, n in more.items():
        total[key] = total.get(key, 0) + n
    return total


def order(resources: Iterable[str]) -> list[str]:
    """Nova's three first, then the per-alias and per-physnet ones by name."""
    names = set(resources)
    return [r for r in FIXED if r in names] + sorted(names - set(FIXED))


def binding(limits: Mapping[str, int], requested: Mapping[str, int]) -> bool:
    """Whether some limit can refuse ``requested`` (if none can, nothing need be counted)."""
    return any(
        want > 0 and limits.get(resource, UNLIMITED) != UNLIMITED
        for resource, want in requested.items()
    )


def check(limits: Mapping[str, int], used: Mapping[str, int], requested: Mapping[str, int]) -> None:
    """Refuse the request if any resource would go over its limit (unset: unlimited)."""
    for resource in order(requested):
        want = requested[resource]
        limit = limits.get(resource, UNLIMITED)
        have = used.get(resource, 0)
        if want > 0 and limit != UNLIMITED and have + want > limit:
            raise QuotaExceededError(
                f"quota exceeded for {resource}: {have} of {limit} used, {want} requested"
            )


def check_resource(name: str) -> str:
    """A resource name as ``quota set`` takes it; RequestError naming a wrong one."""
    if name in FIXED:
        return name
    for prefix in (PCI_PREFIX, PORT_PREFIX):
        rest = name.removeprefix(prefix)
        if rest != name and rest.strip() == rest and rest and len(rest) <= 255:
            return name
    raise RequestError(
        f"quota {name!r}: expected instances, cores, ram, {PCI_PREFIX}ALIAS or {PORT_PREFIX}PHYSNET"
    )


#: The largest limit (Nova's quota API takes up to its database's MAX_INT, 2**31 - 1).
MAX_LIMIT = 2**31 - 1


def check_limit(name: str, value: int) -> int:
    if not UNLIMITED <= value <= MAX_LIMIT:
        raise RequestError(
            f"quota {name}: {value} is not a limit (-1 for unlimited, or 0 to {MAX_LIMIT})"
        )
    return value
