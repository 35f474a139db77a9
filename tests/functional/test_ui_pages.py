"""The web UI over HTTP, without a browser: signing in, who sees what, error pages, the
headers every page carries (issue 12). The browser tests are
tests/integration/test_ui_browser.py."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from svc_helpers import ADMIN, GPU_ALIAS, auth, host_body, make_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette: TestClient moves to httpx2
    from fastapi.testclient import TestClient

from pciplane.api.app import create_app
from pciplane.api.ui.fleet import FleetFilter
from pciplane.core.errors import RequestError

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    """A service on SQLite with one host (two GPUs) and a server of project alpha."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'ui.db'}"))
    with TestClient(app, follow_redirects=False) as client:
        assert (
            client.put(
                "/v1/hosts/cmp1", json=host_body("cmp1"), headers=auth("tok-cmp1")
            ).status_code
            == 200
        )
        client.post("/v1/aliases", json=GPU_ALIAS, headers=auth(ADMIN))
        flavor = {
            "name": "g1",
            "vcpus": 1,
            "ram": 512,
            "extra_specs": {"pci_passthrough:alias": "large_GPU:1"},
        }
        client.post("/v1/flavors", json=flavor, headers=auth(ADMIN))
        client.post("/v1/servers", json={"name": "vm-a", "flavor": "g1"}, headers=auth("tok-alpha"))
        yield client
    app.state.services.db.dispose()


def sign_in(web: TestClient, token: str, next_path: str = "") -> object:
    body = f"token={token}" + (f"&next={next_path}" if next_path else "")
    return web.post("/ui/login", content=body, headers=FORM)


@pytest.mark.parametrize(
    ("token", "status", "where", "words"),
    [
        pytest.param(ADMIN, 303, "/ui/fleet", "", id="admin"),
        pytest.param("tok-alpha", 303, "/ui/servers", "", id="project"),
        pytest.param("tok-cmp1", 401, None, "token cannot sign in", id="agent"),
        pytest.param("wrong", 401, None, "not valid", id="unknown"),
        pytest.param("", 401, None, "not valid", id="empty"),
    ],
)
def test_signing_in(
    web: TestClient, token: str, status: int, where: str | None, words: str
) -> None:
    answer = sign_in(web, token)
    assert answer.status_code == status  # type: ignore[attr-defined]
    assert answer.headers.get("location") == where  # type: ignore[attr-defined]
    assert words in answer.text  # type: ignore[attr-defined]
    if status == 303:
        cookie = answer.headers["set-cookie"].lower()  # type: ignore[attr-defined]
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie


@pytest.mark.parametrize(
    ("wanted", "where"),
    [
        pytest.param("%2Fui%2Fhosts%2Fcmp1", "/ui/hosts/cmp1", id="a-ui-page"),
        pytest.param("%2F%2Fevil.example%2Fui%2F", "/ui/fleet", id="another-site"),
        pytest.param("https%3A%2F%2Fevil.example%2F", "/ui/fleet", id="absolute-url"),
        pytest.param("%2Fv1%2Fexport", "/ui/fleet", id="not-the-ui"),
    ],
)
def test_after_signing_in_only_ui_pages_are_next(web: TestClient, wanted: str, where: str) -> None:
    assert sign_in(web, ADMIN, wanted).headers["location"] == where  # type: ignore[attr-defined]


