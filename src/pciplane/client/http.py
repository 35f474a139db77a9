"""The typed HTTP client of the pciplane API, used by the CLI and the host agent.

Every method returns the wire models of :mod:`pciplane.wire` (the ones the API renders
with) or raises the domain error the service's answer names (:mod:`pciplane.client.errors`).
Names go into URLs as escaped path segments, an empty one is refused before any request,
and any answer that is not 2xx is an error. The transport is an ``httpx.Client``; tests
pass one bound to the app in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from pciplane.client.errors import from_body
from pciplane.client.neutron import NeutronCalls
from pciplane.core.errors import NotFoundError, PciplaneError, RequestError, UnreachableError
from pciplane.core.fleet import Host
from pciplane.core.snapshot import host_to_json
from pciplane.wire import catalog as wc
from pciplane.wire import hosts as wh
from pciplane.wire import images as wi
from pciplane.wire import quotas as wq
from pciplane.wire import servers as ws
from pciplane.wire import whatif as ww
from pciplane.wire.common import Health

DEFAULT_API = "http://127.0.0.1:8774"
FINAL_STATES = frozenset({"ACTIVE", "ERROR", "DELETED"})
#: The states a stop, start or reboot ends in (the action is over once its task is).
SETTLED_STATES = frozenset({"ACTIVE", "SHUTOFF", "ERROR", "DELETED"})

M = TypeVar("M", bound=BaseModel)


def segment(value: str, what: str) -> str:
    """``value`` as one URL path segment, escaped; a name that could be read as a path
    (``../aliases/a6``, ``cmp1/work``) is refused before any request is made."""
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{what} must not be empty")
    if "/" in value or value in (".", ".."):
        raise RequestError(f"{what} {value!r} is not a name: names contain no '/'")
    return quote(value, safe="")


class Client(NeutronCalls):
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
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise UnreachableError(f"cannot reach the pciplane API at {self.api}: {exc}") from exc
        return self._payload(response)

    @staticmethod
    def _payload(response: httpx.Response) -> Any:
        """The answer's JSON; the error it names unless it is a 2xx."""
        try:
            payload = response.json() if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if not 200 <= response.status_code < 300:
            raise from_body(response.status_code, payload)
        return payload

    def _model(
        self, model: type[M], method: str, path: str, body: object = None, **params: Any
    ) -> M:
        return model.model_validate(self._call(method, path, body, **params))

    # --- operations -----------------------------------------------------------------

    def health(self) -> Health:
        return self._model(Health, "GET", "/healthz")

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll ``ready`` until it is true; the service being away meanwhile is not an
        error (it may be starting), running out of time is."""
        deadline = time.monotonic() + timeout
        last = "not yet"
        while True:
            try:
                if ready():
                    return
            except (UnreachableError, NotFoundError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise UnreachableError(f"{what} after {timeout:.0f}s: {last}")
            time.sleep(0.2)

    def list_aliases(self) -> wc.AliasList:
        return self._model(wc.AliasList, "GET", "/v1/aliases")

    def create_alias(self, entry: Mapping[str, object]) -> wc.AliasOut:
        return self._model(wc.AliasOut, "POST", "/v1/aliases", dict(entry))

    def delete_alias(self, name: str) -> None:
        self._call("DELETE", f"/v1/aliases/{segment(name, 'the alias name')}")

    def reload_aliases(self) -> wc.AliasList:
        return self._model(wc.AliasList, "POST", "/v1/aliases/reload")

    def list_flavors(self) -> list[wc.FlavorOut]:
        return self._model(wc.FlavorList, "GET", "/v1/flavors").flavors

    def get_flavor(self, name: str) -> wc.FlavorOut:
        return self._model(wc.FlavorOut, "GET", f"/v1/flavors/{segment(name, 'the flavor name')}")

    def create_flavor(
        self,
        name: str,
        *,
        vcpus: int,
        ram: int,
        extra_specs: Mapping[str, str] | None = None,
        disk: int = 0,
    ) -> wc.FlavorOut:
        body: dict[str, object] = {
            "name": name,
            "vcpus": vcpus,
            "ram": ram,
            "extra_specs": dict(extra_specs or {}),
        }
        if disk:
            body["disk"] = disk
        return self._model(wc.FlavorOut, "POST", "/v1/flavors", body)

    def set_flavor(
        self, name: str, *, set_: Mapping[str, str], unset: Collection[str] = ()
    ) -> wc.FlavorOut:
        body = {"set": dict(set_), "unset": list(unset)}
        path = f"/v1/flavors/{segment(name, 'the flavor name')}"
        return self._model(wc.FlavorOut, "PATCH", path, body)

    def delete_flavor(self, name: str) -> None:
        self._call("DELETE", f"/v1/flavors/{segment(name, 'the flavor name')}")

    def create_server(
        self,
        name: str,
        *,
        flavor: str,
        nics: Sequence[Mapping[str, str]] = (),
        image: str | None = None,
    ) -> ws.ServerOut:
        """``nics``: ``{"net_id": .., "vnic_type": .., "pci_group": ..}`` or
        ``{"port_id": ..}`` entries, in the guest's NIC order; ``image``: a name or id."""
        body: dict[str, object] = {"name": name, "flavor": flavor}
        if image is not None:
            body["image"] = image
        if nics:
            body["nics"] = [dict(n) for n in nics]
        return self._model(ws.ServerOut, "POST", "/v1/servers", body)

    def add_port(self, server_id: str, port_id: str) -> ws.ServerOut:
        """Hot-plug a port into a running server; answers once the host's agent did."""
        path = f"/v1/servers/{segment(server_id, 'the server id')}/ports"
        return self._model(ws.ServerOut, "POST", path, {"port_id": port_id})

    def remove_port(self, server_id: str, port_id: str) -> ws.ServerOut:
        server = segment(server_id, "the server id")
        path = f"/v1/servers/{server}/ports/{segment(port_id, 'the port id')}"
        return self._model(ws.ServerOut, "DELETE", path)

    def list_servers(
        self, *, include_deleted: bool = False, name: str | None = None
    ) -> list[ws.ServerOut]:
        out = self._model(
            ws.ServerList, "GET", "/v1/servers", all=include_deleted or None, name=name
        )
        return out.servers

    def get_server(self, server_id: str) -> ws.ServerOut:
        path = f"/v1/servers/{segment(server_id, 'the server id')}"
        return self._model(ws.ServerOut, "GET", path)

    def find_server(self, name_or_id: str) -> ws.ServerOut:
        """By id, or by a name that exactly one of the caller's servers has."""
        segment(name_or_id, "the server name or id")
        matches = self.list_servers(name=name_or_id)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise PciplaneError(f"{len(matches)} servers are named {name_or_id!r}; use the id")
        return self.get_server(name_or_id)

    def delete_server(self, server_id: str) -> ws.ServerOut:
        path = f"/v1/servers/{segment(server_id, 'the server id')}"
        return self._model(ws.ServerOut, "DELETE", path)

    def stop_server(self, server_id: str) -> ws.ServerOut:
        """Ask the host's agent to shut the guest down; the server with its task."""
        path = f"/v1/servers/{segment(server_id, 'the server id')}/stop"
        return self._model(ws.ServerOut, "POST", path)

    def start_server(self, server_id: str) -> ws.ServerOut:
        path = f"/v1/servers/{segment(server_id, 'the server id')}/start"
        return self._model(ws.ServerOut, "POST", path)

    def reboot_server(self, server_id: str, *, hard: bool = False) -> ws.ServerOut:
        path = f"/v1/servers/{segment(server_id, 'the server id')}/reboot"
        return self._model(ws.ServerOut, "POST", path, {"hard": hard})

    def wait_server(
        self,
        server_id: str,
        *,
        until: Collection[str] = FINAL_STATES,
        timeout: float = 300.0,
        interval: float = 0.5,
    ) -> ws.ServerOut:
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

    def list_hosts(self) -> list[wh.HostOut]:
        return self._model(wh.HostList, "GET", "/v1/hosts").hosts

    def get_host(self, name: str) -> wh.HostDetail:
        return self._model(wh.HostDetail, "GET", f"/v1/hosts/{segment(name, 'the host name')}")

    # --- images -----------------------------------------------------------------------

    def create_image(self, name: str, path: Path, *, disk_format: str | None = None) -> wi.ImageOut:
        """Upload ``path`` streamed (1 MiB at a time, with its length) as image ``name``;
        the service's SHA-256 must be the one computed here while sending."""
        segment(name, "the image name")
        try:
            size = path.stat().st_size
            source = path.open("rb")
        except OSError as exc:
            raise RequestError(f"{path}: cannot read the image file: {exc.strerror}") from None
        digest = hashlib.sha256()

        def chunks() -> Iterator[bytes]:
            with source:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    yield chunk

        params = {"name": name, "disk_format": disk_format}
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        try:
            response = self.http.post(
                "/v1/images",
                content=chunks(),
                headers=headers,
                params={k: v for k, v in params.items() if v is not None},
            )
        except (httpx.HTTPError, ValueError) as exc:
            raise UnreachableError(f"cannot reach the pciplane API at {self.api}: {exc}") from exc
        image = wi.ImageOut.model_validate(self._payload(response))
        if image.sha256 != digest.hexdigest():
            self.delete_image(image.id)
            raise RequestError(
                f"image {name!r}: the service stored SHA-256 {image.sha256}, but {path} has "
                f"{digest.hexdigest()} (did it change while uploading?); deleted it"
            )
        return image

    def list_images(self, *, name: str | None = None) -> list[wi.ImageOut]:
        return self._model(wi.ImageList, "GET", "/v1/images", name=name).images

    def get_image(self, ref: str) -> wi.ImageOut:
        return self._model(wi.ImageOut, "GET", f"/v1/images/{segment(ref, 'the image')}")

    def delete_image(self, ref: str) -> None:
        self._call("DELETE", f"/v1/images/{segment(ref, 'the image')}")

    def download_image(self, image_id: str, dest: Path) -> str:
        """Stream the image file to ``dest``; its SHA-256 as computed while writing."""
        digest = hashlib.sha256()
        path = f"/v1/images/{segment(image_id, 'the image id')}/file"
        try:
            with self.http.stream("GET", path) as response:
                if not 200 <= response.status_code < 300:
                    response.read()
                    self._payload(response)
                with dest.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
        except (httpx.HTTPError, ValueError) as exc:
            raise UnreachableError(
                f"cannot download image {image_id} from {self.api}: {exc}"
            ) from exc
        return digest.hexdigest()

    def disable_host(self, name: str, *, reason: str | None = None) -> wh.HostOut:
        path = f"/v1/hosts/{segment(name, 'the host name')}/disable"
        return self._model(wh.HostOut, "POST", path, {"reason": reason})

    def enable_host(self, name: str) -> wh.HostOut:
        path = f"/v1/hosts/{segment(name, 'the host name')}/enable"
        return self._model(wh.HostOut, "POST", path)

    def show_quotas(self, project: str | None = None) -> wq.QuotaSetOut:
        """A project's quotas with their usage (the caller's own when None)."""
        path = "/v1/quotas" if project is None else f"/v1/quotas/{segment(project, 'the project')}"
        return self._model(wq.QuotaSetOut, "GET", path)

    def set_quotas(self, project: str, limits: Mapping[str, int | None]) -> wq.QuotaSetOut:
        path = f"/v1/quotas/{segment(project, 'the project')}"
        return self._model(wq.QuotaSetOut, "PUT", path, {"limits": dict(limits)})

    # --- the agent's side -----------------------------------------------------------

    def register_host(
        self, host: Host, *, network: Mapping[str, object] | None = None
    ) -> wh.Registration:
        """Report the host (NUMA nodes, devices, own device_spec) as its agent sees it,
        with the agent's network configuration when it has one."""
        path = f"/v1/hosts/{segment(host.name, 'the host name')}"
        body = host_to_json(host)
        # What guests use of the host's CPUs and memory is the service's (its claims), not
        # the agent's to report: a snapshot's host (with its ``usage``) registers as is.
        body.pop("usage", None)
        if network is not None:
            body["network"] = dict(network)
        return self._model(wh.Registration, "PUT", path, body)

    def take_work(self, host: str) -> list[wh.WorkOut]:
        path = f"/v1/hosts/{segment(host, 'the host name')}/work"
        return self._model(wh.WorkList, "GET", path).work

    def report_work(
        self,
        work_id: int,
        *,
        ok: bool,
        reason: str = "",
        domain_xml: str | None = None,
        code: str | None = None,
        wired: Sequence[Mapping[str, object]] = (),
    ) -> ws.ServerOut:
        body = {
            "ok": ok,
            "reason": reason,
            "domain_xml": domain_xml,
            "code": code,
            "wired": [dict(w) for w in wired],
        }
        return self._model(ws.ServerOut, "POST", f"/v1/work/{int(work_id)}", body)

    def report_mismatches(
        self, host: str, mismatches: Sequence[wh.MismatchIn]
    ) -> list[ws.ServerOut]:
        """What the agent's reconciliation found; the servers the service put in ERROR."""
        body = {"mismatches": [m.model_dump() for m in mismatches]}
        path = f"/v1/hosts/{segment(host, 'the host name')}/mismatches"
        return self._model(wh.MismatchesOut, "POST", path, body).servers

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
    ) -> ww.FitOut:
        body = {
            "flavor": flavor,
            "extra_specs": dict(extra_specs or {}),
            "numa_cells": None if numa_cells is None else sorted(numa_cells),
        }
        return self._model(ww.FitOut, "POST", "/v1/fit", body)
