"""`make run ARGS=--once`: the whole product on one machine, a push deployed end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .test_local_stop import _port_base

ROOT = Path(__file__).resolve().parents[2]


def test_local_up_once_deploys_promotes_and_waits_for_prod_approval(tmp_path: Path) -> None:
    # Free ports and a folder of its own (make run's defaults are 7071/7081/7443 and .local/).
    env = {**os.environ, "DATAOPS_LOCAL_DIR": str(tmp_path / "local")}
    out = subprocess.run([sys.executable, "-m", "shared.cli", "local", "up", "--once", "--port-base",
                          str(_port_base())], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert "every step succeeded" in text
    # The routes need the function key, as in Azure: make run reads it from the host's storage and prints it.
    key = re.search(r"function key \(default host key; send it as x-functions-key or \?code=\): (\S+)", text)
    assert key and len(key.group(1)) == 56, text[-4000:]
    assert re.search(r"dashboard:\s+http://localhost:\d+/api/dashboard\?code=\S+%3D%3D", text)
    # Four webhooks accepted (first push of both branches, then a change on each), as GitHub sees it.
    assert len(re.findall(r"POST /api/hooks/github: 202 queued", text)) == 4
    # Notebooks and factory objects deployed to dev and promoted to test ...
    for env in ("dev", "test"):
        assert re.search(rf"-{env}-notebooks-\w+\s+{env}/notebooks\s+succeeded", text), env
        assert re.search(rf"-{env}-adf-\w+\s+{env}/adf\s+succeeded", text), env
    # Per-object results (the first 12 of the 14 notebooks, in the order they were imported: any of them).
    assert re.search(r"succeeded  notebook: /Shared/dev/data-platform/\w+/\w+", text), text[-4000:]
    assert "succeeded  pipeline: pl_daily_load" in text
    # The change is deployed incrementally: one notebook, one trigger stopped and restarted.
    assert "plan: unchanged 12, update 1" in text
    assert "update    succeeded  notebook: /Shared/dev/data-platform/transform/clean_sales" in text
    assert "stop      succeeded  trigger: tr_daily_0600" in text
    # The verification gate: the smoke notebook ran in test (a one-time job run) before prod was promoted to.
    assert re.search(r"verify    succeeded  check: smoke \(databricks_notebook, passed, [\d.]+ s, run \d+\)", text)
    assert len(re.findall(r"check: smoke", text)) == 2  # once per notebook deployment to test
    # ... and prod waits for a person.
    assert re.search(r"prod/adf\s+waiting_approval", text)
    assert re.search(r"prod/notebooks\s+waiting_approval", text)
    # A feature branch push creates its own folder, owned by the pusher; the merge into main removes it.
    folder = "/Users/dana@contoso.example/branches/feature-clean-sales-v2"
    assert f"branch workspace feature/clean-sales-v2: folder {folder} created, owner dana@contoso.example" in text
    assert f"branch workspace feature/clean-sales-v2: folder {folder} removed (merged" in text
    # The history table and the metrics were printed.
    assert "Deployment history" in text and '"deployment_frequency"' in text
    # make run shows traces without any cloud: the span tree of a deployment from .local/traces.jsonl.
    assert re.search(r"\n\s+SYNC dataops-\w+\s+[\d.]+ ms .*cicd.pipeline.result=success", text)
