"""Users, bodies and calls shared by the functional tests of the OpenStack-shaped APIs."""

from __future__ import annotations

from typing import Any

import httpx

COMPUTE = "/compute/v2.1"
USERS = {
    "admin": {"password": "admin-pw", "roles": {"admin": "admin"}},
    "alice": {"password": "alice-pw", "roles": {"alpha": "member"}},
    "bob": {"password": "bob-pw", "roles": {"beta": "member"}},
}
IMAGE = "6c1c1c5e-8a8c-4a55-9a57-6d3c6b9a1f00"


def add_image(client: Any, image_id: str = IMAGE, name: str = "cirros") -> None:
    """A small raw image with a fixed id, as the boot source the tests name."""
    answer = client.post(
        "/v1/images",
        params={"name": name, "id": image_id},
        content=b"\0" * 4096,
        headers={
            "Authorization": "Bearer admin-secret",
            "Content-Type": "application/octet-stream",
        },
    )
    answer.raise_for_status()


def password_body(user: str, password: str, project: str | None) -> dict[str, Any]:
    """What keystoneauth sends for password auth (openstack-clients.md §3a)."""
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": user, "domain": {"name": "Default"}, "password": password}
            },
        }
    }
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return {"auth": auth}


def login(client: Any, user: str, project: str | None = None) -> str:
    """A Keystone token for ``user`` on its (first) project."""
    entry = USERS[user]
    scope = project or next(iter(entry["roles"]))  # type: ignore[call-overload]
    answer = client.post(
        "/identity/v3/auth/tokens", json=password_body(user, str(entry["password"]), scope)
    )
    assert answer.status_code == 201, answer.text
    return str(answer.headers["x-subject-token"])


def nova(token: str, version: str | None = "2.47") -> dict[str, str]:
    headers = {"X-Auth-Token": token}
    if version is not None:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return headers


def flavor_body(name: str, /, **extra: object) -> dict[str, Any]:
    """What ``openstack flavor create`` sends (openstack-clients.md §5, step 01)."""
    flavor: dict[str, object] = {
        "name": name,
        "ram": 512,
        "vcpus": 1,
        "disk": 1,
        "id": None,
        "swap": 0,
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "os-flavor-access:is_public": True,
    }
    flavor.update(extra)
    return {"flavor": flavor}


def server_body(name: str, flavor_id: str, /, **extra: object) -> dict[str, Any]:
    """What ``openstack server create --block-device ... --nic none`` sends."""
    server: dict[str, object] = {
        "name": name,
        "imageRef": "",
        "flavorRef": flavor_id,
        "min_count": 1,
        "max_count": 1,
        "networks": "none",
        "block_device_mapping_v2": [
            {
                "uuid": IMAGE,
                "boot_index": 0,
                "source_type": "image",
                "destination_type": "local",
                "delete_on_termination": True,
            }
        ],
    }
    server.update(extra)
    return {"server": server}


def nova_error(answer: httpx.Response, key: str, status: int) -> str:
    """The message of a Nova error body, after checking its shape."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert list(body) == [key], body
    assert body[key]["code"] == status
    return str(body[key]["message"])


def keystone_error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and body["error"]["code"] == status, body
    assert body["error"]["title"]
    return str(body["error"]["message"])


TABLES = (
    "hosts", "devices", "aliases", "flavors", "flavor_extra_specs", "servers", "claims",
    "work_items",
)  # fmt: skip


def db_state(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables a call could change: what "nothing changed" compares."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                t: sorted((tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))), key=repr)
                for t in TABLES
            }
    finally:
        engine.dispose()
