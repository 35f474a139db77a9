"""Settings: declared once, from defaults, a TOML file, the environment and flags, in that
order; anything unknown or ill-typed is an error naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from pciplane.core.errors import ConfigError
from pciplane.service.settings import Settings, Weigher, build_settings


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pciplane.toml"
    path.write_text(text)
    return path


def test_flags_beat_the_environment_beat_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _toml(tmp_path, '[pciplane]\nport = 9000\nweigher = "spread"\nmax_attempts = 5\n')
    monkeypatch.setenv("PCIPLANE_PORT", "9001")
    monkeypatch.setenv("PCIPLANE_PROJECT_TOKENS", '{"tok-a": "alpha"}')
    settings = build_settings(config=config, flags={"port": 9002, "weigher": None})
    assert (settings.port, settings.weigher, settings.max_attempts) == (9002, Weigher.SPREAD, 5)
    assert settings.project_tokens == {"tok-a": "alpha"}


def test_tokens_are_tables_in_the_file(tmp_path: Path) -> None:
    config = _toml(
        tmp_path,
        '[pciplane]\nadmin_token = "adm"\n'
        '[pciplane.project_tokens]\n"tok-a" = "alpha"\n"tok-b" = "beta"\n'
        '[pciplane.agent_tokens]\n"tok-c1" = "compute-1"\n',
    )
    settings = build_settings(config=config)
    assert settings.admin_token == "adm"
    assert settings.project_tokens == {"tok-a": "alpha", "tok-b": "beta"}
    assert settings.agent_tokens == {"tok-c1": "compute-1"}
    assert "adm" not in repr(settings) and "tok-a" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[pciplane]\nprot = 1\n", "setting 'prot': Extra inputs", id="unknown-key"),
        pytest.param("[pciplane]\nport = 99999\n", "setting 'port'", id="port-range"),
        pytest.param('[pciplane]\nport = "eighty"\n', "setting 'port'", id="port-type"),
        pytest.param('[pciplane]\nweigher = "random"\n', "setting 'weigher'", id="choice"),
        pytest.param("[pciplane]\nagent_down_time = 0\n", "setting 'agent_down_time'",
                     id="not-positive"),
        pytest.param("[pciplane]\nproject_tokens = 3\n", "setting 'project_tokens'",
                     id="tokens-not-a-table"),
        pytest.param("[pciplane\n", "not valid TOML", id="bad-toml"),
        pytest.param('[pciplane.keystone_users.a]\npassword = "x"\nroles = {p = "owner"}\n',
                     "setting 'keystone_users.a.roles.p'", id="keystone-role"),
        pytest.param('[pciplane.keystone_users.a]\nroles = {p = "member"}\n',
                     "setting 'keystone_users.a.password'", id="keystone-no-password"),
        pytest.param("[pciplane]\ntoken_expiration = 10\n", "setting 'token_expiration'",
                     id="token-too-short"),
        pytest.param('[pciplane]\npublic_url = "cloud.example"\n', "setting 'public_url'",
                     id="public-url-no-scheme"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_settings(config=_toml(tmp_path, text))


def test_a_bad_environment_variable_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCIPLANE_AGENT_TOKENS", "not json")
    with pytest.raises(ConfigError, match="agent_tokens"):
        build_settings()


def test_with_overrides_validates(tmp_path: Path) -> None:
    settings = Settings.model_validate({"db_url": "sqlite://"})
    assert settings.with_overrides(admin_token="x").admin_token == "x"
    with pytest.raises(ConfigError, match="setting 'claim_retries'"):
        settings.with_overrides(claim_retries=-1)
