"""The fleet index's screen gives exactly the pipeline's verdicts (hypothesis).

For random varied fleets (PF families with VFs on physnets, PFs allow-listed whole next
to their own VFs, GPUs of two models, NUMA layouts with and without sockets, devices
with no NUMA node, hosts with their own device_spec, devices held by other servers) and
random guests (flavor aliases with OR'ed specs, ports on physnets, direct-physical, the
four NUMA policies, guest cells, up to four requests at once; hosts with CPUs, memory and
claims on them, guests with CPU/NUMA flavor specs), every host's verdict from
:meth:`FleetIndex.fit` (fits, reason and stage records, by ``verdicts()`` and by
``reasons()``) equals the pipeline run on that host alone.

Guests with NUMA cells get a fleet of their own: hosts of 1 to 4 cells (now and then 9,
beyond the cell columns), SMT or not, CPUs pinned, floating vCPUs and memory used per
cell and host-wide, ``cpu_dedicated_set``/``cpu_shared_set`` subsets, allocation ratios
and reserved CPUs and memory; guests of 1 to 3 cells, pinned or mixed, with each thread
policy, with and without devices. The cell columns (:mod:`pciplane.core.cell_table`)
must give ``numa_fit.cell_sets`` slot by slot, and the index the pipeline's verdicts.

``PCIPLANE_EQUIVALENCE_EXAMPLES`` sets the number of examples (default: a CI-sized 40).
"""

from __future__ import annotations

import contextlib
import os

from fleetbuilder import ALIASES, GPU_A, GPU_B, gpu, nic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pciplane.core.alias import requests_from_flavor
from pciplane.core.allocation import Allocation
from pciplane.core.cell_table import CellTable
from pciplane.core.device import Action, Inventory, PciDevice
from pciplane.core.errors import DeviceStateError
from pciplane.core.fit import GuestRequest, HostView
from pciplane.core.fleet import Fleet, Host, NumaNode
from pciplane.core.guest_cpu import CpuAsk, cpu_ask
from pciplane.core.index import FleetIndex
from pciplane.core.numa_fit import HostResources, cell_sets
from pciplane.core.request import NumaPolicy, PciRequest, request_from_port
from pciplane.core.resources import CellUse, HostUsage
from pciplane.core.spec import parse_device_specs
from pciplane.sim.cells import smt_cells

