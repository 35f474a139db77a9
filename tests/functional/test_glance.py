"""Glance v2, read-only, over HTTP: the version document, list and show as Glance shows
them, the find-by-name probe's 404 in Glance's error shape, the catalog's image endpoint,
and Nova booting the image it names. The real ``openstack`` CLI drives the same routes in
tests/integration/test_openstack_clients.py."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from os_helpers import COMPUTE, IMAGE, USERS, add_image, flavor_body, login, nova, server_body
from svc_helpers import make_settings

from pciplane.api.app import create_app

GLANCE = "/image/v2"
OTHER = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'g.db'}", keystone_users=USERS))
    with TestClient(app) as client:
        add_image(client)
        add_image(client, OTHER, "fedora")
        yield client
    app.state.services.db.dispose()


def token(client: TestClient, user: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": login(client, user)}


def test_the_version_document_is_glances_and_needs_no_token(client: TestClient) -> None:
    answer = client.get("/image")
    assert answer.status_code == 300
    (version,) = answer.json()["versions"]
    assert version["status"] == "CURRENT" and version["id"].startswith("v2.")
    assert version["links"] == [{"rel": "self", "href": "http://testserver/image/v2/"}]


def test_images_are_shown_as_glance_shows_them(client: TestClient) -> None:
    shown = client.get(f"{GLANCE}/images/{IMAGE}", headers=token(client)).json()
    body = b"\0" * 4096
    assert shown == {
        "id": IMAGE, "name": "cirros", "status": "active", "visibility": "public",
        "protected": False, "os_hidden": False, "disk_format": "raw",
        "container_format": "bare", "checksum": hashlib.md5(body).hexdigest(),
        "os_hash_algo": "sha256", "os_hash_value": hashlib.sha256(body).hexdigest(),
        "size": 4096, "virtual_size": 4096, "min_disk": 0, "min_ram": 0, "owner": "admin",
        "tags": [], "created_at": shown["created_at"], "updated_at": shown["created_at"],
        "self": f"/v2/images/{IMAGE}", "file": f"/v2/images/{IMAGE}/file",
        "schema": "/v2/schemas/image",
    }  # fmt: skip
    assert shown["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("query", "names"),
    [
        pytest.param("", ["cirros", "fedora"], id="all"),
        pytest.param("?name=cirros", ["cirros"], id="by-name"),
        pytest.param("?name=nope", [], id="no-such-name"),
        pytest.param(f"?id=in:{IMAGE},{OTHER}", ["cirros", "fedora"], id="id-in"),
        pytest.param(f"?id={OTHER}", ["fedora"], id="one-id"),
        pytest.param("?status=active&visibility=public", ["cirros", "fedora"], id="active"),
        pytest.param("?status=queued", [], id="queued"),
    ],
)
def test_the_list_filters_as_glance_does(client: TestClient, query: str, names: list[str]) -> None:
    answer = client.get(f"{GLANCE}/images{query}", headers=token(client))
    assert answer.status_code == 200
    body = answer.json()
    assert sorted(i["name"] for i in body["images"]) == names
    assert "next" not in body  # one page: the clients take it whole


def test_a_find_by_name_probe_is_glances_404(client: TestClient) -> None:
    answer = client.get(f"{GLANCE}/images/cirros", headers=token(client))
    assert answer.status_code == 404
    assert answer.json() == {"code": "404 Not Found", "title": "Not Found",
                             "message": "No image found with ID cirros"}  # fmt: skip


def test_no_token_is_a_401_that_says_where_to_get_one(client: TestClient) -> None:
    answer = client.get(f"{GLANCE}/images")
    assert answer.status_code == 401
    assert "Keystone" in answer.headers["WWW-Authenticate"]


def test_the_catalog_lists_the_image_endpoint(client: TestClient) -> None:
    answer = client.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "alice", "password": "alice-pw",
        "domain": {"name": "Default"}}}}, "scope": {"project": {"name": "alpha",
        "domain": {"name": "Default"}}}}})  # fmt: skip
    assert answer.status_code == 201, answer.text
    catalog = {s["type"]: s["endpoints"][0]["url"] for s in answer.json()["token"]["catalog"]}
    assert catalog["image"] == "http://testserver/image"


def test_nova_boots_the_image_it_names_and_refuses_an_unknown_one(client: TestClient) -> None:
    admin = nova(login(client, "admin"))
    made = client.post(f"{COMPUTE}/flavors", json=flavor_body("d1", disk=1), headers=admin)
    flavor = made.json()["flavor"]["id"]
    alice = nova(login(client, "alice"))
    answer = client.post(f"{COMPUTE}/servers", json=server_body("vm1", flavor), headers=alice)
    assert answer.status_code == 202, answer.text
    server = client.get(f"{COMPUTE}/servers/{answer.json()['server']['id']}", headers=alice)
    assert server.json()["server"]["image"]["id"] == IMAGE
    body = server_body("vm2", flavor, imageRef=OTHER.replace("0e1f", "9e1f"),
                       block_device_mapping_v2=None)  # fmt: skip
    answer = client.post(f"{COMPUTE}/servers", json=body, headers=alice)
    assert answer.status_code == 400
    assert "image '9e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b' does not exist" in answer.text
