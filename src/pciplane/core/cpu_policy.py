"""The guest CPU policies as Nova names them (``hw:cpu_policy``, ``hw:cpu_thread_policy``).

Kept apart from :mod:`pciplane.core.guest` so the fit can use them without importing
the guest plan (which imports the fit).
"""

from __future__ import annotations

import enum


class CpuPolicy(enum.StrEnum):
    """``hw:cpu_policy`` as Nova names it: floating vCPUs, each pinned to its own host
    CPU, or some of each (``hw:cpu_dedicated_mask``)."""

    SHARED = "shared"
    DEDICATED = "dedicated"
    MIXED = "mixed"


class ThreadPolicy(enum.StrEnum):
    """``hw:cpu_thread_policy``, for pinned vCPUs: ``prefer`` any CPUs (sibling threads
    first), ``isolate`` one vCPU per core with its siblings kept free, ``require`` sibling
    threads only (an SMT host)."""

    PREFER = "prefer"
    ISOLATE = "isolate"
    REQUIRE = "require"
