"""PCI addresses and Nova's glob/regex address patterns (nova-pci-semantics §1.4)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.address import GlobPattern, PciAddress, RegexPattern, parse_pattern
from pciplane.core.errors import AddressError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("*:0a:00.*", ("*", "0a", "00", "*"), id="wildcards"),
        pytest.param(":0a:00.", ("*", "0a", "00", "*"), id="empty-fields"),
        pytest.param("0a:00.1", ("*", "0a", "00", "1"), id="bus-slot-function"),
        pytest.param("1", ("*", "*", "01", "*"), id="single-token-is-slot"),
        pytest.param(".1", ("*", "*", "*", "1"), id="function-only"),
        pytest.param("A:B:C.7", ("000a", "0b", "0c", "7"), id="upper-case"),
        pytest.param("0x0:0x0a:0x1.0x1", ("0000", "0a", "01", "1"), id="0x-prefix"),
        pytest.param(" 0000 : 0a : 00 . 1 ", ("0000", "0a", "00", "1"), id="spaces"),
    ],
)
def test_glob_parses_like_nova(text: str, expected: tuple[str, str, str, str]) -> None:
    g = GlobPattern.parse(text)
    assert (g.domain, g.bus, g.slot, g.function) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("0000:0a:00.8", "function", id="function-above-7"),
        pytest.param("0000:0a:20.1", "slot", id="slot-above-1f"),
        pytest.param("0000:100:00.1", "bus", id="bus-above-ff"),
        pytest.param("10000:0a:00.1", "domain", id="domain-above-ffff"),
        pytest.param("0:0:0:0.1", "incorrect format", id="four-fields"),
        pytest.param("0*:0a:00.1", "does not parse", id="partial-wildcard"),
        pytest.param("0000:0a:00. ", "does not parse", id="blank-function"),
    ],
)
def test_glob_rejects(text: str, message: str) -> None:
    with pytest.raises(AddressError, match=message):
        GlobPattern.parse(text)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("0000:3b:00.0", "0000:3b:00.0", id="canonical"),
        pytest.param("0000:3B:1F.7", "0000:3b:1f.7", id="upper-case"),
        pytest.param("ffff:ff:1f.7", "ffff:ff:1f.7", id="maxima"),
    ],
)
def test_strict_address_round_trip(text: str, canonical: str) -> None:
    assert str(PciAddress.parse(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0000:05:00x0", id="unescaped-dot-Q14"),
        pytest.param("10000:00:02.0", id="32-bit-domain"),
        pytest.param("0000:05:20.0", id="slot-above-1f"),
        pytest.param("0000:05:00.8", id="function-above-7"),
        pytest.param("05:00.0", id="no-domain"),
    ],
)
def test_strict_address_rejects(text: str) -> None:
    with pytest.raises(AddressError):
        PciAddress.parse(text)


@pytest.mark.parametrize(
    ("regex", "address", "matches"),
    [
        pytest.param({"bus": "0"}, "0000:02:00.0", True, id="prefix-match-Q13"),
        pytest.param({"bus": "0$"}, "0000:02:00.0", False, id="anchored"),
        pytest.param({"bus": "0A"}, "0000:0a:00.0", False, id="upper-case-never-matches"),
        pytest.param({"slot": "0[2-3]", "function": "[0-3]"}, "0000:81:03.2", True, id="class"),
        pytest.param({}, "0000:81:03.2", True, id="all-default"),
    ],
)
def test_regex_matching(regex: dict[str, object], address: str, matches: bool) -> None:
    assert RegexPattern.parse(regex).matches(PciAddress.parse(address)) is matches


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"bus": "("}, id="bad-regex"),
        pytest.param({"bus": 5}, id="non-string-Q15"),
        pytest.param(5, id="number"),
        pytest.param(["0000:00:00.0"], id="list"),
    ],
)
def test_pattern_rejects(value: object) -> None:
    with pytest.raises(AddressError):
        parse_pattern(value)


@pytest.mark.parametrize("value", [None, "", {}], ids=["none", "empty-string", "empty-dict"])
def test_empty_address_matches_everything(value: object) -> None:
    assert parse_pattern(value).matches(PciAddress.parse("abcd:12:1f.7"))


def test_literal_detection() -> None:
    assert GlobPattern.parse("0000:3b:00.0").literal() == PciAddress(0, 0x3B, 0, 0)
    assert GlobPattern.parse("3b:00.0").literal() is None
    lit = {"domain": "0000", "bus": "3b", "slot": "00", "function": "0"}
    assert RegexPattern.parse(lit).literal() == PciAddress(0, 0x3B, 0, 0)
    assert RegexPattern.parse({**lit, "bus": "3."}).literal() is None


addresses = st.builds(
    PciAddress,
    domain=st.integers(0, 0xFFFF),
    bus=st.integers(0, 0xFF),
    slot=st.integers(0, 0x1F),
    function=st.integers(0, 7),
)


@given(addresses)
def test_format_parse_round_trip(addr: PciAddress) -> None:
    assert PciAddress.parse(str(addr)) == addr
    assert GlobPattern.parse(str(addr)).literal() == addr
    assert GlobPattern.parse(str(addr)).matches(addr)


@given(st.text(max_size=30))
def test_glob_raises_only_address_error(text: str) -> None:
    with contextlib.suppress(AddressError):
        GlobPattern.parse(text)
