"""The quota arithmetic (core/quota.py): what a server counts against, and the check."""

from __future__ import annotations

import pytest

from pciplane.core.errors import QuotaExceededError, RequestError
from pciplane.core.quota import binding, check, check_limit, check_resource, server_request


def test_a_server_counts_itself_its_cpus_ram_devices_and_ports() -> None:
    asked = server_request(
        vcpus=4,
        ram=2048,
        extra_specs={"pci_passthrough:alias": "gpu:2, nic:1,gpu:1"},
        physnets=["physnet1", "physnet1", "physnet2"],
    )
    assert asked == {
        "instances": 1, "cores": 4, "ram": 2048, "pci_devices:gpu": 3, "pci_devices:nic": 1,
        "sriov_ports:physnet1": 2, "sriov_ports:physnet2": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("limits", "used", "asked", "refusal"),
    [
        pytest.param({"cores": 20}, {"cores": 18}, {"cores": 4},
                     "quota exceeded for cores: 18 of 20 used, 4 requested", id="over"),
        pytest.param({"cores": 20}, {"cores": 16}, {"cores": 4}, None, id="exactly-full"),
        pytest.param({"cores": -1}, {"cores": 10**6}, {"cores": 4}, None, id="unlimited"),
        pytest.param({}, {}, {"pci_devices:gpu": 9}, None, id="unnamed-alias-unlimited"),
        pytest.param({"pci_devices:gpu": 0}, {}, {"pci_devices:gpu": 1},
                     "quota exceeded for pci_devices:gpu: 0 of 0 used, 1 requested", id="zero"),
        pytest.param({"instances": 1, "cores": 1}, {"instances": 1, "cores": 1},
                     {"instances": 1, "cores": 1},
                     "quota exceeded for instances: 1 of 1 used, 1 requested",
                     id="instances-named-first"),
    ],
)  # fmt: skip
def test_check(
    limits: dict[str, int], used: dict[str, int], asked: dict[str, int], refusal: str | None
) -> None:
    if refusal is None:
        check(limits, used, asked)
        return
    with pytest.raises(QuotaExceededError) as caught:
        check(limits, used, asked)
    assert str(caught.value) == refusal


@pytest.mark.parametrize(
    "name", ["cores", "instances", "ram", "pci_devices:large_GPU", "sriov_ports:physnet1"]
)
def test_resource_names(name: str) -> None:
    assert check_resource(name) == name


@pytest.mark.parametrize("name", ["vcpus", "pci_devices:", "sriov_ports: x", "gpus"])
def test_bad_resource_names_are_refused(name: str) -> None:
    with pytest.raises(RequestError, match="expected instances, cores, ram"):
        check_resource(name)


def test_a_limit_below_unlimited_is_refused() -> None:
    assert check_limit("cores", -1) == -1
    with pytest.raises(RequestError, match="-2 is not a limit"):
        check_limit("cores", -2)
    assert check_limit("cores", 2**31 - 1) == 2**31 - 1
    with pytest.raises(RequestError, match="2147483648 is not a limit"):
        check_limit("cores", 2**31)


@pytest.mark.parametrize(
    ("limits", "requested", "expected"),
    [
        pytest.param({}, {"instances": 1, "cores": 4}, False, id="nothing-set"),
        pytest.param({"instances": -1, "cores": -1}, {"instances": 1, "cores": 4}, False,
                     id="all-unlimited"),
        pytest.param({"instances": -1, "cores": 8}, {"instances": 1, "cores": 4}, True,
                     id="cores-limited"),
        pytest.param({"cores": 0}, {"instances": 1, "cores": 4}, True, id="zero-limits"),
        pytest.param({"pci_devices:gpu": 2}, {"instances": 1}, False,
                     id="limited-but-not-asked"),
        pytest.param({"pci_devices:gpu": 2}, {"instances": 1, "pci_devices:gpu": 1}, True,
                     id="alias-limited"),
        pytest.param({"ram": 10}, {"ram": 0}, False, id="asks-none-of-it"),
    ],
)  # fmt: skip
def test_binding_says_whether_any_limit_can_refuse(
    limits: dict[str, int], requested: dict[str, int], expected: bool
) -> None:
    assert binding(limits, requested) is expected
    if not expected:  # then no usage, however large, makes check refuse
        check(limits, {r: 10**9 for r in (*limits, *requested)}, requested)
