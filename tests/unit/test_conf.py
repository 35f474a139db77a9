"""pciplane.conf: the JSON reader, nova.conf's [pci] section, and which a file is.

The nova.conf files are real INI files in tmp_path, read through oslo.config as Nova
reads them (nova-pci-semantics §1.1, §1.2): repeated keys, continuation lines,
comments, the deprecated option names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pciplane.conf.json_file import read_json
from pciplane.conf.nova_conf import read_allocation_options, read_pci_section
from pciplane.conf.pci_entries import (
    FileKind,
    file_kind,
    load_alias_entries,
    load_device_specs,
    read_entries_file,
    read_nova_conf,
)
from pciplane.core.errors import AliasError, ConfigError, DeviceSpecError

NOVA_CONF = """\
[DEFAULT]
# nova.conf keeps much more than [pci]; it is all ignored here
debug = true
pci_passthrough_whitelist = {"vendor_id": "1111", "product_id": "0001"}
pci_alias = {"name": "old", "vendor_id": "10de", "product_id": "1eb8"}

[pci]
; a comment in the other style
device_spec = {"vendor_id": "8086",
  "product_id": "154c",
  "physical_network": "physnet1"}
device_spec = [{"vendor_id": "10de", "product_id": "20b5"},
               {"address": "0000:0a:00.*", "physical_network": "physnet2"}]
passthrough_whitelist = {"vendor_id": "2222", "product_id": "0002"}
alias = {"name": "a100", "vendor_id": "10de", "product_id": "20b5"}
alias = {"name": "t4",
         "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"}

[libvirt]
virt_type = kvm
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- one JSON reader ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "cannot read: No such file or directory", id="missing"),
        pytest.param('[\n  {"a": 1},\n  {"b": }\n]', "not valid JSON: Expecting value (line 3, "
                     "column 9)", id="syntax"),
        pytest.param("[1, 2", "not valid JSON: Expecting ',' delimiter (line 1, column 6)",
                     id="truncated"),
        pytest.param("[" * 100_000, "nested too deeply", id="deep"),
        pytest.param(b"\xff\xfe", "not UTF-8 text", id="binary"),
    ],
)  # fmt: skip
def test_json_errors_name_the_file_line_and_column(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "doc.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        read_json(path, "fleet")
    assert str(info.value).startswith(f"fleet file {path}: ")
    assert message in str(info.value)


def test_json_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: Is a directory"):
        read_json(tmp_path, "requests")


# --- nova.conf ------------------------------------------------------------------------


def test_nova_conf_pci_section_as_nova_reads_it(tmp_path: Path) -> None:
    section = read_pci_section(write(tmp_path, "nova.conf", NOVA_CONF))
    # oslo.config gives the deprecated names' values first, then the current name's.
    assert section.device_spec == (
        {"vendor_id": "1111", "product_id": "0001"},
        {"vendor_id": "2222", "product_id": "0002"},
        {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"},
        [
            {"vendor_id": "10de", "product_id": "20b5"},
            {"address": "0000:0a:00.*", "physical_network": "physnet2"},
        ],
    )
    assert [a["name"] for a in section.alias] == ["old", "a100", "t4"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "device_spec", "alias"),
    [
        pytest.param("[DEFAULT]\ndebug = true\n", (), (), id="no-pci-section"),
        pytest.param("[pci]\n", (), (), id="empty-section"),
        pytest.param('[pci]\ndevice_spec = []\n', ([],), (), id="empty-list-value"),
        pytest.param('[pci]\npassthrough_whitelist = {"vendor_id": "8086"}\n',
                     ({"vendor_id": "8086"},), (), id="deprecated-pci-passthrough_whitelist"),
        pytest.param('[DEFAULT]\npci_passthrough_whitelist = {"vendor_id": "8086"}\n',
                     ({"vendor_id": "8086"},), (), id="deprecated-DEFAULT-passthrough_whitelist"),
        pytest.param('[DEFAULT]\npci_alias = {"name": "a"}\n', (), ({"name": "a"},),
                     id="deprecated-DEFAULT-pci_alias"),
        pytest.param('[pci]\n# device_spec = {"vendor_id": "dead"}\n'
                     'device_spec = {"vendor_id": "8086"}\n', ({"vendor_id": "8086"},), (),
                     id="commented-out-value"),
        pytest.param('[pci]\ndevice_spec = {"vendor_id":\n    "8086"}\n', ({"vendor_id": "8086"},),
                     (), id="continuation-line"),
    ],
)  # fmt: skip
def test_nova_conf_values(
    tmp_path: Path, text: str, device_spec: tuple[object, ...], alias: tuple[object, ...]
) -> None:
    section = read_pci_section(write(tmp_path, "nova.conf", text))
    assert (section.device_spec, section.alias) == (device_spec, alias)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('[pci]\ndevice_spec = {"vendor_id": "8086"}\ndevice_spec = {"vendor_id": 80\n',
                     "[pci] device_spec value 1: not valid JSON: Expecting ',' delimiter "
                     "(line 1, column 17 of the value", id="malformed-second-value"),
        pytest.param('[pci]\nalias = {"name": "a"}\nalias = {"name": "b"}\nalias = {name: c}\n',
                     "[pci] alias value 2: not valid JSON: Expecting property name",
                     id="malformed-alias-value"),
        pytest.param('[DEFAULT]\npci_alias = [{"name": "a"}]\n',
                     "[pci] alias value 0: expected one JSON object, got list (Nova §1.8)",
                     id="alias-list"),
        pytest.param('[pci]\ndevice_spec = 8086\n',
                     "[pci] device_spec value 0: expected a JSON object or a list of objects, "
                     "got int", id="device-spec-number"),
        pytest.param("[pci]\nthis line is no assignment\n",
                     "not an INI file: at ", id="not-ini"),
        pytest.param('device_spec = {}\n', "Section must be started before assignment",
                     id="no-section"),
    ],
)  # fmt: skip
def test_nova_conf_errors_name_file_option_and_index(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "nova.conf", text)
    with pytest.raises(ConfigError) as info:
        read_pci_section(path)
    assert str(info.value).startswith(f"nova.conf file {path}: ")
    assert message in str(info.value)


