"""``[pci] alias`` and ``pci_passthrough:alias`` (nova-pci-semantics §1.8, §1.9; Q8-Q10)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.alias import (
    Alias,
    flavor_numa_policy,
    parse_alias_request,
    parse_aliases,
    requests_from_flavor,
)
from pciplane.core.boolean import strict_word
from pciplane.core.device import DevType
from pciplane.core.errors import AliasError, RequestError, UnknownAliasError
from pciplane.core.request import NumaPolicy, RequestSource, RequestSpec, spec_matches

GPU = {"name": "gpu", "vendor_id": "10de", "product_id": "1db4"}


def gpu(**extra: object) -> dict[str, object]:
    return {**GPU, **extra}


# --- §1.8 one entry ------------------------------------------------------------------------


def test_a_plain_alias() -> None:
    aliases = parse_aliases([json.dumps(GPU)])
    assert aliases == {
        "gpu": Alias(
            name="gpu",
            numa_policy=NumaPolicy.LEGACY,
            dev_type=None,
            specs=(RequestSpec.of({"vendor_id": "10de", "product_id": "1db4"}),),
        )
    }


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(gpu(name="  a1  "), {"name": "a1"}, id="s1.8-name-stripped-after"),
        pytest.param(gpu(name="n" * 256), {"name": "n" * 256}, id="s1.8-name-256"),
        pytest.param(
            gpu(vendor_id="10DE"),
            {"spec": {"vendor_id": "10DE", "product_id": "1db4"}},
            id="s1.8-id-kept-as-written",
        ),
        pytest.param(
            gpu(device_type="type-PF"),
            {"dev_type": DevType.PF, "spec": {**GPU, "dev_type": "type-PF"}},
            id="s1.8-device-type-stored-as-dev_type",
        ),
        pytest.param(gpu(numa_policy="socket"), {"numa_policy": "socket"}, id="s1.8-policy"),
        pytest.param(gpu(), {"numa_policy": "legacy"}, id="s1.8-policy-default-legacy"),
        pytest.param(
            gpu(resource_class="CUSTOM_GPU", traits="A,B"),
            {"spec": {**GPU, "resource_class": "CUSTOM_GPU", "traits": "A,B"}},
            id="s1.8-placement-keys-kept",
        ),
        pytest.param(
            gpu(live_migratable="Yes"),
            {"spec": {**GPU, "live_migratable": "true"}},
            id="s1.8-live-migratable-normalised",
        ),
        pytest.param(
            gpu(live_migratable="off"),
            {"spec": {**GPU, "live_migratable": "false"}},
            id="s1.8-live-migratable-false",
        ),
    ],
)
def test_alias_entry(entry: dict[str, object], expected: dict[str, object]) -> None:
    (alias,) = parse_aliases([entry]).values()
    if "name" in expected:
        assert alias.name == expected["name"]
    if "numa_policy" in expected:
        assert alias.numa_policy == expected["numa_policy"]
    if "dev_type" in expected:
        assert alias.dev_type is expected["dev_type"]
    if "spec" in expected:
        spec = {k: v for k, v in expected["spec"].items() if k != "name"}  # type: ignore[attr-defined]
        assert alias.specs == (RequestSpec.of(spec),)


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        pytest.param({"vendor_id": "10de", "product_id": "1db4"}, None, "'name' is required",
                     id="s1.8-name-required"),
        pytest.param(gpu(name=""), "name", "1 to 256", id="s1.8-name-empty"),
        pytest.param(gpu(name="n" * 257), "name", "1 to 256", id="s1.8-name-too-long"),
        pytest.param(gpu(name="   "), "name", "blank", id="name-blank"),
        pytest.param(gpu(name=5), "name", "must be a string", id="name-number"),
        pytest.param(gpu(vendor_id="0x80"), "vendor_id", "4 hex digits", id="s1.8-0x80"),
        pytest.param(gpu(vendor_id="10de\n"), "vendor_id", "4 hex digits", id="trailing-newline"),
        pytest.param(gpu(product_id=4318), "product_id", "must be a string", id="number-id"),
        pytest.param(gpu(device_type="type-X"), "device_type", "type-PCI, type-PF, type-VF",
                     id="s1.8-type-X"),
        pytest.param(gpu(device_type="vdpa"), "device_type", "must be one of",
                     id="s1.8-vdpa-rejected"),
        pytest.param(gpu(numa_policy=""), "numa_policy", "must be one of", id="s1.8-policy-empty"),
        pytest.param(gpu(numa_policy="strict"), "numa_policy", "required, legacy",
                     id="policy-unknown"),
        pytest.param(gpu(resource_class=1), "resource_class", "must be a string",
                     id="resource-class-number"),
        pytest.param(gpu(live_migratable=True), "live_migratable", "must be a string",
                     id="s1.8-live-migratable-json-bool"),
        pytest.param(gpu(live_migratable="maybe"), "live_migratable",
                     "acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', "
                     "'t', 'true', 'y', 'yes'", id="live-migratable-word"),
        pytest.param(gpu(capability_type="pci"), "capability_type", "could never match",
                     id="Q10-capability-type"),
        pytest.param(gpu(foo="bar"), "foo", "unknown key 'foo'", id="s1.8-additional-key"),
    ],
)  # fmt: skip
def test_alias_entry_errors(entry: dict[str, object], key: str | None, message: str) -> None:
    with pytest.raises(AliasError) as info:
        parse_aliases([json.dumps(GPU), entry])
    assert message in str(info.value)
    assert info.value.key == key
    assert info.value.index == 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param("{", "Invalid PCI alias definition", id="s1.8-bad-json"),
        pytest.param(json.dumps([GPU]), "not list", id="s1.8-json-list"),
        pytest.param([GPU], "not list", id="decoded-list"),
        pytest.param("5", "not int", id="json-number"),
        pytest.param(None, "not NoneType", id="null"),
        pytest.param("[" * 100_000, "Invalid PCI alias definition", id="too-deep"),
    ],
)
def test_alias_entry_shape_errors(entry: object, message: str) -> None:
    with pytest.raises(AliasError, match="entry 0") as info:
        parse_aliases([entry])
    assert message in str(info.value)


# --- §1.8 several entries of one name ---------------------------------------------------------


def test_same_name_entries_are_alternatives() -> None:
    aliases = parse_aliases(
        [
            gpu(device_type="type-PCI"),
            {"name": "gpu", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"},
            {"name": "nic", "vendor_id": "8086", "product_id": "154c"},
        ]
    )
    assert sorted(aliases) == ["gpu", "nic"]
    assert [s.get("product_id") for s in aliases["gpu"].specs] == ["1db4", "1eb8"]


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        pytest.param(
            gpu(),
            gpu(product_id="1eb8", numa_policy="legacy"),
            None,
            id="s1.8-explicit-legacy-agrees",
        ),
        pytest.param(gpu(), gpu(product_id="1eb8"), None, id="Q8-two-without-device-type-agree"),
        pytest.param(
            gpu(),
            gpu(),
            "already has an entry matching exactly these devices",
            id="exact-duplicate-refused",
        ),
        pytest.param(
            gpu(),
            gpu(numa_policy="legacy"),
            "already has an entry matching exactly",
            id="duplicate-up-to-the-default-policy",
        ),
        pytest.param(
            gpu(numa_policy="required"),
            gpu(numa_policy="preferred"),
            "NUMA policy mismatch for alias 'gpu': earlier entries say 'required', "
            "this one 'preferred'",
            id="s1.8-policy-mismatch",
        ),
        pytest.param(
            gpu(device_type="type-PF"),
            gpu(device_type="type-VF"),
            "device_type mismatch for alias 'gpu'",
            id="s1.8-device-type-mismatch",
        ),
        pytest.param(
            gpu(),
            gpu(device_type="type-PCI"),
            "device_type mismatch for alias 'gpu'",
            id="Q8-first-lacks-device-type",
        ),
        pytest.param(
            gpu(device_type="type-PCI"),
            gpu(),
            "device_type mismatch for alias 'gpu'",
            id="Q8-second-lacks-device-type",
        ),
    ],
)
def test_same_name_entries_must_agree(
    first: dict[str, object], second: dict[str, object], message: str | None
) -> None:
    if message is None:
        assert len(parse_aliases([first, second])["gpu"].specs) == 2
        return
    with pytest.raises(AliasError, match=message) as info:
        parse_aliases([first, second])
    assert info.value.index == 1


def test_every_spec_needs_both_ids() -> None:
    with pytest.raises(AliasError, match="alias\\(es\\) a, b do not set both vendor_id"):
        parse_aliases(
            [
                {"name": "b", "vendor_id": "10de"},
                GPU,
                {"name": "a", "product_id": "1db4", "resource_class": "CUSTOM_A"},
            ]
        )


def test_alias_ids_match_pools_case_insensitively() -> None:
    """§3.5: an alias written ``10DE`` matches a pool of ``10de`` devices."""
    (alias,) = parse_aliases([gpu(vendor_id="10DE", product_id="1DB4")]).values()
    assert spec_matches(alias.specs[0], {"vendor_id": "10de", "product_id": "1db4"})


# --- §1.9 pci_passthrough:alias ----------------------------------------------------------------

ALIASES = parse_aliases(
    [
        gpu(numa_policy="preferred"),
        {"name": "nic", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"},
    ]
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("gpu:1", [("gpu", 1)], id="one"),
        pytest.param("gpu:2,nic:1", [("gpu", 2), ("nic", 1)], id="s1.9-two-in-order"),
        pytest.param(" gpu : 2 , nic:1 ", [("gpu", 2), ("nic", 1)], id="s1.9-whitespace"),
        pytest.param("gpu:1,gpu:1", [("gpu", 1), ("gpu", 1)], id="s1.9-duplicates-kept"),
        pytest.param("gpu:007", [("gpu", 7)], id="leading-zeros"),
    ],
)
def test_alias_request(value: str, expected: list[tuple[str, int]]) -> None:
    got = parse_alias_request(value, ALIASES)
    assert [(a.name, n) for a, n in got] == expected


@pytest.mark.parametrize(
    ("value", "item", "message"),
    [
        pytest.param("gpu", "gpu", "not of the form name:count", id="s1.9-no-count"),
        pytest.param("gpu:x", "gpu:x", "not a whole number", id="s1.9-count-not-number"),
        pytest.param("gpu:1:2", "gpu:1:2", "not of the form", id="s1.9-two-colons"),
        pytest.param("", "", "not of the form", id="s1.9-empty-string"),
        pytest.param("gpu:1,", "", "not of the form", id="s1.9-trailing-comma"),
        pytest.param("gpu:-1", "gpu:-1", "not a whole number", id="negative"),
        pytest.param("gpu:1.5", "gpu:1.5", "not a whole number", id="fraction"),
        pytest.param("gpu:١", "gpu:١", "not a whole number", id="non-ascii-digit"),
        pytest.param(":1", ":1", "no alias name", id="no-name"),
        pytest.param("gpu:0", "gpu:0", "count must be at least 1", id="Q9-count-zero"),
    ],
)
def test_alias_request_errors_name_item_and_value(value: str, item: str, message: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_alias_request(value, ALIASES)
    text = str(info.value)
    assert message in text
    assert f"item {item!r}" in text
    assert f"pci_passthrough:alias {value!r}" in text
    assert not isinstance(info.value, UnknownAliasError)


def test_unknown_alias() -> None:
    with pytest.raises(UnknownAliasError, match="'vgpu' is not defined") as info:
        parse_alias_request("gpu:1, vgpu:1", ALIASES)
    assert info.value.name == "vgpu"


@pytest.mark.parametrize(
    ("extra_specs", "expected"),
    [
        pytest.param({}, [], id="s1.9-absent"),
        pytest.param(
            {"pci_passthrough:alias": "gpu:2, nic:1"},
            [("gpu", 2, NumaPolicy.PREFERRED), ("nic", 1, NumaPolicy.LEGACY)],
            id="alias-policies",
        ),
        pytest.param(
            {"pci_passthrough:alias": "gpu:2, nic:1", "hw:pci_numa_affinity_policy": "required"},
            [("gpu", 2, NumaPolicy.REQUIRED), ("nic", 1, NumaPolicy.REQUIRED)],
            id="s1.9-flavor-policy-overrides",
        ),
        pytest.param({"hw:pci_numa_affinity_policy": "socket"}, [], id="policy-without-alias"),
    ],
)
def test_requests_from_flavor(
    extra_specs: dict[str, str], expected: list[tuple[str, int, NumaPolicy]]
) -> None:
    requests = requests_from_flavor(extra_specs, ALIASES)
    assert [(r.alias_name, r.count, r.numa_policy) for r in requests] == expected
    for r in requests:
        assert r.source is RequestSource.FLAVOR
        assert r.requester is None
        assert r.alias_name is not None
        assert r.specs == ALIASES[r.alias_name].specs


def test_invalid_flavor_policy_names_the_key() -> None:
    extra = {"pci_passthrough:alias": "gpu:1", "hw:pci_numa_affinity_policy": "strict"}
    with pytest.raises(RequestError, match="hw:pci_numa_affinity_policy 'strict'"):
        requests_from_flavor(extra, ALIASES)
    with pytest.raises(RequestError, match="hw:pci_numa_affinity_policy"):
        flavor_numa_policy({"hw:pci_numa_affinity_policy": ""})


# --- properties -------------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from(["gpu", "10de", "type-PF", "legacy", "yes", "pci"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "vendor_id",
                    "product_id",
                    "device_type",
                    "numa_policy",
                    "live_migratable",
                    "traits",
                    "capability_type",
                ]
            )
            | st.text(max_size=4),
            children,
            max_size=5,
        )
    ),
    max_leaves=16,
)


@given(st.lists(_json, max_size=3))
def test_any_json_gives_aliases_or_an_alias_error(entries: list[object]) -> None:
    for form in (entries, [json.dumps(e) for e in entries]):
        with contextlib.suppress(AliasError):
            parse_aliases(form)


@given(st.text(alphabet="gpunic:, 0123-x\t", max_size=20))
def test_any_alias_request_gives_pairs_or_a_request_error(value: str) -> None:
    with contextlib.suppress(RequestError):
        for alias, count in parse_alias_request(value, ALIASES):
            assert alias.name in ALIASES
            assert count >= 1


_good = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", " b ", "c"]),
        "vendor_id": st.sampled_from(["10de", "10DE", "8086"]),
        "product_id": st.sampled_from(["1db4", "ABCD"]),
    },
    optional={
        "live_migratable": st.sampled_from(["yes", "0", "True"]),
        "traits": st.sampled_from(["A", "A,B"]),
    },
)


def _spec_key(entry: dict[str, str]) -> tuple[object, ...]:
    """What makes two entries the same alternative (refused as a duplicate)."""
    live = entry.get("live_migratable")
    return (
        entry["name"].strip(),
        entry["vendor_id"],
        entry["product_id"],
        None if live is None else strict_word(live),
        entry.get("traits"),
    )


@given(st.lists(_good, max_size=5, unique_by=_spec_key))
def test_parse_is_idempotent_on_reserialised_aliases(entries: list[dict[str, str]]) -> None:
    first = parse_aliases(entries)
    again = parse_aliases([json.dumps(e) for alias in first.values() for e in alias.as_entries()])
    assert again == first
