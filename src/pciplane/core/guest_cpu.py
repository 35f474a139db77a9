"""A flavor's CPU and NUMA extra specs, parsed into what the guest asks of a host.

Nova's keys and meanings: ``hw:numa_nodes`` guest NUMA cells; ``hw:numa_cpus.N`` and
``hw:numa_mem.N`` (MiB) which vCPUs and how much memory cell N has (all cells or none;
none splits vCPUs and memory evenly, refused when they do not divide); ``hw:cpu_policy``
``shared|dedicated|mixed``; ``hw:cpu_thread_policy`` ``prefer|isolate|require``
(pinned vCPUs only); ``hw:cpu_dedicated_mask`` the pinned vCPUs of a ``mixed`` guest
(Nova's range syntax, ``^0-1`` meaning all but 0 and 1). A pinned or mixed guest
without ``hw:numa_nodes`` has one cell, as in Nova. Every refusal names the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pciplane.core.allocation import parse_cpu_set
from pciplane.core.cpu_policy import CpuPolicy, ThreadPolicy
from pciplane.core.errors import ConfigError, RequestError

NUMA_NODES_KEY = "hw:numa_nodes"
NUMA_CPUS_PREFIX = "hw:numa_cpus."
NUMA_MEM_PREFIX = "hw:numa_mem."
CPU_POLICY_KEY = "hw:cpu_policy"
THREAD_POLICY_KEY = "hw:cpu_thread_policy"
DEDICATED_MASK_KEY = "hw:cpu_dedicated_mask"

#: The fixed keys; ``hw:numa_cpus.N`` and ``hw:numa_mem.N`` are recognised by prefix.
CPU_KEYS = frozenset({NUMA_NODES_KEY, CPU_POLICY_KEY, THREAD_POLICY_KEY, DEDICATED_MASK_KEY})
#: Guest NUMA cells one flavor may ask for (no host has more cells than this is sane for).
MAX_GUEST_CELLS = 64


def is_cpu_key(key: str) -> bool:
    """Whether ``key`` is one of the CPU/NUMA keys (with a cell suffix for the per-cell ones)."""
    if key in CPU_KEYS:
        return True
    for prefix in (NUMA_CPUS_PREFIX, NUMA_MEM_PREFIX):
        if key.startswith(prefix):
            return key[len(prefix) :].isdigit()
    return False


@dataclass(frozen=True, kw_only=True, slots=True)
class CellAsk:
    """One guest NUMA cell: its vCPUs, memory, and which of its vCPUs are pinned."""

    cell: int
    vcpus: tuple[int, ...]
    memory_mib: int
    dedicated: tuple[int, ...] = ()

    @property
    def shared(self) -> int:
        """Floating vCPUs of the cell."""
        return len(self.vcpus) - len(self.dedicated)


@dataclass(frozen=True, kw_only=True, slots=True)
class CpuAsk:
    """What the guest asks of a host's CPUs and memory; ``cells`` empty: no NUMA
    topology (a shared guest counted host-wide)."""

    vcpus: int
    memory_mib: int
    policy: CpuPolicy = CpuPolicy.SHARED
    thread_policy: ThreadPolicy = ThreadPolicy.PREFER
    cells: tuple[CellAsk, ...] = ()

    @property
    def pinned(self) -> int:
        return sum(len(c.dedicated) for c in self.cells)

    def label(self) -> str:
        """The guest in words, for explanations."""
        policy = "" if self.policy is CpuPolicy.SHARED else f" {self.policy}"
        cells = f" in {len(self.cells)} NUMA cell(s)" if self.cells else ""
        return f"{self.vcpus}{policy} vCPU(s), {self.memory_mib} MiB{cells}"


def _positive(specs: Mapping[str, str], key: str) -> int:
    value = specs[key].strip()
    if not value.isdigit() or int(value) < 1:
        raise RequestError(f"extra spec {key!r}: {specs[key]!r} is not a whole number above 0")
    return int(value)


def _enum(specs: Mapping[str, str], key: str, kind: type[CpuPolicy] | type[ThreadPolicy]) -> object:
    value = specs[key].strip()
    try:
        return kind(value)
    except ValueError:
        allowed = "|".join(m.value for m in kind)
        raise RequestError(f"extra spec {key!r}: {value!r} is not one of {allowed}") from None


def _vcpu_set(text: str, key: str, vcpus: int) -> frozenset[int]:
    """The vCPU set extra spec ``key`` gives as ``text``; each vCPU one of the flavor's."""
    try:
        found = parse_cpu_set(text, key=f"extra spec {key!r}")
    except ConfigError as exc:
        raise RequestError(str(exc)) from None
    beyond = sorted(c for c in found if c >= vcpus)
    if beyond:
        raise RequestError(
            f"extra spec {key!r}: vCPU {beyond[0]} is beyond the flavor's {vcpus} vCPU(s) "
            f"(0-{vcpus - 1})"
        )
    return found


