"""Several API processes sharing PROMETHEUS_MULTIPROC_DIR: each one's /metrics reports
the sum of every process's counters (prometheus_client's multiprocess mode)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from load_helpers import (
    ADMIN,
    FLAVOR,
    GPU_ALIAS,
    PROJECT_TOKEN,
    agent_token,
    auth,
    host_body,
    service_env,
    start_api,
)
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


def _placed(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pciplane_schedule_total" and sample.labels == {"outcome": "placed"}:
                return sample.value
    return 0.0


def test_every_process_reports_the_sum(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'm.db'}"
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {**service_env(db_url, ["cmp1"]), "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    apis = [start_api(db_url, env, tmp_path / f"api{i}.log") for i in range(2)]
    try:
        admin = auth(ADMIN)
        httpx.post(f"{apis[0].url}/v1/aliases", json=GPU_ALIAS, headers=admin).raise_for_status()
        httpx.post(f"{apis[0].url}/v1/flavors", json=FLAVOR, headers=admin).raise_for_status()
        httpx.put(f"{apis[0].url}/v1/hosts/cmp1", json=host_body("cmp1", 4),
                  headers=auth(agent_token("cmp1"))).raise_for_status()  # fmt: skip
        for k, api in enumerate([*apis, apis[1]]):
            body = {"name": f"vm{k}", "flavor": "g1"}
            made = httpx.post(f"{api.url}/v1/servers", json=body, headers=auth(PROJECT_TOKEN))
            assert made.json()["state"] == "BUILD"
        assert [_placed(api.url) for api in apis] == [3.0, 3.0]
    finally:
        for api in apis:
            api.stop()
