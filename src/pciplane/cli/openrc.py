"""``pciplane openrc``: the ``export OS_...`` lines that point the openstack CLI at pciplane.

As devstack's openrc does, for ``eval "$(pciplane openrc)"``. It reads the service's own
settings (``--config``, ``PCIPLANE_*``), so the user, password and URL are the ones the
service has. Three ways to authenticate, as the clients support them:

- ``keystone`` (the default when the settings have ``keystone_users``): password auth at
  ``/identity``, the endpoints from the token's catalog;
- ``token``: ``auth_type admin_token`` with the admin token (or, with ``--project``, that
  project's token) and an endpoint override per service;
- ``none``: ``auth_type none`` with the overrides; the service must have ``noauth`` on.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from pciplane.core.errors import ConfigError
from pciplane.service.settings import Settings, build_settings

#: The paths of the OpenStack APIs on a pciplane server (api/openstack/endpoints.py).
IDENTITY, COMPUTE, NETWORK, IMAGE = "/identity", "/compute/v2.1", "", "/image"
#: Every variable an earlier openrc may have set; each run sets its own and unsets the rest.
ALL_VARIABLES = (
    "OS_AUTH_URL", "OS_AUTH_TYPE", "OS_IDENTITY_API_VERSION", "OS_USERNAME", "OS_PASSWORD",
    "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME",
    "OS_INTERFACE", "OS_TOKEN", "OS_ENDPOINT", "OS_COMPUTE_ENDPOINT_OVERRIDE",
    "OS_NETWORK_ENDPOINT_OVERRIDE", "OS_IMAGE_ENDPOINT_OVERRIDE", "OS_CLOUD",
)  # fmt: skip


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "openrc",
        help="print the OS_* variables that point the openstack CLI at this pciplane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="the service's TOML settings file ([pciplane] table)")
    parser.add_argument("--url", help="the service's base URL (default: public_url, or "
                        "http://HOST:PORT from the settings)")  # fmt: skip
    parser.add_argument("--user", help="Keystone user (default: admin, or the only one)")
    parser.add_argument("--project", help="project (default: the user's only one, or admin)")
    parser.add_argument("--auth", choices=["keystone", "token", "none"],
                        help="how to authenticate (default: keystone when the settings have "
                        "keystone_users, else token)")  # fmt: skip
    parser.set_defaults(func=_openrc)


def base_url(settings: Settings, given: str | None) -> str:
    if given:
        return given.rstrip("/")
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.bind_host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def _pick(choices: list[str], given: str | None, what: str, preferred: str = "admin") -> str:
    if given is not None:
        if given not in choices:
            known = ", ".join(sorted(choices)) or "none"
            raise ConfigError(f"{what} {given!r} is not in the settings (known: {known})")
        return given
    if len(choices) == 1:
        return choices[0]
    if preferred in choices:
        return preferred
    if not choices:
        raise ConfigError(f"the settings name no {what}")
    return sorted(choices)[0]


def keystone_lines(
    settings: Settings, url: str, user: str | None, project: str | None
) -> dict[str, str]:
    name = _pick(list(settings.keystone_users), user, "keystone user")
    known = settings.keystone_users[name]
    scope = _pick(list(known.roles), project, f"project of user {name!r}")
    return {
        "OS_AUTH_URL": url + IDENTITY,
        "OS_AUTH_TYPE": "password",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": name,
        "OS_PASSWORD": known.password.get_secret_value(),
        "OS_PROJECT_NAME": scope,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": settings.region_name,
        "OS_INTERFACE": "public",
    }


def _overrides(settings: Settings, url: str) -> dict[str, str]:
    """No Keystone: the identity document (the flavor commands read it) and one endpoint
    override per service (the clients have no catalog)."""
    return {
        "OS_ENDPOINT": url + IDENTITY,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_COMPUTE_ENDPOINT_OVERRIDE": url + COMPUTE,
        "OS_NETWORK_ENDPOINT_OVERRIDE": url + NETWORK,
        "OS_IMAGE_ENDPOINT_OVERRIDE": url + IMAGE,
        "OS_REGION_NAME": settings.region_name,
    }


def token_lines(settings: Settings, url: str, project: str | None) -> dict[str, str]:
    if project is None:
        if not settings.admin_token:
            raise ConfigError(
                "the settings have no admin_token (serve generates one at each start); set it"
            )
        token = settings.admin_token
    else:
        found = [t for t, p in settings.project_tokens.items() if p == project]
        if not found:
            raise ConfigError(f"no project token of project {project!r} in project_tokens")
        token = found[0]
    return {"OS_AUTH_TYPE": "admin_token", "OS_TOKEN": token, **_overrides(settings, url)}


def noauth_lines(settings: Settings, url: str) -> dict[str, str]:
    if not settings.noauth:
        raise ConfigError("the service's noauth setting is off: auth_type none would be refused")
    return {"OS_AUTH_TYPE": "none", **_overrides(settings, url)}


def openrc(settings: Settings, args: argparse.Namespace) -> str:
    url = base_url(settings, args.url)
    mode = args.auth or ("keystone" if settings.keystone_users else "token")
    if mode == "keystone":
        lines = keystone_lines(settings, url, args.user, args.project)
        how = f"Keystone password auth as {lines['OS_USERNAME']} on {lines['OS_PROJECT_NAME']}"
    elif mode == "token":
        lines = token_lines(settings, url, args.project)
        how = "a static token" + (f" of project {args.project}" if args.project else " (admin)")
    else:
        lines = noauth_lines(settings, url)
        how = "no authentication (noauth)"
    out = [f"# pciplane at {url}: {how}"]
    out += [f"export {name}={shlex.quote(value)}" for name, value in lines.items()]
    stale = [name for name in ALL_VARIABLES if name not in lines]
    out.append("unset " + " ".join(stale))
    return "\n".join(out)


def _openrc(args: argparse.Namespace) -> int:
    settings = build_settings(config=Path(args.config) if args.config else None)
    print(openrc(settings, args))
    return 0
