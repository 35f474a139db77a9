"""The HTTP edge: what a body must be, and what the OpenAPI document and /docs promise."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, auth

ADMIN_JSON = {**auth(ADMIN), "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("text/plain", b'{"name": "f", "vcpus": 1, "ram": 1}', id="text-plain"),
        pytest.param("application/x-www-form-urlencoded", b"name=f&vcpus=1&ram=1", id="form"),
        pytest.param(None, b'{"name": "f", "vcpus": 1, "ram": 1}', id="no-content-type"),
    ],
)
def test_a_body_that_is_not_json_is_415(
    app_client: TestClient, content_type: str | None, body: bytes
) -> None:
    headers = dict(auth(ADMIN))
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = app_client.post("/v1/flavors", content=body, headers=headers)
    assert response.status_code == 415, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "pciplane.request.media_type"
    assert "application/json" in error["detail"]
    assert app_client.get("/v1/flavors", headers=auth(ADMIN)).json()["flavors"] == []


def test_json_with_a_suffix_type_is_json(app_client: TestClient) -> None:
    body = b'{"name": "f", "vcpus": 1, "ram": 1}'
    headers = {**auth(ADMIN), "Content-Type": "application/merge-patch+json; charset=utf-8"}
    assert app_client.post("/v1/flavors", content=body, headers=headers).status_code == 201


def test_openapi_shows_the_error_envelope_and_the_bearer_scheme(app_client: TestClient) -> None:
    doc = app_client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    envelope = doc["components"]["schemas"]["ErrorBody"]
    assert envelope["properties"]["errors"]["type"] == "array"
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            refs = {r["content"]["application/json"]["schema"]["$ref"]
                    for code, r in op["responses"].items() if code in ("4XX", "5XX")}  # fmt: skip
            assert refs == {"#/components/schemas/ErrorBody"}, (method, path)
            if path.startswith("/v1/"):
                assert op.get("security"), (method, path)


def test_docs_load_only_the_services_own_assets(app_client: TestClient) -> None:
    page = app_client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    scripts = re.findall(r"""url: ?["']([^"']+)["']""", page.text)
    assert urls and all(u.startswith(("/docs/assets/", "data:")) for u in urls), urls
    assert scripts == ["/openapi.json"]
    for url in urls:
        if url.startswith("/"):
            asset = app_client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 10_000, url


@pytest.mark.parametrize(
    "path", ["/v1/flavors/..%2Faliases%2Fa6", "/v1/hosts/cmp1%2Fwork", "/v1/hosts/cmp1%2fwork"]
)
def test_an_encoded_slash_never_reaches_another_endpoint(app_client: TestClient, path: str) -> None:
    for method in ("GET", "DELETE"):
        response = app_client.request(method, path, headers=auth(ADMIN))
        assert response.status_code == 422, response.text
        assert "cannot contain '/'" in response.json()["errors"][0]["detail"]
