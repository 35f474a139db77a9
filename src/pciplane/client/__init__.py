"""The typed HTTP client of the pciplane API (used by the CLI and the host agent)."""

from pciplane.client.errors import ApiError
from pciplane.client.http import DEFAULT_API, Client

__all__ = ["DEFAULT_API", "ApiError", "Client"]
