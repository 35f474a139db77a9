"""Host NUMA cells as discovery finds them (sysfs tree, libvirt capabilities), and the
host's allocation settings read from nova.conf, the environment and flags."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pciplane.cli.agent import allocation_settings
from pciplane.conf.nova_conf import read_allocation_options
from pciplane.core.errors import ConfigError
from pciplane.core.fleet import NumaNode
from pciplane.host.topology import capabilities_cells, sysfs_cells
from pciplane.sim.host import build_host
from pciplane.sim.host_write import write_sysfs


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_sim_host_cells_round_trip_through_sysfs(tmp_path: Path) -> None:
    sim = build_host("gpu")
    write_sysfs(sim, tmp_path)
    assert sysfs_cells(tmp_path) == sim.cells
    node0 = sim.cells[0]
    assert len(node0.cpus) == 32 and node0.memory_mib == 128 * 1024
    assert (0, 32) in node0.siblings  # Linux numbering: the second threads come last


def test_a_handmade_tree(tmp_path: Path) -> None:
    node = tmp_path / "sys/devices/system/node/node0"
    _write(node / "cpulist", "0-1,4-5\n")
    _write(node / "meminfo", "Node 0 MemTotal:       8388608 kB\nNode 0 MemFree: 1 kB\n")
    for cpu, siblings in ((0, "0,4"), (1, "1,5"), (4, "0,4"), (5, "1,5")):
        topo = tmp_path / f"sys/devices/system/cpu/cpu{cpu}/topology"
        _write(topo / "thread_siblings_list", siblings + "\n")
        _write(topo / "physical_package_id", "0\n")
    assert sysfs_cells(tmp_path) == (
        NumaNode(id=0, socket=0, cpus=(0, 1, 4, 5), siblings=((0, 4), (1, 5)), memory_mib=8192),
    )


def test_what_cannot_be_read_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "sys/devices/system/node/node1").mkdir(parents=True)
    _write(tmp_path / "sys/devices/system/node/node0/cpulist", "garbage\n")
    assert sysfs_cells(tmp_path) == (NumaNode(id=0), NumaNode(id=1))
    assert sysfs_cells(tmp_path / "nowhere") == ()


def test_libvirt_test_driver_cells() -> None:
    libvirt = pytest.importorskip("libvirt")
    from pciplane.host.topology import libvirt_cells

    del libvirt
    cells = libvirt_cells("test:///default")
    assert [(c.id, c.socket, len(c.cpus), c.memory_mib) for c in cells] == [
        (0, 0, 8, 2048),
        (1, 1, 8, 4096),
    ]


CAPS = """<capabilities><host><topology><cells num='1'>
  <cell id='0'>
    <memory unit='KiB'>4194304</memory>
    <cpus num='4'>
      <cpu id='0' socket_id='3' core_id='0' siblings='0,2'/>
      <cpu id='1' socket_id='3' core_id='1' siblings='1,3'/>
      <cpu id='2' socket_id='3' core_id='0' siblings='0,2'/>
      <cpu id='3' socket_id='3' core_id='1' siblings='1,3'/>
    </cpus>
  </cell>
</cells></topology></host></capabilities>"""


def test_capabilities_with_smt() -> None:
    assert capabilities_cells(CAPS) == (
        NumaNode(id=0, socket=3, cpus=(0, 1, 2, 3), siblings=((0, 2), (1, 3)), memory_mib=4096),
    )


NOVA_CONF = """[DEFAULT]
cpu_allocation_ratio = 2.0
reserved_host_memory_mb = 4096
[compute]
cpu_dedicated_set = 4-15,^8
cpu_shared_set = 0-3
[pci]
alias = {"name": "a", "vendor_id": "10de", "product_id": "20b5"}
"""


def _args(conf: Path | None = None, **flags: str) -> argparse.Namespace:
    names = (
        "cpu_allocation_ratio",
        "ram_allocation_ratio",
        "reserved_host_memory_mb",
        "reserved_host_cpus",
        "cpu_dedicated_set",
        "cpu_shared_set",
    )
    return argparse.Namespace(nova_conf=conf, **{n: flags.get(n) for n in names})


def test_nova_conf_then_env_then_flags(tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text(NOVA_CONF)
    assert read_allocation_options(conf) == {
        "cpu_allocation_ratio": "2.0",
        "reserved_host_memory_mb": "4096",
        "cpu_dedicated_set": "4-15,^8",
        "cpu_shared_set": "0-3",
    }
    alloc = allocation_settings(
        _args(conf, reserved_host_memory_mb="1024"),
        {"PCIPLANE_CPU_ALLOCATION_RATIO": "8", "PCIPLANE_RESERVED_HOST_MEMORY_MB": "2048"},
    )
    assert alloc.cpu_allocation_ratio == 8.0
    assert alloc.reserved_host_memory_mb == 1024
    assert alloc.cpu_dedicated_set == frozenset({4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15})
    assert alloc.cpu_shared_set == frozenset({0, 1, 2, 3})


def test_bad_settings_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="agent settings cpu_shared_set"):
        allocation_settings(_args(cpu_shared_set="0-3,x"), {})
    conf = tmp_path / "nova.conf"
    conf.write_text("[compute]\ncpu_dedicated_set = 0-3\ncpu_shared_set = 2-5\n")
    with pytest.raises(ConfigError, match="overlap on CPUs 2-3"):
        allocation_settings(_args(conf), {})