EXAMPLES = int(os.environ.get("PCIPLANE_EQUIVALENCE_EXAMPLES", "40"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SPECS: dict[str, dict[str, object]] = {
    "vf-p1": {"vendor_id": "8086", "product_id": "1889", "physical_network": "physnet1"},
    "vf-p2-trusted": {"vendor_id": "8086", "product_id": "1889", "address": "0000:11:*.*",
                      "physical_network": "physnet2", "trusted": "true"},
    "pf-p1": {"vendor_id": "8086", "product_id": "1592", "physical_network": "physnet1"},
    "pf-p2": {"vendor_id": "8086", "product_id": "1592", "address": "*:*:00.0",
              "physical_network": "physnet2"},
    "gpus": {"vendor_id": "10de", "product_id": "*"},
    "gpu-a-migratable": {"vendor_id": "10de", "product_id": GPU_A, "live_migratable": "yes"},
}  # fmt: skip
SPEC_ORDERS = st.lists(st.sampled_from(sorted(SPECS)), min_size=2, max_size=5, unique=True)

LAYOUTS: tuple[tuple[tuple[int, int | None], ...], ...] = (
    ((0, 0), (1, 1)),
    ((0, 0), (1, 0), (2, 1), (3, 1)),
    ((0, None), (1, None)),
    ((0, 0),),
    (),
)
NUMA = st.sampled_from([0, 0, 1, 1, 2, None])


@st.composite
def hosts(draw: st.DrawFn, name: str) -> Host:
    devices: list[PciDevice] = []
    for i in range(draw(st.integers(0, 4))):
        devices += nic(0x10 + i, draw(st.sampled_from([0, 2, 4, 8])), draw(NUMA))
    for j in range(draw(st.integers(0, 4))):
        devices.append(gpu(0x40 + j, draw(NUMA), draw(st.sampled_from([GPU_A, GPU_B]))))
    inventory = Inventory.of(devices)
    for k, dev in enumerate(devices):
        if draw(st.integers(0, 5)) == 0:
            action = draw(st.sampled_from([Action.CLAIM, Action.ALLOCATE]))
            with contextlib.suppress(DeviceStateError):  # a relative was taken already
                inventory = inventory.apply(action, [dev.address], owner=f"other{k}")
    own = draw(st.sampled_from([None, None, None]) | SPEC_ORDERS)
    layout = draw(st.sampled_from(LAYOUTS))
    nodes = tuple(NumaNode(id=i, socket=s) for i, s in layout)
    usage = HostUsage()
    if nodes and draw(st.booleans()):  # cells with CPUs, memory and some of them held
        cores, threads = draw(st.sampled_from([1, 2, 4])), draw(st.sampled_from([1, 2]))
        nodes = smt_cells([s for _, s in layout], cores=cores, threads=threads,
                          memory_mib=draw(st.sampled_from([2048, 8192])))  # fmt: skip
        every = sorted(c for n in nodes for c in n.cpus)
        usage = HostUsage.of(
            [
                CellUse(cell=None, vcpus=draw(st.integers(0, 6)), memory_mib=1024),
                CellUse(cell=0, memory_mib=512,
                        pinned=tuple(draw(st.sets(st.sampled_from(every), max_size=4)))),
            ]
        )  # fmt: skip
    return Host(
        name=name,
        numa_nodes=nodes,
        devices=tuple(inventory),
        device_spec=None if own is None else parse_device_specs([SPECS[s] for s in own]),
        usage=usage,
    )


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    count = draw(st.integers(1, 10))
    default = draw(st.permutations(sorted(SPECS)))
    return Fleet(
        device_spec=parse_device_specs([SPECS[s] for s in default]),
        hosts=tuple(draw(hosts(f"h{i}")) for i in range(count)),
    )


FLAVOR_ALIASES = ["a", "b", "ab", "a_required", "a_legacy", "a_preferred", "a_socket",
                  "nic_pf", "nic_vf", "nic_any"]  # fmt: skip
POLICIES = st.none() | st.sampled_from(list(NumaPolicy))


@st.composite
def flavor_requests(draw: st.DrawFn) -> tuple[PciRequest, ...]:
    names = draw(st.lists(st.sampled_from(FLAVOR_ALIASES), min_size=1, max_size=2, unique=True))
    spec = ",".join(f"{n}:{draw(st.sampled_from([1, 1, 2, 3]))}" for n in names)
    extra = {"pci_passthrough:alias": spec}
    policy = draw(POLICIES)
    if policy is not None:
        extra["hw:pci_numa_affinity_policy"] = policy.value
    return requests_from_flavor(extra, ALIASES)


@st.composite
def port_request(draw: st.DrawFn) -> PciRequest:
    request = request_from_port(
        vnic_type=draw(st.sampled_from(["direct", "direct", "macvtap", "direct-physical"])),
        physical_network=draw(st.sampled_from(["physnet1"] * 3 + ["physnet2"] * 2 + ["physnet3"])),
        trusted=draw(st.sampled_from([None, None, None, True, False])),
        numa_policy=draw(POLICIES),
    )
    assert request is not None
    return request


@st.composite
def guests(draw: st.DrawFn) -> GuestRequest:
    pci: list[PciRequest] = []
    if draw(st.booleans()):
        pci += draw(flavor_requests())
    pci += draw(st.lists(port_request(), min_size=0 if pci else 1, max_size=3))
    cells = draw(st.sampled_from([None, (0,), (1,), (0, 1), (2,)]))
    cpu = None
    if draw(st.booleans()):  # with CPUs and memory: per cell when the flavor says so
        specs = draw(st.sampled_from(CPU_SPECS))
        cpu = cpu_ask(specs, vcpus=draw(st.sampled_from([2, 4])),
                      memory_mib=draw(st.sampled_from([1024, 4096])))  # fmt: skip
        cells = None
    return GuestRequest(
        pci=tuple(pci), numa_cells=None if cells is None else frozenset(cells), cpu=cpu
    )


CPU_SPECS: list[dict[str, str]] = [
    {},
    {"hw:numa_nodes": "1"},
    {"hw:numa_nodes": "2"},
    {"hw:cpu_policy": "dedicated"},
    {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "2"},
    {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"},
    {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0"},
]


def assert_exact(index: FleetIndex, guest: GuestRequest) -> None:
    """Every host's verdict from the index equals the pipeline run on its view alone."""
    result = index.fit(guest)
    verdicts = list(result.verdicts())
    reasons = list(result.reasons())
    assert [v.host for v in verdicts] == list(index.host_names())
    assert result.fit_count == sum(v.fits for v in verdicts)
    for verdict, short in zip(verdicts, reasons, strict=True):
        exact = index.view(verdict.host).outcome(guest, index.matcher)
        assert (verdict.fits, verdict.reason, verdict.stages) == (
            exact.fits, exact.reason, exact.stages), verdict.host  # fmt: skip
        assert (short.host, short.fits, short.reason) == (verdict.host, exact.fits, exact.reason)
        assert result.outcome(verdict.host) == exact


@PROPERTY
@given(fleets(), st.lists(guests(), min_size=1, max_size=4))
def test_the_screen_gives_the_pipelines_verdicts(fleet: Fleet, batch: list[GuestRequest]) -> None:
    index = FleetIndex.build(fleet)
    for guest in batch:
        assert_exact(index, guest)


@PROPERTY
@given(fleets(), fleets(), guests(), st.data())
def test_verdicts_stay_exact_as_hosts_come_and_go(
    fleet: Fleet, other: Fleet, guest: GuestRequest, data: st.DataObject
) -> None:
    """Hosts replaced, removed and added again; an earlier answer keeps its own state."""
    index = FleetIndex.build(fleet)
    before = index.fit(guest)
    expected = [(v.fits, v.reason) for v in before.verdicts()]
    before = index.fit(guest)
    for host in other.hosts:
        if data.draw(st.booleans()):
            index.remove_host(host.name)
        index.replace_host(host)
    for name in data.draw(st.lists(st.sampled_from([h.name for h in fleet.hosts]), max_size=3)):
        index.remove_host(name)
    assert [(v.fits, v.reason) for v in before.verdicts()] == expected
    assert_exact(index, guest)


@PROPERTY
@given(fleets())
def test_the_index_builds_the_views_hostview_builds(fleet: Fleet) -> None:
    index = FleetIndex.build(fleet)
    for host in fleet.hosts:
        alone = HostView.build(host, fleet.device_spec, kinds=index.kinds, memo=index.memo)
        assert index.view(host.name) == alone


# --- guests with NUMA cells -------------------------------------------------------------


@st.composite
def cell_hosts(draw: st.DrawFn, name: str) -> Host:
    """A host whose cells report CPUs and memory, with settings and claims on them."""
    count = draw(st.sampled_from([1, 2, 2, 3, 4, 4, 9]))
    sockets = draw(st.sampled_from([[0] * count, [i // 2 for i in range(count)], [None] * count]))
    nodes = list(
        smt_cells(
            sockets,
            cores=draw(st.integers(1, 4)),
            threads=draw(st.sampled_from([1, 2, 2])),
            memory_mib=draw(st.sampled_from([2048, 8192, 16384])),
        )
    )
    if draw(st.integers(0, 7)) == 0:  # a cell reporting no CPUs, or no memory
        k = draw(st.integers(0, count - 1))
        blank = draw(st.sampled_from([{"cpus": (), "siblings": ()}, {"memory_mib": None}]))
        nodes[k] = NumaNode(**{**{f: getattr(nodes[k], f) for f in NODE_FIELDS}, **blank})
    every = sorted(c for n in nodes for c in n.cpus)
    subsets = st.none() | st.none() | st.frozensets(st.sampled_from(every)) if every else st.none()
    dedicated, shared = draw(subsets), draw(subsets)
    if shared is not None and dedicated is not None:
        shared = shared - dedicated
    allocation = Allocation(
        cpu_allocation_ratio=draw(st.sampled_from([1.0, 1.5, 4.0, 16.0])),
        ram_allocation_ratio=draw(st.sampled_from([0.7, 1.0, 1.5])),
        reserved_host_cpus=draw(st.sampled_from([0, 0, 0, 1, 3])),
        reserved_host_memory_mb=draw(st.sampled_from([0, 0, 512, 2048])),
        cpu_dedicated_set=dedicated,
        cpu_shared_set=shared,
    )
    uses = []
    for _ in range(draw(st.integers(0, 4))):
        node = draw(st.sampled_from(nodes))
        pinned = draw(st.sets(st.sampled_from(node.cpus), max_size=4)) if node.cpus else set()
        uses.append(
            CellUse(
                cell=draw(st.sampled_from([None, node.id, node.id])),
                vcpus=draw(st.integers(0, 4)),
                memory_mib=draw(st.sampled_from([0, 512, 1024, 4096])),
                pinned=tuple(sorted(pinned)),
            )
        )
    numa = st.sampled_from([*range(count), None])
    devices: list[PciDevice] = []
    for i in range(draw(st.integers(0, 2))):
        devices += nic(0x10 + i, draw(st.sampled_from([0, 2, 4])), draw(numa))
    for j in range(draw(st.integers(0, 2))):
        devices.append(gpu(0x40 + j, draw(numa), draw(st.sampled_from([GPU_A, GPU_B]))))
    return Host(
        name=name,
        numa_nodes=tuple(nodes),
        devices=tuple(Inventory.of(devices)),
        allocation=allocation,
        usage=HostUsage.of(uses),
    )


NODE_FIELDS = ("id", "socket", "cpus", "siblings", "memory_mib")


@st.composite
def cell_fleets(draw: st.DrawFn) -> Fleet:
    count = draw(st.integers(1, 8))
    return Fleet(
        device_spec=parse_device_specs([SPECS[s] for s in draw(st.permutations(sorted(SPECS)))]),
        hosts=tuple(draw(cell_hosts(f"c{i}")) for i in range(count)),
    )


@st.composite
def cell_asks(draw: st.DrawFn) -> CpuAsk:
    """A guest of 1 to 3 cells, pinned or mixed, with any thread policy."""
    nodes = draw(st.integers(1, 3))
    specs = {"hw:numa_nodes": str(nodes)}
    if draw(st.integers(0, 2)):
        specs["hw:cpu_policy"] = draw(st.sampled_from(["dedicated", "dedicated", "mixed"]))
        if specs["hw:cpu_policy"] == "mixed":
            specs["hw:cpu_dedicated_mask"] = "^0"
        policy = draw(st.sampled_from([None, "prefer", "isolate", "isolate", "require"]))
        if policy is not None:
            specs["hw:cpu_thread_policy"] = policy
    vcpus = nodes * draw(st.integers(1, 3))
    if specs.get("hw:cpu_policy") == "mixed" and vcpus == 1:
        vcpus = 2
    memory = nodes * draw(st.sampled_from([256, 512, 1024, 2048]))
    if nodes > 1 and draw(st.booleans()):  # cells of unequal sizes (their order matters)
        sizes = [1] * nodes
        for _ in range(draw(st.integers(0, 4))):
            sizes[draw(st.integers(0, nodes - 1))] += 1
        mems = [draw(st.sampled_from([256, 512, 1024, 2048])) for _ in range(nodes)]
        vcpus, memory, first = sum(sizes), sum(mems), 0
        for i, (size, mem) in enumerate(zip(sizes, mems, strict=True)):
            specs[f"hw:numa_cpus.{i}"] = f"{first}-{first + size - 1}"
            specs[f"hw:numa_mem.{i}"] = str(mem)
            first += size
    return cpu_ask(specs, vcpus=vcpus, memory_mib=memory)


@st.composite
def cell_guests(draw: st.DrawFn) -> GuestRequest:
    pci: list[PciRequest] = []
    if draw(st.booleans()):
        if draw(st.booleans()):
            pci += draw(flavor_requests())
        pci += draw(st.lists(port_request(), min_size=0 if pci else 1, max_size=2))
    return GuestRequest(pci=tuple(pci), cpu=draw(cell_asks()))


CELL_PROPERTY = settings(PROPERTY, max_examples=4 * EXAMPLES)


@CELL_PROPERTY
@given(st.lists(cell_hosts("h"), min_size=1, max_size=10), st.lists(cell_asks(), min_size=1,
       max_size=4), st.data())  # fmt: skip
def test_the_cell_columns_give_cell_sets(
    hosts: list[Host], asks: list[CpuAsk], data: st.DataObject
) -> None:
    """Slot by slot, the sets of host cells (and their order) of ``numa_fit.cell_sets``;
    also after slots are replaced and freed."""
    table = CellTable()
    resources: list[HostResources | None] = [HostResources.of(h) for h in hosts]
    for slot, res in enumerate(resources):
        table.put(slot, res)
    for _ in range(data.draw(st.integers(0, 3))):
        slot = data.draw(st.integers(0, len(hosts) - 1))
        if data.draw(st.booleans()):
            res = HostResources.of(data.draw(cell_hosts("h")))
            resources[slot] = res
            table.put(slot, res)
        else:
            resources[slot] = None
            table.put(slot, None, alive=False)
    for ask in asks:
        found = table.sets(ask, len(hosts))
        for slot, res in enumerate(resources):
            expected = () if res is None else cell_sets(res, ask)
            assert found.of(slot) == expected, slot


@PROPERTY
@given(cell_fleets(), st.lists(cell_guests(), min_size=1, max_size=4))
def test_guests_with_cells_get_the_pipelines_verdicts(
    fleet: Fleet, batch: list[GuestRequest]
) -> None:
    index = FleetIndex.build(fleet)
    for guest in batch:
        assert_exact(index, guest)


@PROPERTY
@given(cell_fleets(), cell_fleets(), cell_guests(), st.data())
def test_guests_with_cells_stay_exact_as_hosts_come_and_go(
    fleet: Fleet, other: Fleet, guest: GuestRequest, data: st.DataObject
) -> None:
    index = FleetIndex.build(fleet)
    for host in other.hosts:
        if data.draw(st.booleans()):
            index.remove_host(host.name)
        index.replace_host(host)
    for name in data.draw(st.lists(st.sampled_from([h.name for h in fleet.hosts]), max_size=3)):
        index.remove_host(name)
    assert_exact(index, guest)
