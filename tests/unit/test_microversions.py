"""Nova microversions: every one up to the maximum is accounted for, and the headers are
read as Nova reads them (its REST API version history)."""

from __future__ import annotations

import pytest

from pciplane.api.openstack.microversions import (
    CHANGES,
    MAX_VERSION,
    MIN_VERSION,
    Microversion,
    requested,
)
from pciplane.core.errors import RequestError, VersionNotSupportedError


def test_every_microversion_up_to_the_maximum_says_what_it_means_here() -> None:
    versions = [Microversion.parse(v) for v, _ in CHANGES]
    assert versions == [Microversion(2, n) for n in range(1, MAX_VERSION.minor + 1)]
    assert all(note.strip() for _, note in CHANGES)
    assert (Microversion(2, 1), versions[-1]) == (MIN_VERSION, MAX_VERSION)


@pytest.mark.parametrize(
    ("headers", "version"),
    [
        pytest.param({}, "2.1", id="none"),
        pytest.param({"openstack-api-version": "compute 2.10"}, "2.10", id="new"),
        pytest.param({"openstack-api-version": "COMPUTE 2.3"}, "2.3", id="service-any-case"),
        pytest.param({"openstack-api-version": "volume 3.5"}, "2.1", id="other-service-only"),
        pytest.param({"openstack-api-version": "volume 3.5",
                      "x-openstack-nova-api-version": "2.9"}, "2.9", id="legacy-fallback"),
        pytest.param({"x-openstack-nova-api-version": " latest "}, str(MAX_VERSION),
                     id="latest"),
    ],
)  # fmt: skip
def test_the_version_asked_for(headers: dict[str, str], version: str) -> None:
    assert str(requested(headers)) == version


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param("2", RequestError, id="no-minor"),
        pytest.param("2.01", RequestError, id="leading-zero"),
        pytest.param("v2.1", RequestError, id="prefixed"),
        pytest.param("3.0", VersionNotSupportedError, id="major-3"),
        pytest.param(f"2.{MAX_VERSION.minor + 1}", VersionNotSupportedError, id="above"),
    ],
)
def test_a_version_nova_would_refuse(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        requested({"x-openstack-nova-api-version": text})


def test_versions_order_by_number_not_text() -> None:
    assert Microversion.parse("2.10") > Microversion.parse("2.9")
    assert Microversion(2, 47).at_least("2.47") and not Microversion(2, 46).at_least("2.47")
