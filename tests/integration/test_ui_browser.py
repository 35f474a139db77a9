"""The web UI in a real browser: Debian's chromium, driven by Playwright, against a live
``pciplane serve`` with agents on libvirt's ``test:///`` driver (issue 12).

One stack for the module: the API process on SQLite, four agents (two hosts with four
A100s, two with T4s and a ConnectX-5 whose VFs are on physnet1), one more host registered
with no agent (its agent is dead once ``agent_down_time`` passes), servers of two
projects, one with an SR-IOV port. Every page is opened as a user would, checked for
console errors, and photographed; with ``PCIPLANE_UI_SCREENSHOTS=DIR`` the pictures go
to DIR (the README's are made so: ``make screenshots``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pciplane.cli import demo_stack as st
from pciplane.client import Client
from pciplane.core.fleet import Host, NumaNode
from pciplane.core.snapshot import device_from_json
from pciplane.wire.hosts import MismatchIn

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
#: The system browser, headless, and never reaching for the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = "ui-admin-token"
ALPHA = "ui-alpha-token"
BETA = "ui-beta-token"
DOWN_TIME_S = 6
PLAN = [("compute-1", "gpu"), ("compute-2", "mixed"), ("compute-3", "mixed"), ("compute-4", "gpu")]
DEAD_HOST = "compute-9"
DEVICE_SPEC = [
    {"vendor_id": "10de"},
    {"vendor_id": "15b3", "product_id": "1018", "physical_network": "physnet1"},
    {"vendor_id": "8086", "product_id": "158b", "physical_network": "physnet2"},
]
ALIASES = [
    {"name": "large_GPU", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"},
    {"name": "small_GPU", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"},
]
FLAVORS = [
    ("g1.large", "large_GPU:1"),
    ("g1.pair", "large_GPU:2"),
    ("g1.small", "small_GPU:1"),
]


@dataclass
class Live:
    url: str
    admin: Client
    alpha: Client
    beta: Client
    workdir: Path
    servers: dict[str, str] = field(default_factory=dict)  # name -> id
    ports: dict[str, str] = field(default_factory=dict)


def _start_api(stack: st.Stack) -> str:
    port = st.free_port()
    env = {
        "PCIPLANE_DB_URL": f"sqlite:///{stack.workdir / 'ui.db'}",
        "PCIPLANE_ADMIN_TOKEN": ADMIN,
        "PCIPLANE_PROJECT_TOKENS": json.dumps({ALPHA: "alpha", BETA: "beta"}),
        "PCIPLANE_AGENT_TOKENS": json.dumps({f"agent-{h}": h for h, _ in PLAN}),
        "PCIPLANE_DEVICE_SPEC": json.dumps(DEVICE_SPEC),
        "PCIPLANE_AGENT_DOWN_TIME": str(DOWN_TIME_S),
    }
    stack.spawn("api", ["serve", "--port", str(port), "--log-level", "warning"], env)
    url = f"http://127.0.0.1:{port}"
    with Client(url, ADMIN, timeout=2.0) as client:
        client.wait_until(lambda: _healthy(client), timeout=30, what="the API")
    return url


def _healthy(client: Client) -> bool:
    try:
        client.health()
    except Exception:
        return False
    return True


def _seed(live: Live) -> None:
    admin = live.admin
    for entry in ALIASES:
        admin.create_alias(entry)
    for name, alias in FLAVORS:
        admin.create_flavor(name, vcpus=2, ram=2048, extra_specs={"pci_passthrough:alias": alias})
    net = admin.create_network(
        {
            "name": "net1",
            "provider:network_type": "vlan",
            "provider:physical_network": "physnet1",
            "provider:segmentation_id": 100,
            "shared": True,
        }
    )
    port = live.alpha.create_port(
        {"name": "p-alpha", "network_id": net.id, "binding:vnic_type": "direct"}
    )
    live.ports["p-alpha"] = port.id
    boots = [
        (live.alpha, "vm-alpha", "g1.small", [{"port_id": port.id}]),
        (live.beta, "vm-beta", "g1.large", []),
        (live.alpha, "vm-pair", "g1.pair", []),
    ]
    for client, name, flavor, nics in boots:
        server = client.create_server(name, flavor=flavor, nics=nics)
        live.servers[name] = server.id
    for client, name, _, _ in boots:
        done = client.wait_server(live.servers[name], timeout=60)
        assert done.state == "ACTIVE", (name, done.state, done.reason)
    # What an agent's reconciliation reports when libvirt holds a device nobody claimed.
    with Client(live.url, "agent-compute-2") as agent:
        agent.report_mismatches(
            "compute-2",
            [
                MismatchIn(
                    detail="domain 'stray-1' holds 0000:92:00.0, which no server claimed",
                    domain="stray-1",
                )
            ],
        )


def _dead_host() -> Host:
    gpu = {"vendor_id": "10de", "product_id": "20b5", "dev_type": "type-PCI"}
    devices = tuple(
        device_from_json({**gpu, "address": f"0000:{bus:02x}:00.0", "numa_node": node}, where="t")
        for bus, node in ((0x11, 0), (0x90, 1))
    )
    return Host(
        name=DEAD_HOST,
        numa_nodes=(NumaNode(id=0, socket=0), NumaNode(id=1, socket=1)),
        devices=devices,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("ui")
    stack = st.Stack(workdir=workdir)
    clients: list[Client] = []
    try:
        url = _start_api(stack)
        clients = [Client(url, t, timeout=30) for t in (ADMIN, ALPHA, BETA)]
        admin, alpha, beta = clients
        spec_file = workdir / "device_spec.json"
        spec_file.write_text(json.dumps(DEVICE_SPEC), encoding="utf-8")
        for host in st.write_hosts(workdir, PLAN):
            st.start_agent(stack, host, url=url, token=f"agent-{host.name}", spec_file=spec_file)
        st.wait_registered(stack, admin, [h for h, _ in PLAN])
        live = Live(url=url, admin=admin, alpha=alpha, beta=beta, workdir=workdir)
        _seed(live)
        # Registered last, so no server lands there; it never polls, so its agent is dead
        # once agent_down_time has passed.
        admin.register_host(_dead_host())
        admin.wait_until(
            lambda: not {h.name: h.alive for h in admin.list_hosts()}[DEAD_HOST],
            timeout=DOWN_TIME_S * 5,
            what=f"{DEAD_HOST}'s agent to count as dead",
        )
        yield live
    finally:
        for client in clients:
            client.close()
        stack.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/ensure-system-packages installs chromium")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("PCIPLANE_UI_SCREENSHOTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Tab:
    """One signed-in browser tab that remembers every console error it saw."""

    def __init__(self, browser: object, url: str, token: str) -> None:
        self.url = url
        self.context = browser.new_context(viewport={"width": 1360, "height": 900})  # type: ignore[attr-defined]
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(f"{url}/ui/login")
        self.page.fill("input[name=token]", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def _console(self, message: object) -> None:
        """Console errors, less the browser's note that the page itself answered 4xx
        (an error page is meant to)."""
        if message.type != "error":  # type: ignore[attr-defined]
            return
        text = str(message.text)  # type: ignore[attr-defined]
        where = message.location.get("url")  # type: ignore[attr-defined]
        if text.startswith("Failed to load resource") and where == self.page.url:
            return
        self.errors.append(f"{text} ({where})")

    def open(self, path: str) -> object:
        answer = self.page.goto(self.url + path)
        self.page.wait_for_load_state("networkidle")
        return answer

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def admin_tab(browser: object, live: Live) -> Iterator[Tab]:
    tab = Tab(browser, live.url, ADMIN)
    yield tab
    tab.close()


def _no_traceback(tab: Tab) -> None:
    body = tab.text("body")
    assert "Traceback" not in body and 'File "' not in body


PAGES = [
    pytest.param("fleet", "/ui/fleet", "#hosts", id="fleet"),
    pytest.param("host", "/ui/hosts/compute-2", "#pci-tree", id="host"),
    pytest.param("servers", "/ui/servers", "#servers", id="servers"),
    pytest.param("server", "/ui/servers/{vm-alpha}", "#domain-xml", id="server"),
    pytest.param("ports", "/ui/ports", "#ports", id="ports"),
    pytest.param("port", "/ui/ports/{p-alpha}", "#port-fields", id="port"),
    pytest.param(
        "why", "/ui/why?flavor=g1.pair&cells=1&host=compute-2", "#stage-table", id="why-not-here"
    ),
    pytest.param("capacity", "/ui/capacity?flavor=g1.large", "#chart-1", id="capacity"),
]


@pytest.mark.parametrize(("name", "path", "selector"), PAGES)
def test_each_page_renders_without_console_errors(
    admin_tab: Tab, live: Live, shots: Path, name: str, path: str, selector: str
) -> None:
    for key, value in {**live.servers, **live.ports}.items():
        path = path.replace("{" + key + "}", value)
    answer = admin_tab.open(path)
    assert answer.status == 200  # type: ignore[attr-defined]
    admin_tab.page.wait_for_selector(selector)
    _no_traceback(admin_tab)
    admin_tab.page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert admin_tab.errors == []


def test_fleet_page_shows_the_seeded_free_counts(admin_tab: Tab, live: Live) -> None:
    admin_tab.open("/ui/fleet")
    for host in live.admin.list_hosts():
        row = admin_tab.page.locator(f"#hosts tr[data-host='{host.name}']")
        shown = {
            p.get_attribute("data-pool"): (
                p.get_attribute("data-free"),
                p.get_attribute("data-total"),
            )
            for p in row.locator(".pool").all()
        }
        assert shown == {p.pool: (str(p.free), str(p.total)) for p in host.pools}, host.name
        assert (row.locator(".badge").first.inner_text() == "alive") == host.alive
    assert "dead" in admin_tab.text(f"#hosts tr[data-host='{DEAD_HOST}']")
    # The A100 totals: 4 + 4 + 2 devices, three taken by vm-beta and vm-pair.
    row = admin_tab.page.locator("#totals tr[data-kind='10de:20b5 type-PCI'] td.num")
    assert [c.inner_text() for c in row.all()] == ["3", "7", "3", "10"]
    assert admin_tab.errors == []


def test_fleet_filters(admin_tab: Tab) -> None:
    admin_tab.open("/ui/fleet?kind=10de%3A1eb8+type-PCI&free=1")
    hosts = admin_tab.page.locator("#hosts tr[data-host]")
    assert sorted(h.get_attribute("data-host") for h in hosts.all()) == ["compute-2", "compute-3"]
    admin_tab.open("/ui/fleet?state=dead")
    assert [h.get_attribute("data-host") for h in hosts.all()] == [DEAD_HOST]
    admin_tab.open("/ui/fleet?physnet=physnet1&free=1000")
    assert hosts.count() == 0
    assert admin_tab.errors == []


def _offline_fit(live: Live, host: str) -> dict[str, object]:
    snapshot = live.workdir / "export.json"
    snapshot.write_text(json.dumps(live.admin.export()), encoding="utf-8")
    command = [sys.executable, "-m", "pciplane.cli.main", "fit", "--fleet", str(snapshot),
               "--alias-request", "large_GPU:2", "--numa-cells", "1", "--explain", host,
               "--vcpus", "2", "--ram", "2048", "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    doc: dict[str, object] = json.loads(done.stdout)
    return doc


@pytest.mark.parametrize("host", ["compute-2", "compute-1"])
def test_why_not_page_gives_the_offline_fits_reason(admin_tab: Tab, live: Live, host: str) -> None:
    offline = _offline_fit(live, host)
    explain = offline["explain"]
    assert isinstance(explain, dict)
    assert not explain["fits"], explain  # the seeded fleet rules the named host out
    admin_tab.open("/ui/why")
    admin_tab.page.select_option("select[name=flavor]", "g1.pair")
    admin_tab.page.fill("input[name=cells]", "1")
    admin_tab.page.fill("input[name=host]", host)
    admin_tab.page.wait_for_selector(f"#host-verdict[data-host='{host}']")
    verdict = admin_tab.text("#host-verdict .reason")
    assert verdict == explain["reason"]
    group = admin_tab.page.locator(
        "#reasons tr.reason-group", has=admin_tab.page.locator(f"a[data-host='{host}']")
    )
    assert group.locator("td.reason").inner_text() == explain["reason"]
    rows = [
        [c.inner_text() for c in r.locator("td").all()][:4]
        for r in admin_tab.page.locator("#stage-table tbody tr").all()
    ]
    assert rows == [
        [s["request"], s["stage"], str(s["before"]), str(s["after"])]  # type: ignore[index]
        for s in explain["stages"]  # type: ignore[union-attr]
    ]
    assert admin_tab.errors == []


def test_a_project_sees_only_its_own_servers_and_ports(browser: object, live: Live) -> None:
    tab = Tab(browser, live.url, BETA)
    try:
        tab.open("/ui/servers")
        names = [
            r.get_attribute("data-server")
            for r in tab.page.locator("#servers tr[data-server]").all()
        ]
        assert names == ["vm-beta"]
        answer = tab.open(f"/ui/servers/{live.servers['vm-alpha']}")
        assert answer.status == 404  # type: ignore[attr-defined]
        assert "does not exist" in tab.text(".error")
        assert "vm-alpha" not in tab.text("body")
        answer = tab.open(f"/ui/ports/{live.ports['p-alpha']}")
        assert answer.status == 404  # type: ignore[attr-defined]
        tab.open("/ui/ports")
        assert tab.page.locator("#ports tr[data-port]").count() == 0
        answer = tab.open("/ui/fleet")
        assert answer.status == 403  # type: ignore[attr-defined]
        assert "admin role" in tab.text(".error")
        _no_traceback(tab)
        assert tab.errors == []
    finally:
        tab.close()
    own = Tab(browser, live.url, ALPHA)
    try:
        own.open(f"/ui/servers/{live.servers['vm-alpha']}")
        assert own.text(".nic .vif-type") == "hw_veb"
        assert json.loads(own.text(".nic .vif-details")) == {
            "connectivity": "l2", "port_filter": False, "vlan": "100",
        }  # fmt: skip
        assert own.errors == []
    finally:
        own.close()


BAD_QUERIES = [
    pytest.param("/ui/why?flavor=no-such-flavor", 404, "no-such-flavor", id="unknown-flavor"),
    pytest.param(
        "/ui/why?flavor=g1.pair&cells=0,x", 400, "NUMA cells '0,x' are not integers",
        id="malformed-cells",
    ),
    pytest.param(
        "/ui/capacity?flavor=g1.pair&cells=-1", 400, "must not be negative", id="negative-cells"
    ),
    pytest.param(
        "/ui/why?ports=physnet1:sideways", 400, "vnic type 'sideways'", id="bad-vnic-type"
    ),
    pytest.param("/ui/why?flavor=g1.pair&host=nowhere", 404, "nowhere", id="unknown-host"),
    pytest.param(
        "/ui/fleet?free=many", 400, "free at least: 'many' is not a whole number", id="bad-filter"
    ),
    pytest.param("/ui/hosts/nowhere", 404, "nowhere", id="unknown-host-page"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "status", "words"), BAD_QUERIES)
def test_a_bad_query_shows_a_clear_message(
    admin_tab: Tab, shots: Path, path: str, status: int, words: str
) -> None:
    answer = admin_tab.open(path)
    assert answer.status == status  # type: ignore[attr-defined]
    assert words in admin_tab.text("[role=alert]")
    _no_traceback(admin_tab)
    assert admin_tab.errors == []
    if "cells=0,x" in path:
        admin_tab.page.screenshot(path=str(shots / "bad-query.png"), full_page=True)


def test_capacity_agrees_with_why_not_here_on_a_dead_host(admin_tab: Tab, live: Live) -> None:
    admin_tab.open("/ui/capacity?flavor=g1.large")
    chart = admin_tab.text("#chart-1")
    assert f"{DEAD_HOST}\n0 · agent down" in chart or f"{DEAD_HOST} 0 · agent down" in chart
    api = live.admin._call("POST", "/v1/capacity", {"flavor": "g1.large"})
    shown = int(admin_tab.text("#capacity-summary").split("take ")[1].split(" ")[0])
    assert shown == api["total"]
    assert {h["name"]: h["limited_by"] for h in api["hosts"]}[DEAD_HOST] == "agent down"
    rows = admin_tab.page.locator("#capacity-hosts tr[data-host]")
    shown_hosts = {
        r.get_attribute("data-host"): [c.inner_text() for c in r.locator("td").all()][1:3]
        for r in rows.all()
    }
    assert shown_hosts == {h["name"]: [str(h["servers"]), h["limited_by"]] for h in api["hosts"]}
    admin_tab.open("/ui/why?flavor=g1.large")
    assert "agent down" in admin_tab.text("#reasons")
    assert admin_tab.errors == []
