"""Checking XML against libvirt's own RelaxNG schemas with ``virt-xml-validate``.

``virt-xml-validate`` ships with libvirt (Debian ``libvirt-clients``, using ``xmllint``
from ``libxml2-utils``) and validates against the schemas the installed libvirt uses, so
a document it accepts is one libvirt's parser was written for. A device snippet is not
a document of any schema: it is checked wrapped in a minimal domain.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from pciplane.core.errors import HypervisorError

VALIDATOR = "virt-xml-validate"

_MINIMAL_DOMAIN = """<domain type="kvm">
  <name>schema-check</name>
  <memory unit="MiB">64</memory>
  <os><type>hvm</type></os>
  <devices/>
</domain>
"""


def validator_available() -> bool:
    return shutil.which(VALIDATOR) is not None


def validate(xml: str, schema: str = "domain") -> None:
    """Raise :class:`HypervisorError` with the validator's message unless ``xml`` is valid."""
    exe = shutil.which(VALIDATOR)
    if exe is None:
        raise HypervisorError(
            f"{VALIDATOR} is not installed (Debian packages libvirt-clients and "
            "libxml2-utils; scripts/ensure-system-packages installs them)"
        )
    with tempfile.TemporaryDirectory(prefix="pciplane-xml-") as tmp:
        path = Path(tmp) / f"{schema}.xml"
        path.write_text(xml, encoding="utf-8")
        result = subprocess.run(
            [exe, str(path), schema], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().replace(str(path), "<xml>")
        raise HypervisorError(f"XML is not a valid libvirt {schema}: {detail}")


def wrap_device(device_xml: str) -> str:
    """A minimal valid domain holding one device element, so the device can be checked."""
    try:
        device = ET.fromstring(device_xml)
    except ET.ParseError as exc:
        raise HypervisorError(f"device XML does not parse: {exc}") from exc
    root = ET.fromstring(_MINIMAL_DOMAIN)
    devices = root.find("devices")
    assert devices is not None
    devices.append(device)
    return ET.tostring(root, encoding="unicode")


def validate_device(device_xml: str) -> None:
    """Validate one ``<hostdev>`` or ``<interface>`` element inside a minimal domain."""
    validate(wrap_device(device_xml), "domain")
