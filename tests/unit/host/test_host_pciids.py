"""Vendor and device names from a pci.ids file (format: the header of pci.ids)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pciplane.host.pciids import PciNames

SAMPLE = """\
# comment line
#\tdddd  looks like a device but is a comment
8086  Intel Corporation
\t158b  Ethernet Controller XXV710 for 25GbE SFP28
\t\t8086 0000  Ethernet Network Adapter XXV710
\t154c  Ethernet Virtual Function 700 Series
10de  NVIDIA Corporation
\t20B5  GA100 [A100 PCIe 80GB]
abcd  Vendor Without Devices
C 02  Network controller
\t00  Ethernet controller
"""


@pytest.fixture
def names(tmp_path: Path) -> PciNames:
    path = tmp_path / "pci.ids"
    path.write_text(SAMPLE)
    return PciNames(path)


@pytest.mark.parametrize(
    ("vendor", "product", "vendor_name", "product_name"),
    [
        pytest.param("8086", "158b", "Intel Corporation",
                     "Ethernet Controller XXV710 for 25GbE SFP28", id="known"),
        pytest.param("8086", "154c", "Intel Corporation",
                     "Ethernet Virtual Function 700 Series", id="after-subsystem-line"),
        pytest.param("8086", "0000", "Intel Corporation", None, id="subsystem-is-not-a-device"),
        pytest.param("10DE", "20b5", "NVIDIA Corporation", "GA100 [A100 PCIe 80GB]",
                     id="case-insensitive"),
        pytest.param("abcd", "0000", "Vendor Without Devices", None, id="no-devices"),
        pytest.param("abcd", "00", "Vendor Without Devices", None, id="class-lines-ignored"),
        pytest.param("ffff", "0001", None, None, id="unknown-vendor"),
    ],
)  # fmt: skip
def test_lookups(
    names: PciNames, vendor: str, product: str, vendor_name: str | None, product_name: str | None
) -> None:
    assert (names.vendor(vendor), names.device(vendor, product)) == (vendor_name, product_name)


def test_absent_file_gives_ids_alone(tmp_path: Path) -> None:
    names = PciNames(tmp_path / "missing.ids")
    assert (names.vendor("8086"), names.device("8086", "158b")) == (None, None)


_hex4 = st.integers(0, 0xFFFF).map(lambda n: f"{n:04x}")
_name = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1)
    .map(str.strip)
    .filter(bool)
)
_db = st.dictionaries(_hex4, st.tuples(_name, st.dictionaries(_hex4, _name, max_size=5)),
                      max_size=8)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(db=_db)
def test_every_written_entry_reads_back(
    tmp_path_factory: pytest.TempPathFactory, db: dict[str, tuple[str, dict[str, str]]]
) -> None:
    lines = ["# generated"]
    for vid, (vname, devices) in db.items():
        lines.append(f"{vid}  {vname}")
        for pid, pname in devices.items():
            lines += [f"\t{pid}  {pname}", f"\t\t{vid} {pid}  subsystem of {pname}"]
    path = tmp_path_factory.mktemp("ids") / "pci.ids"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    names = PciNames(path)
    for vid, (vname, devices) in db.items():
        assert names.vendor(vid.upper()) == vname
        for pid, pname in devices.items():
            assert names.device(vid, pid) == pname


def test_real_database_if_installed() -> None:
    path = Path("/usr/share/misc/pci.ids")
    if not path.exists():
        pytest.skip("hwdata's pci.ids is not installed")
    names = PciNames(path)
    assert names.vendor("8086") == "Intel Corporation"
    assert names.device("15b3", "1018") is not None
