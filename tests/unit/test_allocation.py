"""Nova's allocation settings and its CPU range syntax (``0-7,^2``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.allocation import Allocation, format_cpu_set, parse_cpu_set
from pciplane.core.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        pytest.param("0", {0}, id="one"),
        pytest.param("0-3", {0, 1, 2, 3}, id="range"),
        pytest.param("0-7,^2", {0, 1, 3, 4, 5, 6, 7}, id="exclusion"),
        pytest.param("0-7,^2-5", {0, 1, 6, 7}, id="range-exclusion"),
        pytest.param("^2,0-3", {0, 1, 3}, id="exclusion-first"),
        pytest.param(" 4 , 8-9 ", {4, 8, 9}, id="spaces"),
        pytest.param("0-1,1-2", {0, 1, 2}, id="overlapping-ranges"),
    ],
)
def test_cpu_ranges(text: str, cpus: set[int]) -> None:
    assert parse_cpu_set(text) == cpus


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("", "empty CPU set", id="empty"),
        pytest.param("0,,2", "empty entry", id="empty-entry"),
        pytest.param("3-1", "runs backwards", id="backwards"),
        pytest.param("a", "'a' in 'a' is not a CPU id", id="word"),
        pytest.param("-1", "is not a CPU id", id="negative"),
        pytest.param("0,^0", "leaves no CPU", id="nothing-left"),
        pytest.param("99999", "above 8191", id="too-high"),
        pytest.param("١", "is not a CPU id", id="non-ascii-digit"),
    ],
)
def test_bad_cpu_ranges_name_the_key(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match="cpu_dedicated_set") as err:
        parse_cpu_set(text, key="cpu_dedicated_set")
    assert words in str(err.value)


@given(st.sets(st.integers(min_value=0, max_value=300), min_size=1))
def test_format_and_parse_round_trip(cpus: set[int]) -> None:
    assert parse_cpu_set(format_cpu_set(cpus)) == cpus


@given(
    st.sets(st.integers(min_value=0, max_value=64), min_size=1),
    st.sets(st.integers(min_value=0, max_value=64)),
)
def test_exclusions_remove_exactly_their_cpus(kept: set[int], dropped: set[int]) -> None:
    text = ",".join([format_cpu_set(kept), *(f"^{c}" for c in sorted(dropped))])
    if kept - dropped:
        assert parse_cpu_set(text) == kept - dropped
    else:
        with pytest.raises(ConfigError, match="leaves no CPU"):
            parse_cpu_set(text)


@given(st.text(max_size=12))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        cpus = parse_cpu_set(text, key="cpu_shared_set")
    except ConfigError as exc:
        assert "cpu_shared_set" in str(exc)
    else:
        assert cpus and all(0 <= c <= 8191 for c in cpus)


def test_defaults_are_novas() -> None:
    alloc = Allocation.from_json({})
    assert alloc.cpu_allocation_ratio == 4.0
    assert alloc.ram_allocation_ratio == 1.0
    assert alloc.reserved_host_memory_mb == 512
    assert alloc.reserved_host_cpus == 0
    assert alloc.cpu_dedicated_set is None and alloc.cpu_shared_set is None


def test_settings_round_trip() -> None:
    alloc = Allocation.from_json(
        {
            "cpu_allocation_ratio": "2.5",
            "ram_allocation_ratio": 1.5,
            "reserved_host_memory_mb": "4096",
            "reserved_host_cpus": 2,
            "cpu_dedicated_set": "4-15,^8",
            "cpu_shared_set": "0-3",
        }
    )
    assert alloc.cpu_dedicated_set == {4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15}
    assert Allocation.from_json(alloc.to_json()) == alloc


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        pytest.param({"cpu_allocation_ratio": "x"}, "cpu_allocation_ratio", id="ratio-word"),
        pytest.param({"ram_allocation_ratio": 0}, "ram_allocation_ratio", id="ratio-zero"),
        pytest.param({"reserved_host_cpus": -1}, "reserved_host_cpus", id="negative"),
        pytest.param({"reserved_host_memory_mb": True}, "reserved_host_memory_mb", id="bool"),
        pytest.param({"cpu_dedicated_set": "0-3,x"}, "cpu_dedicated_set", id="bad-set"),
        pytest.param({"cpu_dedicated_set": 3}, "cpu_dedicated_set", id="not-text"),
        pytest.param(
            {"cpu_dedicated_set": "0-3", "cpu_shared_set": "3-5"}, "overlap on CPUs 3", id="overlap"
        ),
        pytest.param({"cpu_ratio": 2}, "unknown setting(s) cpu_ratio", id="unknown"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(obj: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match="host a") as err:
        Allocation.from_json(obj, where="host a")
    assert words in str(err.value)