def test_a_page_without_a_cookie_asks_to_sign_in(web: TestClient) -> None:
    answer = web.get("/ui/why?flavor=g1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fwhy%3Fflavor%3Dg1"
    web.cookies.set("pciplane_ui_token", "stale")
    assert web.get("/ui/fleet").status_code == 303


def test_pages_carry_a_policy_that_loads_nothing_from_elsewhere(web: TestClient) -> None:
    sign_in(web, ADMIN)
    for path in (
        "/ui/fleet",
        "/ui/hosts/cmp1",
        "/ui/servers",
        "/ui/ports",
        "/ui/why",
        "/ui/capacity",
    ):
        answer = web.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-store"
        assert "http://" not in answer.text and "https://" not in answer.text
    assert web.get("/ui/static/ui.js").status_code == 200
    assert web.get("/ui/static/ui.css").status_code == 200


def test_a_project_gets_error_pages_for_the_admins_pages(web: TestClient) -> None:
    sign_in(web, "tok-alpha")
    for path in ("/ui/fleet", "/ui/hosts/cmp1", "/ui/why", "/ui/capacity"):
        answer = web.get(path)
        assert answer.status_code == 403, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "needs the admin role" in answer.text
    assert "vm-a" in web.get("/ui/servers").text


def test_errors_are_pages_on_the_ui_and_json_on_the_api(web: TestClient) -> None:
    sign_in(web, ADMIN)
    page = web.get("/ui/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    api = web.get("/v1/no-such-thing", headers=auth(ADMIN))
    assert api.status_code == 404 and api.json()["errors"][0]["status"] == "404"
    # The sign-in form posts a form; the API still refuses a body that is not JSON.
    refused = web.post("/v1/aliases", content="name=x", headers={**FORM, **auth(ADMIN)})
    assert refused.status_code == 415


def test_the_host_page_shows_the_agents_mismatches(web: TestClient) -> None:
    body = {"mismatches": [{"detail": "domain 'ghost' holds 0000:10:00.0", "domain": "ghost"}]}
    assert (
        web.post("/v1/hosts/cmp1/mismatches", json=body, headers=auth("tok-cmp1")).status_code
        == 200
    )
    sign_in(web, ADMIN)
    page = web.get("/ui/hosts/cmp1").text
    assert "domain &#39;ghost&#39; holds 0000:10:00.0" in page
    assert "vm-a" in page  # the server holding a GPU, in the tree and the server list


@pytest.mark.parametrize(
    ("query", "words"),
    [
        pytest.param({"free": "x"}, "free at least: 'x' is not a whole number", id="free"),
        pytest.param({"free": "-1"}, "free at least: -1 is less than 0", id="negative"),
        pytest.param({"page": "0"}, "page: 0 is less than 1", id="page"),
        pytest.param({"state": "sleepy"}, "agent: 'sleepy' is not one of", id="state"),
    ],
)
def test_bad_fleet_filters_are_named(query: dict[str, str], words: str) -> None:
    with pytest.raises(RequestError, match=words):
        FleetFilter.parse(query)


def test_the_host_page_shows_each_cells_cpus_and_memory_in_use(web: TestClient) -> None:
    """Two cells of 4 CPUs and 8 GiB, CPUs 2-3 and 6-7 dedicated: a pinned server of 2
    vCPUs and 2 GiB on cell 1 shows as 2 of its 4 dedicated CPUs pinned and its memory."""
    cells = [
        {"id": 0, "socket": 0, "cpus": [0, 1, 4, 5], "siblings": [[0, 4], [1, 5]],
         "memory_mib": 8192},
        {"id": 1, "socket": 1, "cpus": [2, 3, 6, 7], "siblings": [[2, 6], [3, 7]],
         "memory_mib": 8192},
    ]  # fmt: skip
    body = {
        **host_body("cmp2"),
        "numa_nodes": cells,
        "allocation": {"cpu_dedicated_set": "2-3,6-7", "reserved_host_memory_mb": 0},
    }
    assert web.put("/v1/hosts/cmp2", json=body, headers=auth("tok-cmp2")).status_code == 200
    pinned = {"name": "p2", "vcpus": 2, "ram": 2048, "extra_specs": {"hw:cpu_policy": "dedicated"}}
    assert web.post("/v1/flavors", json=pinned, headers=auth(ADMIN)).status_code == 201
    made = web.post("/v1/servers", json={"name": "vm-p", "flavor": "p2"}, headers=auth(ADMIN))
    assert made.status_code == 201 and made.json()["host"] == "cmp2", made.text
    sign_in(web, ADMIN)
    page = web.get("/ui/hosts/cmp2").text
    numa = page[page.index('id="numa"') :]
    numa = numa[: numa.index("</table>")]
    assert "4 (0-1,4-5); 0 of 0 dedicated pinned; 0 floating vCPUs" in numa
    assert "4 (2-3,6-7); 2 of 4 dedicated pinned; 0 floating vCPUs" in numa
    assert "0 of 8192 MiB used" in numa
    assert "2048 of 8192 MiB used" in numa
