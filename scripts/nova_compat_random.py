"""Random small hosts and requests for scripts/nova_compat.py, to fish for disagreements.

Hosts mix GPUs and NICs whose PFs carry 0-3 VFs, some taken, NUMA nodes 0, 1, 2 or
none, and device specs that allow the VFs, the PF, both, the PF by literal address
(§1.4.3) or by devname (§1.4.4), with physnet and trusted tags. Requests mix aliases
(with and without device_type), ports (direct, macvtap, direct-physical, some with
``trusted``), NUMA cells and policies. Deterministic for a seed::

    python3 scripts/nova_compat_random.py --seed 2 --hosts 300 --requests 400 \\
        --out-fleet /tmp/rand2.json --out-requests /tmp/randreq2.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

NETS = ["physnet1", "physnet2"]
NUMA_LAYOUTS = [
    [{"id": 0, "socket": 0}, {"id": 1, "socket": 1}],
    [{"id": 0, "socket": 0}, {"id": 1, "socket": 0}, {"id": 2, "socket": 1}],
    [{"id": 0}, {"id": 1}],
]
ALIASES = [
    {"name": "large_GPU", "vendor_id": "10de", "product_id": "20b5",
     "device_type": "type-PCI", "numa_policy": "required"},
    {"name": "small_GPU", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"},
    {"name": "any_GPU", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"},
    {"name": "any_GPU", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"},
    {"name": "lm_GPU", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI",
     "live_migratable": "true"},
    {"name": "nic_VF", "vendor_id": "8086", "product_id": "1889", "device_type": "type-VF"},
    {"name": "nic_PF", "vendor_id": "8086", "product_id": "1592", "device_type": "type-PF"},
    {"name": "nic_any", "vendor_id": "8086", "product_id": "1889"},
]  # fmt: skip
SPEC_KINDS = ["vfs", "pf", "both", "pfaddr", "devname", "none"]


def _numa(rnd: random.Random) -> int | None:
    return rnd.choice([0, 0, 1, 1, None, 2])


def _gpus(rnd: random.Random) -> list[dict[str, object]]:
    return [
        {"address": f"0000:{0x10 + g:02x}:00.0", "vendor_id": "10de",
         "product_id": rnd.choice(["20b5", "1eb8"]), "dev_type": "type-PCI",
         "numa_node": _numa(rnd), "status": rnd.choice(["available"] * 4 + ["allocated"])}
        for g in range(rnd.randint(0, 3))
    ]  # fmt: skip


def _nic(rnd: random.Random, p: int) -> tuple[list[dict[str, object]], dict[str, object] | None]:
    """One PF with its VFs and statuses that agree (§2.4), and the spec entry for it."""
    bus = 0x40 + p
    pfa, numa, nvf = f"0000:{bus:02x}:00.0", _numa(rnd), rnd.randint(0, 3)
    statuses = [rnd.choice(["available"] * 3 + ["allocated"]) for _ in range(nvf)]
    vf_used = any(s != "available" for s in statuses)
    pf_used = rnd.random() < 0.15 and not vf_used
    pf_status = "allocated" if pf_used else "unavailable" if vf_used else "available"
    if pf_used:
        statuses = ["unavailable"] * nvf
    prod_pf = rnd.choice(["1592", "1592", "1889"])
    devs: list[dict[str, object]] = [
        {"address": pfa, "vendor_id": "8086", "product_id": prod_pf, "dev_type": "type-PF",
         "numa_node": numa, "devname": f"e{p}", "status": pf_status}
    ]  # fmt: skip
    devs += [
        {"address": f"0000:{bus:02x}:02.{v}", "vendor_id": "8086", "product_id": "1889",
         "dev_type": "type-VF", "numa_node": numa, "parent_addr": pfa,
         "parent_ifname": f"e{p}", "status": statuses[v]}
        for v in range(nvf)
    ]  # fmt: skip
    tags: dict[str, object] = {"physical_network": rnd.choice(NETS)}
    kind = rnd.choice(SPEC_KINDS)
    if rnd.random() < 0.3:
        tags["trusted"] = rnd.choice(["true", "false", True])
    entry: dict[str, object] | None = {
        "vfs": {"vendor_id": "8086", "product_id": "1889", "address": f"0000:{bus:02x}:02.*"},
        "pf": {"vendor_id": "8086", "product_id": prod_pf, "address": pfa},
        "both": {"vendor_id": "8086", "address": f"0000:{bus:02x}:*.*"},
        "pfaddr": {"address": pfa},
        "devname": {"devname": f"e{p}"},
    }.get(kind)
    return devs, None if entry is None else {**entry, **tags}


def host(rnd: random.Random, i: int) -> dict[str, object]:
    layout = rnd.choice(NUMA_LAYOUTS)
    devs, spec = _gpus(rnd), []
    for p in range(rnd.randint(0, 3)):
        nic_devs, entry = _nic(rnd, p)
        devs += nic_devs
        if entry is not None:
            spec.append(entry)
    if rnd.random() < 0.8:
        spec.append(
            {"vendor_id": "10de", **({"live_migratable": "yes"} if rnd.random() < 0.2 else {})}
        )
    rnd.shuffle(spec)
    return {"name": f"r{i:04d}", "numa_nodes": layout, "device_spec": spec, "devices": devs}


def request(rnd: random.Random, j: int) -> dict[str, object]:
    names = ["large_GPU", "small_GPU", "any_GPU", "lm_GPU", "nic_VF", "nic_PF", "nic_any"]
    r: dict[str, object] = {"name": f"q{j}"}
    items = [f"{rnd.choice(names)}:{rnd.randint(1, 3)}" for _ in range(rnd.choice([0, 0, 1, 1, 2]))]
    if items:
        r["alias"] = ",".join(items)
    ports = []
    for _ in range(rnd.choice([0, 0, 1, 2, 3])):
        net = rnd.choice(NETS)
        vnic = rnd.choice(["direct", "direct", "macvtap", "direct-physical"])
        port: dict[str, object] = {"physical_network": net, "vnic_type": vnic}
        if rnd.random() < 0.2:
            port["trusted"] = rnd.choice([True, False])
        ports.append(port)
    if ports:
        r["ports"] = ports
    if not items and not ports:
        r["alias"] = "any_GPU:1"
    if rnd.random() < 0.7:
        r["numa_cells"] = rnd.choice([[0], [1], [0, 1], [2]])
    if rnd.random() < 0.8:
        r["numa_policy"] = rnd.choice(["required", "legacy", "preferred", "socket"])
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--out-fleet", required=True)
    parser.add_argument("--out-requests", required=True)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    hosts = [host(rnd, i) for i in range(args.hosts)]
    fleet = {"format": "pciplane-fleet/1", "alias": ALIASES, "hosts": hosts}
    Path(args.out_fleet).write_text(json.dumps(fleet))
    reqs = [request(rnd, j) for j in range(args.requests)]
    Path(args.out_requests).write_text(json.dumps(reqs))


if __name__ == "__main__":
    main()