def test_missing_nova_conf(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_nova_conf(tmp_path / "nope.conf")


@pytest.mark.parametrize("read", [read_pci_section, read_allocation_options])
@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("nope.conf", "cannot read: no such readable file", id="missing"),
        pytest.param(".", "cannot read: Is a directory", id="directory"),
    ],
)
def test_both_nova_conf_readers_name_an_unreadable_file(
    tmp_path: Path, read: Callable[[Path], object], name: str, message: str
) -> None:
    path = tmp_path / name
    with pytest.raises(ConfigError) as info:
        read(path)
    assert str(info.value) == f"nova.conf file {path}: {message}"


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        pytest.param('[pci]\ndevice_spec = {"vendor_id": "8086"}\n'
                     'device_spec = {"vendor_id": "XYZ"}\n',
                     DeviceSpecError, "invalid [pci] device_spec, entry 1", id="device-spec"),
        pytest.param('[pci]\nalias = {"name": "a", "vendor_id": "10de", "product_id": "1eb8",'
                     ' "foo": 1}\n', AliasError, "invalid [pci] alias, entry 0", id="alias"),
    ],
)  # fmt: skip
def test_entry_errors_keep_their_class_and_name_the_file(
    tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    path = write(tmp_path, "nova.conf", text)
    entries = read_nova_conf(path)
    with pytest.raises(error) as info:
        entries.device_specs() if error is DeviceSpecError else entries.aliases()
    assert str(info.value).startswith(f"nova.conf file {path}: {message}")


# --- which kind a file is -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        pytest.param("spec.json", "[pci]\n", FileKind.JSON, id="json-by-name"),
        pytest.param("nova.conf", "[]", FileKind.NOVA_CONF, id="conf-by-name"),
        pytest.param("pci.ini", "[]", FileKind.NOVA_CONF, id="ini-by-name"),
        pytest.param("spec", '[{"vendor_id": "8086"}]', FileKind.JSON, id="json-list"),
        pytest.param("spec", '[\n  "{\\"a\\": 1}"\n]', FileKind.JSON, id="json-list-of-strings"),
        pytest.param("spec", "[]", FileKind.JSON, id="empty-json-list"),
        pytest.param("spec", "\n\n[pci]\ndevice_spec = {}\n", FileKind.NOVA_CONF, id="pci-header"),
        pytest.param("spec", "[DEFAULT]\n", FileKind.NOVA_CONF, id="default-header"),
        pytest.param("spec", "# comment\n[pci]\n", FileKind.NOVA_CONF, id="hash-comment"),
        pytest.param("spec", "; comment\n", FileKind.NOVA_CONF, id="semicolon-comment"),
        pytest.param("spec", "{", FileKind.JSON, id="broken-json-stays-json"),
    ],
)
def test_file_kind(name: str, text: str, kind: FileKind) -> None:
    assert file_kind(Path(name), text) is kind


