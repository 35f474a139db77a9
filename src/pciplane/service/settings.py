"""The service's typed settings: each declared once, with its type, default and help.

Sources, later ones winning: the defaults here, a TOML file (``serve --config``, its
``[pciplane]`` table or top level), the environment (``PCIPLANE_<NAME>``; tables and
lists as JSON), then command-line flags. An unknown key or a value of the wrong type is
a :class:`ConfigError` naming the setting and where it came from. Built once at the entry
point and passed down; core functions never see it (DESIGN.md, "Rings").
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from pciplane.core.binding import sriov_nic_switch
from pciplane.core.errors import ConfigError, RequestError
from pciplane.core.request import parse_vnic_type

ENV_PREFIX = "PCIPLANE_"


class Weigher(enum.StrEnum):
    """How hosts that fit are ordered: fill the fullest first, or the emptiest first."""

    PACK = "pack"
    SPREAD = "spread"


LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class KeystoneRole(enum.StrEnum):
    """The Keystone roles pciplane knows: ``admin`` acts for every project (pciplane's admin
    scope), ``member`` for its own project only (pciplane's project scope)."""

    ADMIN = "admin"
    MEMBER = "member"


class KeystoneUser(BaseModel):
    """A user of the Keystone v3 subset: a password and a role in each of its projects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    password: SecretStr = Field(description="the password 'POST /v3/auth/tokens' checks")
    roles: dict[Annotated[str, Field(min_length=1, max_length=255)], KeystoneRole] = Field(
        description="PROJECT = admin|member: the projects the user may scope a token to"
    )


def default_data_dir() -> Path:
    """The user's data directory, where the default SQLite database lives too."""
    return Path(platformdirs.user_data_dir("pciplane"))


def default_db_url() -> str:
    """A SQLite file in the user's data directory: embedded, nothing to install."""
    data = Path(platformdirs.user_data_dir("pciplane"))
    return f"sqlite:///{data / 'pciplane.db'}"


#: The TOML file ``build_settings`` reads, for the source below.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("pciplane_config_file", default=None)


class _TomlFile(PydanticBaseSettingsSource):
    """The ``[pciplane]`` table (or the top level) of the file ``--config`` names."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ is used instead

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_FILE.get()
        if path is None:
            return {}
        try:
            doc = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the settings file: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        table = doc.get("pciplane", doc)
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [pciplane] must be a table")
        return dict(table)


#: The drivers pciplane has, in ML2's configuration order.
MECHANISM_DRIVERS = ("sriovnicswitch", "openvswitch")


def _vnic_type(value: str) -> str:
    try:
        return str(parse_vnic_type(value))
    except RequestError as exc:
        raise ValueError(str(exc)) from None


def _drivers(value: list[str]) -> list[str]:
    unknown = [d for d in value if d not in MECHANISM_DRIVERS]
    if unknown or not value or len(set(value)) != len(value):
        raise ValueError(
            f"expected some of {', '.join(MECHANISM_DRIVERS)}, each once, got {value!r}"
        )
    return value


def _prohibit(value: list[str]) -> list[str]:
    """Checked as Neutron's SR-IOV driver checks it when it starts (binding §2 step 8)."""
    try:
        sriov_nic_switch(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return value


class Settings(BaseSettings):
    """Everything the service reads from its configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True
    )

    db_url: str = Field(
        default_factory=default_db_url,
        description="database URL: sqlite:///FILE (default: in the user's data directory) "
        "or postgresql+psycopg://USER@HOST/DB for several API processes",
    )
    bind_host: str = Field("127.0.0.1", description="address serve listens on")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(8774, description="port serve listens on")
    admin_token: str | None = Field(
        None, repr=False, description="the admin's bearer token (generated and printed if unset)"
    )
    project_tokens: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="bearer tokens of projects, TOKEN = PROJECT; a project sees only its servers",
    )
    agent_tokens: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="bearer tokens of host agents, TOKEN = HOST; an agent reports only its host",
    )
    keystone_users: dict[Annotated[str, Field(min_length=1, max_length=255)], KeystoneUser] = Field(
        default_factory=dict,
        repr=False,
        description="users of the Keystone v3 subset (/identity), NAME = {password, roles = "
        "{PROJECT = admin|member}}; their tokens work on the OpenStack APIs and on /v1",
    )
    token_expiration: Annotated[int, Field(ge=60, le=7 * 86400)] = Field(
        3600, description="seconds a Keystone token stays valid (Keystone's [token] expiration)"
    )
    token_key: SecretStr | None = Field(
        None,
        description="key that signs Keystone tokens, the same in every API process sharing "
        "the database (default: derived from admin_token, which they share already)",
    )
    noauth: bool = Field(
        False,
        description="accept the literal token 'notused' that the openstack clients send with "
        "auth_type none, as the admin; only on a trusted network (Nova's noauth2)",
    )
    public_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] | None = Field(
        None,
        description="base URL the OpenStack catalog and version documents give clients "
        "(default: built from each request's Host header); set it behind a proxy",
    )
    region_name: Annotated[str, Field(min_length=1, max_length=255)] = Field(
        "RegionOne", description="the region of every endpoint in the OpenStack service catalog"
    )
    weigher: Weigher = Field(
        Weigher.PACK, description="order of hosts that fit: pack (fullest first) or spread"
    )
    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="hosts tried per server before it goes to ERROR (Nova's max_attempts)"
    )
    claim_retries: Annotated[int, Field(ge=0, le=1000)] = Field(
        20, description="claim retries after losing a race to another API process"
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        1 << 20, description="largest request body accepted (bytes)"
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="directory of the service's files: image files under images/ (shared "
        "by every API process that serves image uploads and downloads)",
    )
    max_image_bytes: Annotated[int, Field(ge=1024)] = Field(
        64 << 30, description="largest image file 'image create' accepts (bytes)"
    )
    device_spec: list[JsonValue] = Field(
        default_factory=list,
        description="fleet-wide [pci] device_spec entries for hosts whose agent reports none",
    )
    alias_file: Path | None = Field(
        None,
        description="[pci] alias entries (a JSON list, or a nova.conf); when set it is the "
        "only source of aliases: loaded at start and by 'alias reload', and the API "
        "refuses to create or delete aliases",
    )
    agent_down_time: Annotated[float, Field(gt=0)] = Field(
        75.0,
        description="seconds after an agent's last report before its host counts as down "
        "and is not scheduled (Neutron's agent_down_time)",
    )
    build_timeout: Annotated[float, Field(gt=0)] = Field(
        300.0,
        description="seconds a start may wait for its host's agent before the server is "
        "rescheduled or goes to ERROR with its devices freed (Nova's instance_build_timeout)",
    )
    housekeeping_interval: Annotated[float, Field(gt=0)] = Field(
        10.0,
        description="seconds between the service's checks for expired starts and servers "
        "left half-created by a process that died",
    )
    default_vnic_type: Annotated[str, AfterValidator(_vnic_type)] = Field(
        "normal",
        description="binding:vnic_type of the port a server's '--nic net-id=...' entry "
        "creates when the entry names none",
    )
    mechanism_drivers: Annotated[list[str], AfterValidator(_drivers)] = Field(
        default_factory=lambda: list(MECHANISM_DRIVERS),
        description="ML2's mechanism drivers, tried in this order to bind a port: "
        "sriovnicswitch (SR-IOV vnic types) and openvswitch (normal ports)",
    )
    vnic_type_prohibit_list: Annotated[list[str], AfterValidator(_prohibit)] = Field(
        default_factory=list,
        description="[SRIOV_DRIVER] vnic_type_prohibit_list: vnic types the SR-IOV driver "
        "declines (direct, macvtap, direct-physical, accelerator-direct; not all four)",
    )
    global_physnet_mtu: Annotated[int, Field(ge=68, le=65535)] = Field(
        1500, description="MTU of new networks (Neutron's global_physnet_mtu)"
    )
    attach_timeout: Annotated[float, Field(gt=0)] = Field(
        60.0,
        description="seconds 'server add port' and 'remove port' wait for the host's agent "
        "to hot-plug before answering",
    )
    quota_instances: Annotated[int, Field(ge=-1)] = Field(
        10,
        description="servers per project unless 'quota set' says otherwise; -1 unlimited "
        "(Nova's [quota] instances)",
    )
    quota_cores: Annotated[int, Field(ge=-1)] = Field(
        20, description="vCPUs per project; -1 unlimited (Nova's [quota] cores)"
    )
    quota_ram: Annotated[int, Field(ge=-1)] = Field(
        51200, description="RAM per project in MiB; -1 unlimited (Nova's [quota] ram)"
    )
    quota_pci_devices: dict[
        Annotated[str, Field(min_length=1, max_length=255)], Annotated[int, Field(ge=-1)]
    ] = Field(
        default_factory=dict,
        description="PCI devices per project for each alias, ALIAS = N; an alias not "
        "named is unlimited",
    )
    quota_sriov_ports: dict[
        Annotated[str, Field(min_length=1, max_length=255)], Annotated[int, Field(ge=-1)]
    ] = Field(
        default_factory=dict,
        description="SR-IOV ports per project on each physical network, PHYSNET = N; a "
        "physical network not named is unlimited",
    )
    migrate_on_start: bool = Field(True, description="apply database migrations on start")
    log_level: LogLevel = Field("info", description="log level of serve")
    access_log: bool = Field(
        False,
        description="log every HTTP request (each agent's poll too, one line every "
        "couple of seconds per host)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFile(settings_cls))

    def agent_alive(self, seen: float | None, now: float) -> bool:
        """An agent last seen at ``seen`` counts as alive at ``now`` (``agent_down_time``)."""
        return seen is not None and now - seen <= self.agent_down_time

    def with_overrides(self, **values: object) -> Settings:
        """A copy with these settings changed, validated like any other source."""
        return _validated(lambda: type(self).model_validate({**self.model_dump(), **values}))


def _validated(make: Any) -> Settings:
    try:
        settings: Settings = make()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
            problems.append(f"setting {where!r}: {err.get('msg', 'invalid')}")
        raise ConfigError("; ".join(problems)) from None
    except SettingsError as exc:  # a variable that does not parse (not JSON, say)
        raise ConfigError(f"settings: {exc}") from None
    return settings


def build_settings(
    *, config: Path | None = None, flags: Mapping[str, object] | None = None
) -> Settings:
    """Defaults, then the TOML file, then the environment, then the flags (None: unset)."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    token = _CONFIG_FILE.set(config)
    try:
        return _validated(lambda: Settings(**given))  # type: ignore[arg-type]
    finally:
        _CONFIG_FILE.reset(token)


def describe_settings() -> str:
    """Every setting with its environment variable, default and help (``serve --help``)."""
    lines = ["settings (TOML key = environment variable PCIPLANE_<KEY>):"]
    for name, info in Settings.model_fields.items():
        default = "(generated)" if name == "admin_token" else _default(info)
        lines.append(f"  {name} [{ENV_PREFIX}{name.upper()}] default {default}")
        lines.append(f"      {info.description}")
    return "\n".join(lines)


def _default(info: FieldInfo) -> str:
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if isinstance(value, enum.Enum):
        value = value.value
    return repr(value) if value not in (None, {}, []) else "unset"
