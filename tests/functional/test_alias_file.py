"""The service's alias file (``serve --alias-file``, setting ``alias_file``): a JSON list
of ``[pci] alias`` entries or the operator's nova.conf, read by pciplane.conf."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from svc_helpers import ADMIN, GPU_ALIAS, auth, make_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from pciplane.api.app import create_app
from pciplane.core.errors import AliasError, ConfigError

T4 = {"name": "small_GPU", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"}
NOVA_CONF = f"""\
[DEFAULT]
pci_alias = {json.dumps(GPU_ALIAS)}
[pci]
# the API node's aliases
alias = {{"name": "small_GPU", "vendor_id": "10de",
         "product_id": "1eb8", "device_type": "type-PCI"}}
"""


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("aliases.json", json.dumps([GPU_ALIAS, json.dumps(T4)]), id="json"),
        pytest.param("nova.conf", NOVA_CONF, id="nova.conf"),
    ],
)
def test_alias_file_of_either_kind_loads_on_start(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'a.db'}", alias_file=str(path)))
    with TestClient(app) as client:
        listed = client.get("/v1/aliases", headers=auth(ADMIN)).json()["aliases"]
        reloaded = client.post("/v1/aliases/reload", headers=auth(ADMIN)).json()["aliases"]
    app.state.services.db.dispose()
    assert [a["entry"] for a in listed] == [a["entry"] for a in reloaded] == [GPU_ALIAS, T4]


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        pytest.param('[pci]\nalias = {"name": "a",\n', ConfigError,
                     "[pci] alias value 0: not valid JSON", id="malformed-value"),
        pytest.param('[pci]\nalias = {"name": "a", "device_type": "type-X"}\n', AliasError,
                     "invalid [pci] alias, entry 0", id="bad-entry"),
    ],
)  # fmt: skip
def test_bad_nova_conf_stops_the_start_naming_the_file(
    tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    path = tmp_path / "nova.conf"
    path.write_text(text)
    with pytest.raises(error) as info:
        create_app(make_settings(f"sqlite:///{tmp_path / 'a.db'}", alias_file=str(path)))
    assert str(info.value).startswith(f"nova.conf file {path}: ")
    assert message in str(info.value)
