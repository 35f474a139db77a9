"""PCI requests from ports, NUMA policies and request-spec matching (Nova §3.3, §3.5, §4.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.device import DevType
from pciplane.core.errors import RequestError
from pciplane.core.request import (
    SRIOV_VNIC_TYPES,
    NumaPolicy,
    PciRequest,
    RequestSource,
    RequestSpec,
    VnicType,
    parse_numa_policy,
    request_from_port,
    spec_matches,
)

# --- NUMA policy ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("required", NumaPolicy.REQUIRED, id="required"),
        pytest.param("legacy", NumaPolicy.LEGACY, id="legacy"),
        pytest.param("preferred", NumaPolicy.PREFERRED, id="preferred"),
        pytest.param("socket", NumaPolicy.SOCKET, id="socket"),
        pytest.param(" socket ", NumaPolicy.SOCKET, id="surrounding-space"),
        pytest.param(NumaPolicy.LEGACY, NumaPolicy.LEGACY, id="already-parsed"),
    ],
)
def test_numa_policy_parses(value: object, expected: NumaPolicy) -> None:
    assert parse_numa_policy(value, what="hw:pci_numa_affinity_policy") is expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("strict", id="unknown-word"),
        pytest.param(None, id="null"),
        pytest.param(1, id="number"),
    ],
)
def test_numa_policy_error_names_key_and_value(value: object) -> None:
    with pytest.raises(RequestError) as info:
        parse_numa_policy(value, what="hw:pci_numa_affinity_policy")
    message = str(info.value)
    assert "hw:pci_numa_affinity_policy" in message
    assert repr(value) in message
    assert "required, legacy, preferred, socket" in message


# --- vnic types and port requests (§4.3) -------------------------------------------


def test_neutrons_eleven_vnic_types_and_the_sriov_six() -> None:
    assert len(VnicType) == 11  # Nova's ten, and Neutron's smart-nic (clients §7.4)
    assert {v.value for v in SRIOV_VNIC_TYPES} == {
        "direct",
        "macvtap",
        "direct-physical",
        "virtio-forwarder",
        "vdpa",
        "remote-managed",
    }


@pytest.mark.parametrize(
    "vnic",
    [
        pytest.param("normal", id="normal"),
        pytest.param("baremetal", id="baremetal"),
        pytest.param("accelerator-direct", id="accelerator-direct"),
        pytest.param("accelerator-direct-physical", id="accelerator-direct-physical"),
    ],
)
def test_vnic_types_without_a_device_make_no_request(vnic: str) -> None:
    assert request_from_port(vnic_type=vnic, physical_network="physnet1") is None


@pytest.mark.parametrize(
    ("vnic", "trusted", "expected"),
    [
        pytest.param(
            "direct",
            None,
            {"physical_network": "physnet1", "remote_managed": "false"},
            id="direct",
        ),
        pytest.param(
            "macvtap",
            None,
            {"physical_network": "physnet1", "remote_managed": "false"},
            id="macvtap",
        ),
        pytest.param(
            "virtio-forwarder",
            None,
            {"physical_network": "physnet1", "remote_managed": "false"},
            id="virtio-forwarder",
        ),
        pytest.param(
            "direct-physical",
            None,
            {"physical_network": "physnet1", "remote_managed": "false", "dev_type": "type-PF"},
            id="direct-physical-asks-for-a-PF",
        ),
        pytest.param(
            "vdpa",
            None,
            {"physical_network": "physnet1", "remote_managed": "false", "dev_type": "vdpa"},
            id="vdpa",
        ),
        pytest.param(
            "remote-managed",
            None,
            {"physical_network": "physnet1", "remote_managed": "true"},
            id="remote-managed",
        ),
        pytest.param(
            "direct",
            True,
            {"physical_network": "physnet1", "remote_managed": "false", "trusted": "true"},
            id="trusted-true",
        ),
        pytest.param(
            "direct",
            False,
            {"physical_network": "physnet1", "remote_managed": "false", "trusted": "false"},
            id="trusted-false",
        ),
    ],
)
def test_port_request_spec(vnic: str, trusted: bool | None, expected: dict[str, str]) -> None:
    req = request_from_port(
        vnic_type=vnic, physical_network="physnet1", trusted=trusted, port_id="port-1"
    )
    assert req is not None
    assert req.count == 1
    assert req.source is RequestSource.PORT
    assert req.requester == "port-1"
    assert req.alias_name is None
    assert [s.as_dict() for s in req.specs] == [expected]


def test_tunnelled_port_asks_for_no_physnet() -> None:
    req = request_from_port(vnic_type=VnicType.DIRECT, physical_network=None)
    assert req is not None
    assert req.specs[0].items == (("physical_network", None), ("remote_managed", "false"))


@pytest.mark.parametrize(
    ("port", "flavor", "expected"),
    [
        pytest.param(None, None, None, id="neither"),
        pytest.param(None, NumaPolicy.PREFERRED, NumaPolicy.PREFERRED, id="flavor-only"),
        pytest.param(NumaPolicy.REQUIRED, None, NumaPolicy.REQUIRED, id="port-only"),
        pytest.param(NumaPolicy.SOCKET, NumaPolicy.LEGACY, NumaPolicy.SOCKET, id="port-wins"),
    ],
)
def test_port_numa_policy_overrides_flavor(
    port: NumaPolicy | None, flavor: NumaPolicy | None, expected: NumaPolicy | None
) -> None:
    req = request_from_port(
        vnic_type="direct",
        physical_network="p",
        numa_policy=port,
        flavor_numa_policy=flavor,
    )
    assert req is not None
    assert req.numa_policy is expected


def test_unknown_vnic_type_is_a_request_error() -> None:
    with pytest.raises(RequestError, match="'sriov'"):
        request_from_port(vnic_type="sriov", physical_network="p")


# --- RequestSpec --------------------------------------------------------------------


def test_request_spec_is_sorted_and_coerced() -> None:
    spec = RequestSpec.of({"vendor_id": "8086", "b": True, "a": 1, "c": None, "d": 1.5})
    assert spec.items == (
        ("a", "1"),
        ("b", "true"),
        ("c", None),
        ("d", "1.5"),
        ("vendor_id", "8086"),
    )
    assert spec.get("vendor_id") == "8086"
    assert spec.get("missing") is None
    assert spec == RequestSpec.of({"d": 1.5, "c": None, "b": True, "a": 1, "vendor_id": "8086"})
    assert hash(spec) == hash(RequestSpec(tuple(reversed(spec.items))))


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param({"dev_type": "type-PF"}, DevType.PF, id="pf"),
        pytest.param({"dev_type": "vdpa"}, DevType.VDPA, id="vdpa"),
        pytest.param({}, None, id="absent"),
        pytest.param({"dev_type": "type-X"}, None, id="unknown"),
    ],
)
def test_request_spec_dev_type(mapping: dict[str, str], expected: DevType | None) -> None:
    assert RequestSpec.of(mapping).dev_type is expected


@pytest.mark.parametrize(
    "mapping",
    [
        pytest.param({"a": ["x"]}, id="list-value"),
        pytest.param({"a": {"x": 1}}, id="object-value"),
    ],
)
def test_request_spec_rejects_non_scalar_values(mapping: dict[str, object]) -> None:
    with pytest.raises(RequestError, match="'a'"):
        RequestSpec.of(mapping)


def test_request_spec_rejects_a_repeated_key() -> None:
    with pytest.raises(RequestError, match="repeats a key"):
        RequestSpec((("a", "1"), ("a", "2")))


@pytest.mark.parametrize(
    ("count", "specs"),
    [
        pytest.param(-1, (RequestSpec.of({}),), id="negative-count"),
        pytest.param(True, (RequestSpec.of({}),), id="bool-count"),
        pytest.param(1, (), id="no-spec"),
    ],
)
def test_pci_request_rejects(count: int, specs: tuple[RequestSpec, ...]) -> None:
    with pytest.raises(RequestError):
        PciRequest(count=count, specs=specs)


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        pytest.param([{"live_migratable": "true"}], True, id="one-true"),
        pytest.param([{"live_migratable": "yes"}, {"live_migratable": "1"}], True, id="all"),
        pytest.param([{"live_migratable": "true"}, {}], False, id="one-unset"),
        pytest.param([{"live_migratable": "false"}], False, id="false"),
    ],
)
def test_is_live_migratable_needs_every_spec(specs: list[dict[str, str]], expected: bool) -> None:
    req = PciRequest(count=1, specs=tuple(RequestSpec.of(s) for s in specs))
    assert req.is_live_migratable is expected


# --- spec_matches (§3.3, §3.5, Q5, Q6) ------------------------------------------------

VF_POOL = {
    "vendor_id": "8086",
    "product_id": "154c",
    "dev_type": "type-VF",
    "physical_network": "physnet1",
    "remote_managed": "false",
}


@pytest.mark.parametrize(
    ("spec", "pool", "expected"),
    [
        pytest.param(
            {"physical_network": "physnet1", "remote_managed": "false"},
            VF_POOL,
            True,
            id="s3.5-direct-port-matches-vf-pool",
        ),
        pytest.param(
            {"physical_network": "PhysNet1", "remote_managed": "False"},
            VF_POOL,
            True,
            id="s3.5-physnet-case-insensitive",
        ),
        pytest.param(
            {"physical_network": "physnet2", "remote_managed": "false"},
            VF_POOL,
            False,
            id="other-physnet",
        ),
        pytest.param(
            {"physical_network": "physnet1", "remote_managed": "false"},
            {"vendor_id": "10de", "product_id": "1db4", "physical_network": "physnet1"},
            False,
            id="s3.5-Q7-type-PCI-without-remote-managed-default",
        ),
        pytest.param(
            {"physical_network": None, "remote_managed": "false"},
            {k: v for k, v in VF_POOL.items() if k != "physical_network"},
            True,
            id="s3.5-tunnelled-matches-pool-without-physnet",
        ),
        pytest.param(
            {"physical_network": None, "remote_managed": "false"},
            {**VF_POOL, "physical_network": None},
            True,
            id="s3.5-tunnelled-matches-explicit-null",
        ),
        pytest.param(
            {"physical_network": None, "remote_managed": "false"},
            VF_POOL,
            False,
            id="s3.5-tunnelled-rejects-physnet-pool",
        ),
        pytest.param(
            {"vendor_id": "10DE", "product_id": "1DB4"},
            {"vendor_id": "10de", "product_id": "1db4", "dev_type": "type-PCI"},
            True,
            id="s3.5-alias-ids-case-insensitive",
        ),
        pytest.param(
            {"physical_network": "physnet1", "remote_managed": "false"},
            {**VF_POOL, "trusted": "true"},
            True,
            id="s3.5-no-trusted-in-port-matches-trusted-vf",
        ),
        pytest.param(
            {"physical_network": "physnet1", "remote_managed": "false", "trusted": "false"},
            VF_POOL,
            True,
            id="Q6-untagged-vf-counts-as-untrusted",
        ),
        pytest.param(
            {"physical_network": "physnet1", "remote_managed": "false", "trusted": "false"},
            {**VF_POOL, "trusted": "true"},
            False,
            id="trusted-false-rejects-trusted-vf",
        ),
        pytest.param(
            {"physical_network": "physnet1", "remote_managed": "false", "trusted": "true"},
            VF_POOL,
            False,
            id="trusted-true-needs-a-trusted-vf",
        ),
        pytest.param(
            {"trusted": "True"},
            {"trusted": True},
            True,
            id="Q5-json-true-equals-True",
        ),
        pytest.param({"trusted": "true"}, {"trusted": "yes"}, True, id="Q5-yes"),
        pytest.param({"trusted": "true"}, {"trusted": "1"}, True, id="Q5-one"),
        pytest.param({"trusted": "true"}, {"trusted": "ON"}, True, id="Q5-on"),
        pytest.param({"trusted": "false"}, {"trusted": "no"}, True, id="Q5-no"),
        pytest.param({"trusted": "false"}, {"trusted": False}, True, id="Q5-json-false"),
        pytest.param({"trusted": "false"}, {"trusted": "yes"}, False, id="Q5-false-vs-yes"),
        pytest.param(
            {"remote_managed": "true"}, {"remote_managed": "yes"}, True, id="Q5-remote-managed"
        ),
        pytest.param({"managed": "no"}, {"managed": "false"}, True, id="Q5-managed"),
        pytest.param(
            {"live_migratable": "t"}, {"live_migratable": "true"}, True, id="Q5-live-migratable"
        ),
        pytest.param(
            {"remote_managed": "false"}, {}, False, id="remote-managed-false-needs-the-key"
        ),
        pytest.param({"foo": "1"}, {"foo": 1}, True, id="number-tag-as-string"),
        pytest.param({"foo": "true"}, {"foo": "yes"}, False, id="ordinary-tag-not-normalised"),
        pytest.param({"foo": "a"}, {"foo": ["a"]}, False, id="list-tag-never-equals-string"),
        pytest.param(
            {"vendor_id": "8086", "resource_class": "CUSTOM_X", "traits": "A,B"},
            {"vendor_id": "8086"},
            True,
            id="s3.4-placement-keys-ignored",
        ),
        pytest.param(
            {"vendor_id": "8086", "rp_uuids": "u1", "rp_uuid": "u2"},
            {"vendor_id": "8086", "rp_uuid": "other"},
            True,
            id="s3.4-rp-uuids-ignored",
        ),
        pytest.param({}, VF_POOL, True, id="empty-spec-matches-anything"),
        pytest.param({"label": None}, {"label": None}, True, id="none-equals-none"),
        pytest.param({"label": "x"}, {}, False, id="missing-key-is-none"),
    ],
)
def test_spec_matches(spec: dict[str, object], pool: dict[str, object], expected: bool) -> None:
    assert spec_matches(RequestSpec.of(spec), pool) is expected


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.sampled_from(["true", "True", "yes", "no", "0", "1", "off", "On"]),
)
_keys = st.sampled_from(
    ["trusted", "remote_managed", "managed", "physical_network", "vendor_id", "foo"]
)


@given(st.dictionaries(_keys, _scalars, max_size=5))
def test_a_pool_matches_the_spec_made_from_it(pool: dict[str, object]) -> None:
    """Whatever a pool holds, a spec that repeats its attributes matches it."""
    assert spec_matches(RequestSpec.of(pool), pool)


@given(st.dictionaries(_keys, _scalars, max_size=5), st.dictionaries(_keys, _scalars))
def test_matching_is_the_and_of_single_keys(
    spec: dict[str, object], pool: dict[str, object]
) -> None:
    whole = spec_matches(RequestSpec.of(spec), pool)
    parts = all(spec_matches(RequestSpec.of({k: v}), pool) for k, v in spec.items())
    assert whole is parts
