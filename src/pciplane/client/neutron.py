"""The client's calls of Neutron's v2.0 API on the pciplane service: networks, ports,
extensions and agents, with the ``openstack`` CLI's way of finding a resource by name or
id (an id first, then the name filter, exactly one match; openstack-clients §7.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from pciplane.core.errors import NotFoundError, PciplaneError, RequestError
from pciplane.wire import networks as wn

M = TypeVar("M", bound=BaseModel)


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{what} must not be empty")
    return quote(value, safe="")


class NeutronCalls:
    """Mixed into :class:`pciplane.client.Client`, which provides the transport."""

    def _call(self, method: str, path: str, body: object = None, **params: Any) -> Any:
        raise NotImplementedError  # pragma: no cover

    def _model(
        self, model: type[M], method: str, path: str, body: object = None, **params: Any
    ) -> M:
        raise NotImplementedError  # pragma: no cover

    # --- extensions and agents ----------------------------------------------------

    def list_extensions(self) -> list[wn.ExtensionOut]:
        return self._model(wn.ExtensionList, "GET", "/v2.0/extensions").extensions

    def list_agents(self, *, host: str | None = None) -> list[wn.AgentOut]:
        return self._model(wn.AgentList, "GET", "/v2.0/agents", host=host).agents

    def get_agent(self, agent: str) -> wn.AgentOut:
        path = f"/v2.0/agents/{_segment(agent, 'the agent')}"
        return self._model(wn.AgentAnswer, "GET", path).agent

    # --- networks -----------------------------------------------------------------

    def create_network(self, attrs: Mapping[str, object]) -> wn.NetworkOut:
        body = {"network": dict(attrs)}
        return self._model(wn.NetworkAnswer, "POST", "/v2.0/networks", body).network

    def list_networks(self, *, name: str | None = None) -> list[wn.NetworkOut]:
        return self._model(wn.NetworkList, "GET", "/v2.0/networks", name=name).networks

    def get_network(self, network_id: str) -> wn.NetworkOut:
        path = f"/v2.0/networks/{_segment(network_id, 'the network')}"
        return self._model(wn.NetworkAnswer, "GET", path).network

    def find_network(self, name_or_id: str) -> wn.NetworkOut:
        try:
            return self.get_network(name_or_id)
        except NotFoundError:
            return _one(self.list_networks(name=name_or_id), "network", name_or_id)

    def update_network(self, network_id: str, attrs: Mapping[str, object]) -> wn.NetworkOut:
        path = f"/v2.0/networks/{_segment(network_id, 'the network')}"
        return self._model(wn.NetworkAnswer, "PUT", path, {"network": dict(attrs)}).network

    def delete_network(self, network_id: str) -> None:
        self._call("DELETE", f"/v2.0/networks/{_segment(network_id, 'the network')}")

    # --- ports --------------------------------------------------------------------

    def create_port(self, attrs: Mapping[str, object]) -> wn.PortOut:
        return self._model(wn.PortAnswer, "POST", "/v2.0/ports", {"port": dict(attrs)}).port

    def list_ports(
        self,
        *,
        name: str | None = None,
        network_id: str | None = None,
        device_id: str | None = None,
    ) -> list[wn.PortOut]:
        out = self._model(
            wn.PortList, "GET", "/v2.0/ports", name=name, network_id=network_id, device_id=device_id
        )
        return out.ports

    def get_port(self, port_id: str) -> wn.PortOut:
        return self._model(
            wn.PortAnswer, "GET", f"/v2.0/ports/{_segment(port_id, 'the port')}"
        ).port

    def find_port(self, name_or_id: str) -> wn.PortOut:
        try:
            return self.get_port(name_or_id)
        except NotFoundError:
            return _one(self.list_ports(name=name_or_id), "port", name_or_id)

    def update_port(self, port_id: str, attrs: Mapping[str, object]) -> wn.PortOut:
        path = f"/v2.0/ports/{_segment(port_id, 'the port')}"
        return self._model(wn.PortAnswer, "PUT", path, {"port": dict(attrs)}).port

    def delete_port(self, port_id: str) -> None:
        self._call("DELETE", f"/v2.0/ports/{_segment(port_id, 'the port')}")


def _one(found: list[M], what: str, name: str) -> M:
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError(f"no {what} with a name or id of {name!r} exists")
    raise PciplaneError(f"more than one {what} exists with the name {name!r}; use the id")