def cpu_ask(specs: Mapping[str, str], *, vcpus: int, memory_mib: int) -> CpuAsk:
    """The guest's CPU/NUMA request from a flavor's vCPUs, RAM and extra specs."""
    policy = CpuPolicy.SHARED
    if CPU_POLICY_KEY in specs:
        policy = _enum(specs, CPU_POLICY_KEY, CpuPolicy)  # type: ignore[assignment]
    thread = ThreadPolicy.PREFER
    if THREAD_POLICY_KEY in specs:
        thread = _enum(specs, THREAD_POLICY_KEY, ThreadPolicy)  # type: ignore[assignment]
        if policy is CpuPolicy.SHARED:
            raise RequestError(
                f"extra spec {THREAD_POLICY_KEY!r} applies to pinned vCPUs only; set "
                f"{CPU_POLICY_KEY!r} to dedicated or mixed"
            )
    dedicated = _dedicated(specs, policy, vcpus)
    if NUMA_NODES_KEY in specs:
        nodes = _positive(specs, NUMA_NODES_KEY)
    elif policy is not CpuPolicy.SHARED:
        nodes = 1
    else:
        _no_cell_keys(specs)
        return CpuAsk(vcpus=vcpus, memory_mib=memory_mib, policy=policy, thread_policy=thread)
    if nodes > vcpus:
        raise RequestError(
            f"extra spec {NUMA_NODES_KEY!r}: {nodes} NUMA nodes for {vcpus} vCPU(s); "
            "each node needs at least one vCPU"
        )
    if nodes > MAX_GUEST_CELLS:
        raise RequestError(f"extra spec {NUMA_NODES_KEY!r}: {nodes} is above {MAX_GUEST_CELLS}")
    cells = _cells(specs, nodes, vcpus, memory_mib)
    return CpuAsk(
        vcpus=vcpus,
        memory_mib=memory_mib,
        policy=policy,
        thread_policy=thread,
        cells=tuple(
            CellAsk(
                cell=i,
                vcpus=cpus,
                memory_mib=mem,
                dedicated=tuple(c for c in cpus if c in dedicated),
            )
            for i, (cpus, mem) in enumerate(cells)
        ),
    )


def _dedicated(specs: Mapping[str, str], policy: CpuPolicy, vcpus: int) -> frozenset[int]:
    """The pinned vCPUs: all (dedicated), none (shared), the mask's (mixed)."""
    has_mask = DEDICATED_MASK_KEY in specs
    if policy is not CpuPolicy.MIXED:
        if has_mask:
            raise RequestError(
                f"extra spec {DEDICATED_MASK_KEY!r} needs {CPU_POLICY_KEY!r}=mixed, not {policy}"
            )
        return frozenset(range(vcpus)) if policy is CpuPolicy.DEDICATED else frozenset()
    if not has_mask:
        raise RequestError(
            f"extra spec {CPU_POLICY_KEY!r}=mixed needs {DEDICATED_MASK_KEY!r} (which vCPUs "
            "are pinned)"
        )
    text = specs[DEDICATED_MASK_KEY].strip()
    if text.startswith("^"):  # Nova: a mask of exclusions only means "all but these"
        text = f"0-{vcpus - 1},{text}"
    mask = _vcpu_set(text, DEDICATED_MASK_KEY, vcpus)
    if len(mask) == vcpus:
        raise RequestError(
            f"extra spec {DEDICATED_MASK_KEY!r}: a mixed guest needs at least one shared "
            f"vCPU; every vCPU is pinned (use {CPU_POLICY_KEY!r}=dedicated)"
        )
    return mask


def _cell_keys(specs: Mapping[str, str], prefix: str) -> dict[int, str]:
    return {
        int(k[len(prefix) :]): k
        for k in specs
        if k.startswith(prefix) and k[len(prefix) :].isdigit()
    }


def _no_cell_keys(specs: Mapping[str, str]) -> None:
    for prefix in (NUMA_CPUS_PREFIX, NUMA_MEM_PREFIX):
        keys = _cell_keys(specs, prefix)
        if keys:
            key = keys[min(keys)]
            raise RequestError(f"extra spec {key!r} needs {NUMA_NODES_KEY!r}")


