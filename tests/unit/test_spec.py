"""``[pci] device_spec`` parsing and resolution (nova-pci-semantics §1.2-§1.7; Q1, Q5, Q15)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.address import GlobPattern, PciAddress, RegexPattern
from pciplane.core.device import DevType, Inventory, PciDevice
from pciplane.core.errors import DeviceSpecError
from pciplane.core.spec import (
    DeviceSpec,
    HostSpecs,
    TagValue,
    parse_device_specs,
    resolve_specs,
)

ACCEPTED = "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"


def one(entry: object) -> DeviceSpec:
    specs = parse_device_specs([entry])
    assert len(specs) == 1
    return specs[0]


# --- §1.2 entries ---------------------------------------------------------------------


def test_entries_flatten_in_order_and_index_counts_the_flat_list() -> None:
    specs = parse_device_specs(
        [
            '{"vendor_id": "8086"}',
            '[{"vendor_id": "10de"}, {"vendor_id": "15b3"}]',
            "[]",
            {"vendor_id": "1af4"},
            [{"vendor_id": "abcd"}],
        ]
    )
    assert [(s.index, s.vendor_id) for s in specs] == [
        (0, "8086"),
        (1, "10de"),
        (2, "15b3"),
        (3, "1af4"),
        (4, "abcd"),
    ]
    assert specs[0].text == '{"vendor_id": "8086"}'
    assert json.loads(specs[2].text) == {"vendor_id": "15b3"}
    assert json.loads(specs[3].text) == {"vendor_id": "1af4"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param("{", "not valid JSON", id="s1.2-bad-json"),
        pytest.param("5", "expecting a JSON object or a list", id="s1.2-number"),
        pytest.param('"x"', "expecting a JSON object or a list", id="s1.2-json-string"),
        pytest.param('[{"vendor_id": "8086"}, 3]', "list element 1 (3)", id="s1.2-non-dict"),
        pytest.param(42, "expected a JSON string, object or list", id="not-json-text"),
        pytest.param(None, "expected a JSON string, object or list", id="null-entry"),
        pytest.param({1: "x"}, "keys must be strings", id="non-string-key"),
    ],
)
def test_entry_shape_errors(entry: object, message: str) -> None:
    with pytest.raises(DeviceSpecError, match="entry 1") as info:
        parse_device_specs(['{"vendor_id": "8086"}', entry])
    assert message in str(info.value)
    assert info.value.index == 1
    assert info.value.entry == entry


def test_too_deep_json_is_a_spec_error() -> None:
    with pytest.raises(DeviceSpecError):
        parse_device_specs(["[" * 100_000 + "]" * 100_000])


# --- §1.3 vendor and product ids ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("8086", "8086", id="plain"),
        pytest.param("ABCD", "abcd", id="s1.3-upper-case-lowered"),
        pytest.param("0x10", "0010", id="s1.3-0x-prefix-padded"),
        pytest.param(" 8086 ", "8086", id="s1.3-whitespace"),
        pytest.param("*", None, id="s1.3-wildcard"),
        pytest.param(None, None, id="null"),
        pytest.param("ffff", "ffff", id="maximum"),
    ],
)
@pytest.mark.parametrize("key", ["vendor_id", "product_id"])
def test_ids(key: str, value: object, expected: str | None) -> None:
    assert getattr(one({key: value}), key) == expected


def test_missing_ids_are_wildcards() -> None:
    spec = one("{}")
    assert (spec.vendor_id, spec.product_id, spec.address, spec.devname) == (None,) * 4


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("", "does not parse as a hex number", id="s1.3-empty"),
        pytest.param("80g6", "does not parse as a hex number", id="s1.3-not-hex"),
        pytest.param("-1", "does not parse as a hex number", id="negative"),
        pytest.param("10000", "greater than the maximum allowable value (FFFF)", id="s1.3-big"),
        pytest.param(8086, "must be a string", id="Q15-json-number"),
        pytest.param(["8086"], "must be a string", id="Q15-list"),
        pytest.param(True, "must be a string", id="Q15-bool"),
    ],
)
@pytest.mark.parametrize("key", ["vendor_id", "product_id"])
def test_bad_ids(key: str, value: object, message: str) -> None:
    with pytest.raises(DeviceSpecError) as info:
        one({key: value})
    assert message in str(info.value)
    assert info.value.key == key
    assert info.value.value == value


# --- §1.3 address and devname ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # §1.3: Nova takes any falsy address as the glob *:*:*.* (every address).
        pytest.param("", None, id="s1.3-empty-string-is-any"),
        pytest.param({}, None, id="s1.3-empty-dict-is-any"),
        pytest.param([], None, id="s1.3-empty-list-is-any"),
        pytest.param(0, None, id="s1.3-zero-is-any"),
        pytest.param(False, None, id="s1.3-false-is-any"),
        pytest.param(None, None, id="null-is-any"),
        pytest.param("*:0a:00.*", GlobPattern("*", "0a", "00", "*"), id="glob"),
        pytest.param(
            {"bus": "0", "slot": "0[0-2]"},
            RegexPattern(".*", "0", "0[0-2]", ".*"),
            id="regex",
        ),
    ],
)
def test_address(value: object, expected: object) -> None:
    assert one({"address": value}).address == expected


@pytest.mark.parametrize("value", [pytest.param("", id="empty"), pytest.param([], id="list")])
def test_falsy_address_beside_devname_is_no_conflict(value: object) -> None:
    """§1.3: the address/devname conflict is checked on a truthy address only."""
    spec = one({"address": value, "devname": "ens1f0"})
    assert (spec.address, spec.devname) == (None, "ens1f0")


@pytest.mark.parametrize(
    ("obj", "key", "message"),
    [
        pytest.param({"address": 5}, "address", "incorrect format", id="s1.3-number-address"),
        pytest.param({"address": ["x"]}, "address", "incorrect format", id="s1.3-list-address"),
        pytest.param({"address": "0000:0a:00.8"}, "address", "function", id="s1.4-function"),
        pytest.param({"address": {"bus": "("}}, "address", "bus", id="s1.4.2-bad-regex"),
        pytest.param({"address": {"bus": 3}}, "address", "string", id="Q15-regex-field"),
        pytest.param(
            {"address": "0000:0a:00.1", "devname": "eth0"},
            "devname",
            "devname and address cannot both be given",
            id="s1.3-devname-and-address",
        ),
        pytest.param({"devname": ""}, "devname", "non-empty string", id="empty-devname"),
        pytest.param({"devname": 3}, "devname", "non-empty string", id="number-devname"),
    ],
)
def test_location_errors(obj: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(DeviceSpecError) as info:
        one(obj)
    assert message in str(info.value)
    assert info.value.key == key
    assert info.value.index == 0


# --- §1.3 tags, §1.6 normalisation --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("physnet1", "physnet1", id="string"),
        pytest.param(1, 1, id="number-kept"),
        pytest.param(1.5, 1.5, id="float-kept"),
        pytest.param(True, True, id="bool-kept"),
        pytest.param(None, None, id="null-kept"),
        pytest.param(["a", "b"], ("a", "b"), id="list-of-strings-frozen"),
    ],
)
def test_ordinary_tags_keep_their_json_type(value: object, expected: TagValue) -> None:
    spec = one({"vendor_id": "8086", "label": value})
    assert spec.tags == (("label", expected),)
    assert spec.tag("label") == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"a": 1}, id="object"),
        pytest.param([1, 2], id="list-of-numbers"),
        pytest.param([["a"]], id="nested-list"),
    ],
)
def test_tags_that_could_never_be_requested_are_refused(value: object) -> None:
    with pytest.raises(DeviceSpecError, match="a tag must be"):
        one({"label": value})


@pytest.mark.parametrize("value", [pytest.param(3, id="number"), pytest.param(True, id="bool")])
def test_physical_network_must_be_a_string(value: object) -> None:
    with pytest.raises(DeviceSpecError, match="string or null"):
        one({"physical_network": value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[pytest.param(w, "true", id=f"s1.6-{w}") for w in ["1", "on", "t", "true", "y", "yes"]],
        *[pytest.param(w, "false", id=f"s1.6-{w}") for w in ["0", "f", "false", "n", "no", "off"]],
        pytest.param("YES", "true", id="s1.6-case-insensitive"),
        pytest.param(" Off ", "false", id="s1.6-whitespace"),
        pytest.param(True, "true", id="s1.6-json-true"),
        pytest.param(False, "false", id="s1.6-json-false"),
        pytest.param(1, "true", id="json-one"),
        pytest.param(None, None, id="s1.6-null-not-normalised"),
    ],
)
@pytest.mark.parametrize("key", ["managed", "live_migratable", "trusted", "remote_managed"])
def test_boolean_tags_are_normalised(key: str, value: object, expected: str | None) -> None:
    assert one({key: value}).tag(key) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("maybe", id="word"),
        pytest.param("", id="empty"),
        pytest.param(2, id="two"),
        pytest.param(1.0, id="float"),
        pytest.param(["true"], id="list"),
    ],
)
@pytest.mark.parametrize("key", ["managed", "live_migratable", "one_time_use", "trusted"])
def test_boolean_tag_error_lists_accepted_values(key: str, value: object) -> None:
    with pytest.raises(DeviceSpecError) as info:
        one({key: value})
    assert (
        f"Cannot parse tag '{key}': Unrecognized value '{value}', acceptable values are: {ACCEPTED}"
    ) in str(info.value)
    assert info.value.key == key


def test_one_time_use_true_is_refused_and_false_kept() -> None:
    with pytest.raises(DeviceSpecError, match="one_time_use=true needs Placement"):
        one({"one_time_use": "yes"})
    assert one({"one_time_use": "no"}).tag("one_time_use") == "false"


def test_pool_tags_leave_out_placement_keys() -> None:
    spec = one(
        {
            "physical_network": "p",
            "resource_class": "CUSTOM_A",
            "traits": "T1,T2",
            "rp_uuid": "u",
            "foo": "bar",
        }
    )
    assert spec.tag("resource_class") == "CUSTOM_A"
    assert dict(spec.pool_tags()) == {"physical_network": "p", "foo": "bar"}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({}, ("None", None, False, True, None), id="defaults"),
        pytest.param(
            {
                "physical_network": "p1",
                "trusted": "yes",
                "remote_managed": "true",
                "managed": "no",
                "live_migratable": "1",
            },
            ("p1", True, True, False, True),
            id="all-set",
        ),
        pytest.param(
            {"trusted": "false", "remote_managed": "false", "managed": None},
            ("None", False, False, True, None),
            id="false-and-null",
        ),
    ],
)
def test_properties(obj: dict[str, object], expected: tuple[object, ...]) -> None:
    spec = one(obj)
    got = (
        str(spec.physical_network),
        spec.trusted,
        spec.remote_managed,
        spec.managed,
        spec.live_migratable,
    )
    assert got == expected


# --- properties over arbitrary JSON ------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from(["*", "8086", "0x10", "yes", "0000:3b:00.0", "*:*:*.*"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "vendor_id",
                    "product_id",
                    "address",
                    "devname",
                    "managed",
                    "trusted",
                    "remote_managed",
                    "one_time_use",
                    "physical_network",
                    "domain",
                    "bus",
                    "foo",
                ]
            )
            | st.text(max_size=4),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@given(st.lists(_json, max_size=3))
def test_any_json_gives_specs_or_a_spec_error(entries: list[object]) -> None:
    for form in (entries, [json.dumps(e) for e in entries]):
        with contextlib.suppress(DeviceSpecError):
            parse_device_specs(form)


_good_value = st.sampled_from(["*", "8086", "ABCD", "0x10", None])
_good_entry = st.fixed_dictionaries(
    {},
    optional={
        "vendor_id": _good_value,
        "product_id": _good_value,
        "address": st.sampled_from(
            ["", "0000:3b:00.0", "*:0a:00.*", ".1", {"bus": "3b"}, {"slot": "0[0-2]"}]
        ),
        "physical_network": st.sampled_from(["physnet1", None]),
        "trusted": st.sampled_from(["yes", "0", True, None]),
        "managed": st.sampled_from(["on", "no", False]),
        "foo": st.one_of(st.integers(), st.text(max_size=4), st.lists(st.text(max_size=2))),
    },
)


@given(st.lists(_good_entry, max_size=4))
def test_parse_is_idempotent_on_reserialised_specs(entries: list[dict[str, object]]) -> None:
    first = parse_device_specs(entries)
    again = parse_device_specs([json.dumps(s.as_entry()) for s in first])
    strip = [(s.vendor_id, s.product_id, s.address, s.devname, s.tags) for s in first]
    assert [(s.vendor_id, s.product_id, s.address, s.devname, s.tags) for s in again] == strip


# --- resolution (§1.4.3, §1.4.4, §1.5, §1.7; Q1) -------------------------------------------

PF = PciAddress.parse("0000:3b:00.0")
VF0 = PciAddress.parse("0000:3b:02.0")
VF1 = PciAddress.parse("0000:3b:02.1")
GPU = PciAddress.parse("0000:af:00.0")
DPU_PF = PciAddress.parse("0000:5e:00.0")
DPU_VF = PciAddress.parse("0000:5e:00.3")
PLAIN_VF = PciAddress.parse("0000:5e:00.4")  # a VF of the DPU without a VPD serial


def _dev(addr: PciAddress, vendor: str, product: str, **kw: object) -> PciDevice:
    return PciDevice(address=addr, vendor_id=vendor, product_id=product, **kw)  # type: ignore[arg-type]


def host(*extra: PciDevice) -> Inventory:
    return Inventory.of(
        [
            _dev(PF, "8086", "158b", dev_type=DevType.PF, devname="ens1f0"),
            _dev(VF0, "8086", "154c", dev_type=DevType.VF, parent_addr=PF, devname="ens1f0v0"),
            _dev(VF1, "8086", "154c", dev_type=DevType.VF, parent_addr=PF),
            _dev(GPU, "10de", "1db4"),
            _dev(DPU_PF, "15b3", "a2d6", dev_type=DevType.PF, card_serial_number="MT1"),
            _dev(
                DPU_VF,
                "15b3",
                "101e",
                dev_type=DevType.VF,
                parent_addr=DPU_PF,
                card_serial_number="MT1",
            ),
            _dev(PLAIN_VF, "15b3", "101e", dev_type=DevType.VF, parent_addr=DPU_PF),
            *extra,
        ]
    )


def matched(entries: list[object], inventory: Inventory | None = None) -> set[str]:
    inv = inventory if inventory is not None else host()
    resolved = resolve_specs(parse_device_specs(entries), inv)
    return {str(d.address) for d in inv if resolved.match(d) is not None}


ALL = {str(a) for a in (PF, VF0, VF1, GPU, DPU_PF, DPU_VF, PLAIN_VF)}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param({}, ALL, id="s1.5-empty-spec-matches-all"),
        pytest.param({"vendor_id": "8086"}, {str(PF), str(VF0), str(VF1)}, id="s1.5-vendor"),
        pytest.param(
            {"vendor_id": "8086", "product_id": "154c"}, {str(VF0), str(VF1)}, id="s1.5-product"
        ),
        pytest.param({"vendor_id": "8086", "product_id": "1db4"}, set(), id="ids-disagree"),
        pytest.param(
            {"address": "0000:3b:00.0"},
            {str(PF), str(VF0), str(VF1)},
            id="s1.4.3-literal-pf-matches-its-vfs",
        ),
        pytest.param(
            {"address": "0000:3b:00.0", "product_id": "154c"},
            {str(VF0), str(VF1)},
            id="s1.4.3-pf-address-with-vf-product",
        ),
        pytest.param(
            {"address": {"domain": "0000", "bus": "3b", "slot": "00", "function": "0"}},
            {str(PF), str(VF0), str(VF1)},
            id="s1.4.3-regex-literal-pf",
        ),
        pytest.param({"address": "0000:3b:02.1"}, {str(VF1)}, id="literal-vf-only-itself"),
        pytest.param({"address": "0000:3b:02.*"}, {str(VF0), str(VF1)}, id="glob-wildcard"),
        pytest.param({"address": "0000:3b:00.1"}, set(), id="literal-absent"),
        pytest.param({"address": {"bus": "3"}}, {str(PF), str(VF0), str(VF1)}, id="Q13-prefix"),
        pytest.param({"devname": "ens1f0"}, {str(PF), str(VF0), str(VF1)}, id="s1.4.4-devname-pf"),
        pytest.param({"devname": "ens1f0v0"}, {str(VF0)}, id="s1.4.4-devname-vf-exact"),
        pytest.param({"devname": "nope"}, set(), id="s1.4.4-devname-absent"),
        pytest.param(
            {"remote_managed": "true"},
            {str(DPU_PF), str(DPU_VF)},
            id="s1.5-remote-managed-needs-a-serial",
        ),
        pytest.param(
            {"address": "0000:5e:00.0", "product_id": "101e", "remote_managed": "yes"},
            {str(DPU_VF)},
            id="s1.7-remote-managed-pf-with-vf-product-addresses-vfs",
        ),
        pytest.param(
            {"address": "0000:5e:00.0", "product_id": "a2d6", "remote_managed": "true"},
            set(),
            id="s1.7-remote-managed-pf-refused",
        ),
    ],
)
def test_resolution(entry: object, expected: set[str]) -> None:
    assert matched([entry]) == expected


@pytest.mark.parametrize(
    ("entry", "problem", "severity"),
    [
        # §1.4.4: Nova accepts a devname that is absent; it matches nothing.
        pytest.param(
            {"devname": "nope"},
            "device_spec entry 1: devname nope is not present on this host",
            "warning",
            id="absent-devname",
        ),
        # §1.7: ... unless the entry is remote-managed: then Nova refuses to start.
        pytest.param(
            {"devname": "nope", "remote_managed": "true"},
            "device_spec entry 1: devname nope is not present on this host",
            "error",
            id="s1.7-absent-remote-managed-devname",
        ),
        pytest.param(
            {"address": "0000:5e:00.0", "product_id": "a2d6", "remote_managed": "true"},
            "device_spec entry 1: remote-managed: it names the PF 0000:5e:00.0 and "
            "remote-managed PFs are not allowed",
            "error",
            id="s1.7-pf-product",
        ),
        pytest.param(
            {"address": "0000:5e:00.0", "remote_managed": "true"},
            "remote-managed PFs are not allowed",
            "error",
            id="s1.7-wildcard-product",
        ),
        pytest.param(
            {"address": "0000:5e:00.0", "product_id": "1234", "remote_managed": "true"},
            "the ids *:1234 do not match the VFs of the PF 0000:5e:00.0 (15b3:101e)",
            "error",
            id="s1.7-other-product",
        ),
    ],
)
def test_resolution_problems(entry: object, problem: str, severity: str) -> None:
    resolved = resolve_specs(parse_device_specs([{"vendor_id": "dead"}, entry]), host())
    assert len(resolved.problems) == 1
    assert problem in str(resolved.problems[0])
    assert resolved.problems[0].severity == severity


def test_first_matching_spec_wins() -> None:
    specs = parse_device_specs(
        [
            {"address": "0000:3b:02.1", "physical_network": "a"},
            {"vendor_id": "8086", "physical_network": "b"},
        ]
    )
    resolved = resolve_specs(specs, host())
    inv = host()
    assert resolved.match(inv.get(VF1)) is specs[0]
    assert resolved.match(inv.get(VF0)) is specs[1]
    assert resolved.match(inv.get(GPU)) is None


def test_host_specs_equal_when_hosts_resolve_alike() -> None:
    specs = parse_device_specs(
        [{"address": "0000:3b:00.0"}, {"devname": "ens1f0v0"}, {"vendor_id": "10de"}]
    )
    a, b = resolve_specs(specs, host()), resolve_specs(specs, host())
    assert isinstance(a, HostSpecs)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    # Without that PF (and its VF's devname), the same specs resolve otherwise.
    other = Inventory.of([_dev(GPU, "10de", "1db4")])
    c = resolve_specs(specs, other)
    assert c != a
    assert [str(p) for p in c.problems] == [
        "device_spec entry 1: devname ens1f0v0 is not present on this host"
    ]


def test_resolution_uses_the_inventory_not_sysfs() -> None:
    """Q1: whether an address is a PF is the host's inventory's answer, nothing else."""
    spec = parse_device_specs([{"address": "0000:3b:00.0"}])
    as_pci = Inventory.of([_dev(PF, "8086", "158b"), _dev(VF0, "8086", "154c", parent_addr=PF)])
    resolved = resolve_specs(spec, as_pci)
    assert resolved.match(as_pci.get(PF)) is spec[0]
    assert resolved.match(as_pci.get(VF0)) is None
