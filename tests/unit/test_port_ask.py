"""What-if ports and NUMA cells as users type them (core/port_ask.py)."""

from __future__ import annotations

import pytest

from pciplane.core.device import DevType
from pciplane.core.errors import RequestError
from pciplane.core.port_ask import PortAsk, parse_numa_cells, parse_port_ask
from pciplane.core.request import NumaPolicy, VnicType


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("physnet1", PortAsk(physical_network="physnet1"), id="physnet-alone"),
        pytest.param(
            "physnet2:direct-physical",
            PortAsk(physical_network="physnet2", vnic_type=VnicType.DIRECT_PHYSICAL),
            id="whole-pf",
        ),
        pytest.param(
            "physnet1:macvtap:grp",
            PortAsk(physical_network="physnet1", vnic_type=VnicType.MACVTAP, pci_group="grp"),
            id="with-group",
        ),
    ],
)
def test_ports_parse(text: str, expected: PortAsk) -> None:
    assert parse_port_ask(text, "ports") == expected
    assert parse_port_ask(expected.text(), "ports") == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param(":direct", "names no physical network", id="no-physnet"),
        pytest.param("physnet1:direct:", "is not PHYSNET[:VNIC_TYPE[:", id="empty-group"),
        pytest.param("physnet1:direct:g:x", "is not PHYSNET", id="too-many-parts"),
        pytest.param("physnet1:normal", "vnic type 'normal' is not one of", id="needs-no-device"),
        pytest.param("physnet1:sideways", "vnic type 'sideways'", id="unknown-vnic"),
    ],
)
def test_bad_ports_are_named(text: str, words: str) -> None:
    with pytest.raises(RequestError, match=r"^ports: ") as caught:
        parse_port_ask(text, "ports")
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("text", "cells", "words"),
    [
        pytest.param("0", (0,), "", id="one"),
        pytest.param("0,1", (0, 1), "", id="two"),
        pytest.param("0,x", None, "are not integers like 0,1", id="not-a-number"),
        pytest.param("", None, "are not integers", id="empty"),
        pytest.param("1,-1", None, "must not be negative", id="negative"),
    ],
)
def test_numa_cells(text: str, cells: tuple[int, ...] | None, words: str) -> None:
    if cells is not None:
        assert parse_numa_cells(text, "NUMA cells") == cells
        return
    with pytest.raises(RequestError, match=words):
        parse_numa_cells(text, "NUMA cells")


@pytest.mark.parametrize(
    ("ask", "flavor_policy", "policy", "dev_type"),
    [
        pytest.param(PortAsk(physical_network="p"), None, None, None, id="vf"),
        pytest.param(
            PortAsk(physical_network="p", vnic_type=VnicType.DIRECT_PHYSICAL),
            NumaPolicy.SOCKET, NumaPolicy.SOCKET, DevType.PF.value, id="pf-flavor-policy",
        ),
        pytest.param(
            PortAsk(physical_network="p", numa_affinity_policy=NumaPolicy.REQUIRED),
            NumaPolicy.PREFERRED, NumaPolicy.REQUIRED, None, id="port-policy-wins",
        ),
    ],
)  # fmt: skip
def test_the_request_is_a_real_ports(
    ask: PortAsk, flavor_policy: NumaPolicy | None, policy: NumaPolicy | None, dev_type: str | None
) -> None:
    request = ask.request(flavor_policy)
    assert request is not None
    assert request.count == 1
    assert request.numa_policy == policy
    assert request.specs[0].get("physical_network") == "p"
    assert request.specs[0].get("dev_type") == dev_type