def test_json_file_must_hold_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, "spec.json", '{"vendor_id": "8086"}')
    with pytest.raises(ConfigError, match=r"expected a JSON list of \[pci\] device_spec entries"):
        load_device_specs(path)


def test_alias_file_of_either_kind(tmp_path: Path) -> None:
    a100 = {"name": "a100", "vendor_id": "10de", "product_id": "20b5"}
    as_json = write(tmp_path, "alias.json", json.dumps([a100, json.dumps(a100 | {"name": "b"})]))
    as_conf = write(tmp_path, "alias", f"[pci]\nalias = {json.dumps(a100)}\n"
                    f"alias = {json.dumps(a100 | {'name': 'b'})}\n")  # fmt: skip
    assert (
        load_alias_entries(as_json) == load_alias_entries(as_conf) == [a100, a100 | {"name": "b"}]
    )


# --- the same entries, from JSON and from nova.conf -----------------------------------

_ids = st.sampled_from(["8086", "10de", "15b3", "*", "ABCD", "0x10"])
_spec_objects = st.fixed_dictionaries(
    {},
    optional={
        "vendor_id": _ids,
        "product_id": _ids,
        "address": st.sampled_from(["", "*:0a:00.*", "0000:3b:02.1", "1", "*"]),
        "physical_network": st.sampled_from(["physnet1", "physnet2", None]),
        "trusted": st.sampled_from(["yes", "true", "false", True, False]),
        "label": st.text(alphabet="abc xyz#;=[]{}\"'\\", max_size=8),
    },
)
_spec_entries = st.lists(
    st.one_of(_spec_objects, st.lists(_spec_objects, max_size=3)), min_size=0, max_size=5
)
_alias_entries = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["a", "b", "big GPU"]),
            "vendor_id": st.sampled_from(["10de", "10DE"]),
            "product_id": st.sampled_from(["20b5", "1eb8"]),
            "device_type": st.just("type-PCI"),
        },
        optional={"numa_policy": st.just("required")},
    ),
    max_size=1,
)


def _nova_conf_text(specs: list[object], aliases: list[object]) -> str:
    """The entries as an operator writes them: one line each, long ones continued."""
    lines = ["[DEFAULT]", "# generated", "", "[pci]"]
    for entry in specs:
        text = json.dumps(entry, indent=1 if isinstance(entry, list) else None)
        lines.append("device_spec = " + text.replace("\n", "\n    "))
    lines += [f"alias = {json.dumps(a)}" for a in aliases]
    return "\n".join(lines) + "\n"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=_spec_entries, aliases=_alias_entries)
def test_json_and_nova_conf_parse_alike(
    tmp_path: Path, specs: list[object], aliases: list[object]
) -> None:
    as_json = write(tmp_path, "spec.json", json.dumps(specs))
    as_conf = write(tmp_path, "nova.conf", _nova_conf_text(specs, aliases))
    alias_json = write(tmp_path, "alias.json", json.dumps(aliases))
    from_json = read_entries_file(as_json, "device_spec")
    from_conf = read_nova_conf(as_conf)
    assert from_conf.device_spec_raw == from_json.device_spec_raw
    assert from_conf.device_specs() == from_json.device_specs()
    assert from_conf.aliases() == read_entries_file(alias_json, "alias").aliases()
