"""The typed HTTP client of the pciplane API, used by the CLI and the host agent.

Every method returns records from :mod:`pciplane.client.records` or raises the domain
error the service's answer names (:mod:`pciplane.client.errors`). The transport is an
``httpx.Client``; tests pass one bound to the app in-process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import httpx

from pciplane.client.errors import UnreachableError, from_body
from pciplane.client.records import (
    AliasInfo,
    FitResult,
    Flavor,
    HostSummary,
    HostVerdict,
    Mismatch,
    Server,
    WorkItem,
)
from pciplane.core.errors import PciplaneError
from pciplane.core.fleet import Host
from pciplane.core.snapshot import host_to_json

DEFAULT_API = "http://127.0.0.1:8774"
FINAL_STATES = frozenset({"ACTIVE", "ERROR", "DELETED"})


class Client:
    def __init__(
        self,
        api: str = DEFAULT_API,
        token: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            http = httpx.Client(base_url=api, timeout=timeout) if http is None else http
        except httpx.InvalidURL as exc:  # not an HTTPError: raised before any request
            raise UnreachableError(f"the pciplane API URL {api!r} is not valid: {exc}") from None
        http.headers.update(headers)
        self.http = http
        self.api = api

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------

    def _call(self, method: str, path: str, body: object = None, **params: Any) -> Any:
        try:
            response = self.http.request(
                method, path, json=body, params={k: v for k, v in params.items() if v is not None}
            )
        except httpx.HTTPError as exc:
            raise UnreachableError(f"cannot reach the pciplane API at {self.api}: {exc}") from exc
        if response.status_code == 204:
            return None
        try:
            payload = response.json()
        except json.JSONDecodeError:
            payload = None
        if response.status_code >= 400:
            raise from_body(response.status_code, payload)
        return payload

    # --- operations -----------------------------------------------------------------

    def health(self) -> Mapping[str, str]:
        result: Mapping[str, str] = self._call("GET", "/healthz")
        return result

    def list_aliases(self) -> list[AliasInfo]:
        return [
            AliasInfo(name=a["name"], entry_json=json.dumps(a["entry"], sort_keys=True))
            for a in self._call("GET", "/v1/aliases")["aliases"]
        ]

    def create_alias(self, entry: Mapping[str, object]) -> AliasInfo:
        out = self._call("POST", "/v1/aliases", dict(entry))
        return AliasInfo(name=out["name"], entry_json=json.dumps(out["entry"], sort_keys=True))

    def delete_alias(self, name: str) -> None:
        self._call("DELETE", f"/v1/aliases/{name}")

    def reload_aliases(self) -> int:
        return len(self._call("POST", "/v1/aliases/reload")["aliases"])

    def list_flavors(self) -> list[Flavor]:
        return [Flavor.of(f) for f in self._call("GET", "/v1/flavors")["flavors"]]

    def get_flavor(self, name: str) -> Flavor:
        return Flavor.of(self._call("GET", f"/v1/flavors/{name}"))

    def create_flavor(
        self, name: str, *, vcpus: int, ram: int, extra_specs: Mapping[str, str] | None = None
    ) -> Flavor:
        body = {"name": name, "vcpus": vcpus, "ram": ram, "extra_specs": dict(extra_specs or {})}
        return Flavor.of(self._call("POST", "/v1/flavors", body))

    def set_flavor(
        self, name: str, *, set_: Mapping[str, str], unset: Collection[str] = ()
    ) -> Flavor:
        body = {"set": dict(set_), "unset": list(unset)}
        return Flavor.of(self._call("PATCH", f"/v1/flavors/{name}", body))

    def delete_flavor(self, name: str) -> None:
        self._call("DELETE", f"/v1/flavors/{name}")

    def create_server(self, name: str, *, flavor: str) -> Server:
        return Server.of(self._call("POST", "/v1/servers", {"name": name, "flavor": flavor}))

    def list_servers(self, *, include_deleted: bool = False) -> list[Server]:
        out = self._call("GET", "/v1/servers", all=include_deleted or None)
        return [Server.of(s) for s in out["servers"]]

    def get_server(self, server_id: str) -> Server:
        return Server.of(self._call("GET", f"/v1/servers/{server_id}"))

    def find_server(self, name_or_id: str) -> Server:
        """By id, or by a name that exactly one of the caller's servers has."""
        matches = [s for s in self.list_servers() if name_or_id in (s.id, s.name)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise PciplaneError(f"{len(matches)} servers are named {name_or_id!r}; use the id")
        return self.get_server(name_or_id)

    def delete_server(self, server_id: str) -> Server:
        return Server.of(self._call("DELETE", f"/v1/servers/{server_id}"))

    def wait_server(
        self,
        server_id: str,
        *,
        until: Collection[str] = FINAL_STATES,
        timeout: float = 300.0,
        interval: float = 0.5,
    ) -> Server:
        """Poll until the server reaches one of ``until`` with no task pending."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.get_server(server_id)
            if server.state in until and server.task is None:
                return server
            if time.monotonic() > deadline:
                raise PciplaneError(
                    f"server {server.name} is still {server.state} after {timeout:.0f}s"
                )
            time.sleep(interval)

    def list_hosts(self) -> list[HostSummary]:
        return [HostSummary.of(h) for h in self._call("GET", "/v1/hosts")["hosts"]]

    def get_host(self, name: str) -> HostSummary:
        return HostSummary.of(self._call("GET", f"/v1/hosts/{name}"))

    def get_host_document(self, name: str) -> dict[str, Any]:
        """The host as stored, with ``device_list`` in the fleet snapshot's device shape."""
        doc: dict[str, Any] = self._call("GET", f"/v1/hosts/{name}")
        return doc

    # --- the agent's side -----------------------------------------------------------

    def register_host(self, host: Host) -> HostSummary:
        """Report the host (NUMA nodes, devices, own device_spec) as its agent sees it."""
        return HostSummary.of(self._call("PUT", f"/v1/hosts/{host.name}", host_to_json(host)))

    def take_work(self, host: str) -> list[WorkItem]:
        return [WorkItem.of(w) for w in self._call("GET", f"/v1/hosts/{host}/work")["work"]]

    def report_work(self, work_id: int, *, ok: bool, reason: str = "") -> Server:
        return Server.of(self._call("POST", f"/v1/work/{work_id}", {"ok": ok, "reason": reason}))

    def report_mismatches(self, host: str, mismatches: Sequence[Mismatch]) -> list[Server]:
        """What the agent's reconciliation found; the servers the service put in ERROR."""
        body = {"mismatches": [m.to_json() for m in mismatches]}
        out = self._call("POST", f"/v1/hosts/{host}/mismatches", body)
        return [Server.of(s) for s in out["servers"]]

    # --- fleet-wide views -----------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """The live state as a ``pciplane-fleet/1`` document."""
        doc: dict[str, Any] = self._call("GET", "/v1/export")
        return doc

    def fit(
        self,
        *,
        flavor: str | None = None,
        extra_specs: Mapping[str, str] | None = None,
        numa_cells: Collection[int] | None = None,
    ) -> FitResult:
        body = {
            "flavor": flavor,
            "extra_specs": dict(extra_specs or {}),
            "numa_cells": None if numa_cells is None else sorted(numa_cells),
        }
        out = self._call("POST", "/v1/fit", body)
        return FitResult(
            hosts=tuple(
                HostVerdict(name=h["name"], fits=h["fits"], reason=h["reason"])
                for h in out["hosts"]
            ),
            fit_count=int(out["fit_count"]),
        )