def _cells(
    specs: Mapping[str, str], nodes: int, vcpus: int, memory_mib: int
) -> list[tuple[tuple[int, ...], int]]:
    cpu_keys = _cell_keys(specs, NUMA_CPUS_PREFIX)
    mem_keys = _cell_keys(specs, NUMA_MEM_PREFIX)
    for keys in (cpu_keys, mem_keys):
        beyond = sorted(n for n in keys if n >= nodes)
        if beyond:
            raise RequestError(
                f"extra spec {keys[beyond[0]]!r}: cell {beyond[0]} is beyond "
                f"{NUMA_NODES_KEY}={nodes} (cells 0-{nodes - 1})"
            )
    return list(
        zip(
            _cell_cpus(specs, cpu_keys, nodes, vcpus),
            _cell_memory(specs, mem_keys, nodes, memory_mib),
            strict=True,
        )
    )


def _cell_cpus(
    specs: Mapping[str, str], keys: dict[int, str], nodes: int, vcpus: int
) -> list[tuple[int, ...]]:
    if not keys:
        if vcpus % nodes:
            raise RequestError(
                f"extra spec {NUMA_NODES_KEY!r}: {vcpus} vCPU(s) do not split evenly into "
                f"{nodes} NUMA nodes; give {NUMA_CPUS_PREFIX}N for each node"
            )
        per = vcpus // nodes
        return [tuple(range(i * per, (i + 1) * per)) for i in range(nodes)]
    missing = [n for n in range(nodes) if n not in keys]
    if missing:
        raise RequestError(
            f"extra spec '{NUMA_CPUS_PREFIX}{missing[0]}' is missing: give "
            f"{NUMA_CPUS_PREFIX}N for every node of {NUMA_NODES_KEY}={nodes} or for none"
        )
    owner: dict[int, str] = {}
    cells = []
    for n in range(nodes):
        key = keys[n]
        cpus = _vcpu_set(specs[key], key, vcpus)
        for cpu in sorted(cpus):
            if cpu in owner:
                raise RequestError(
                    f"extra spec {key!r}: vCPU {cpu} is also in {owner[cpu]!r}; each vCPU "
                    "belongs to exactly one node"
                )
            owner[cpu] = key
        cells.append(tuple(sorted(cpus)))
    unplaced = sorted(set(range(vcpus)) - owner.keys())
    if unplaced:
        raise RequestError(
            f"extra spec '{NUMA_CPUS_PREFIX}N': vCPU {unplaced[0]} is in no node; the "
            f"{NUMA_CPUS_PREFIX}N must cover vCPUs 0-{vcpus - 1} exactly once"
        )
    return cells


def _cell_memory(
    specs: Mapping[str, str], keys: dict[int, str], nodes: int, memory_mib: int
) -> list[int]:
    if not keys:
        if memory_mib % nodes:
            raise RequestError(
                f"extra spec {NUMA_NODES_KEY!r}: {memory_mib} MiB of RAM does not split evenly "
                f"into {nodes} NUMA nodes; give {NUMA_MEM_PREFIX}N for each node"
            )
        return [memory_mib // nodes] * nodes
    missing = [n for n in range(nodes) if n not in keys]
    if missing:
        raise RequestError(
            f"extra spec '{NUMA_MEM_PREFIX}{missing[0]}' is missing: give "
            f"{NUMA_MEM_PREFIX}N for every node of {NUMA_NODES_KEY}={nodes} or for none"
        )
    sizes = [_positive(specs, keys[n]) for n in range(nodes)]
    if sum(sizes) != memory_mib:
        raise RequestError(
            f"extra spec '{NUMA_MEM_PREFIX}N': the nodes' memory sums to {sum(sizes)} MiB, "
            f"not the flavor's RAM {memory_mib} MiB"
        )
    return sizes


def check_fits_fleet(ask: CpuAsk, largest: tuple[int, int] | None) -> None:
    """Refuse a pinned guest cell larger than the fleet's largest host cell
    (``largest``: its CPUs and MiB; None when no host reported cells: accepted)."""
    if largest is None:
        return
    cpus, _memory = largest
    for cell in ask.cells:
        if len(cell.dedicated) > cpus:
            key = f"{NUMA_CPUS_PREFIX}{cell.cell}" if len(ask.cells) > 1 else CPU_POLICY_KEY
            raise RequestError(
                f"extra spec {key!r}: guest NUMA cell {cell.cell} pins "
                f"{len(cell.dedicated)} vCPUs, but the largest host NUMA cell in the fleet has "
                f"{cpus} CPUs"
            )
