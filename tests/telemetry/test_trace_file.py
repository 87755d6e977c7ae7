"""``make run`` shows traces without any cloud: the dev host writes spans to ``DATAOPS_TRACE_FILE`` and
``dataops audit show ID --trace`` prints the deployment's span tree from it (as the local stack does)."""

from __future__ import annotations

import secrets
import subprocess
import sys

from .helpers import NOTEBOOKS, ROOT, dev_host, wait


def test_dev_host_trace_file_and_audit_show_trace(tmp_path, azurite, unique_prefix, databricks_standin):
    trace_file = tmp_path / "traces.jsonl"
    with dev_host(tmp_path, azurite, unique_prefix, databricks_standin, ("dev",),
                  {"DATAOPS_TRACE_FILE": str(trace_file)}) as stack:
        sha = stack.repo.commit(NOTEBOOKS)
        status, answer = stack.push(sha, secrets.token_hex(16))
        assert status == 202
        (deployment,) = stack.settled(sha, ("dev",))
        def shown() -> str | None:
            out = subprocess.run([sys.executable, "-m", "shared.cli", "--config", stack.env["DATAOPS_CONFIG"],
                                  "audit", "show", deployment["id"], "--trace"], cwd=ROOT, env=stack.env,
                                 capture_output=True, text=True)
            return out.stdout if "SYNC dataops-notebooks" in out.stdout else None

        out = wait("the span tree", shown, timeout=30)
    assert f"trace {answer['trace_id']}" in out
    tree = out[out.index("\ntrace ") + 1:].splitlines()[1:]
    assert tree[0].startswith("  SYNC dataops-notebooks ") and "cicd.pipeline.result=success" in tree[0]
    assert any(line.startswith("    dataops.task apply ") for line in tree)
    assert any(line.startswith(("      POST", "        POST")) for line in tree)  # Databricks calls under it
    assert stack.secret not in trace_file.read_text() and databricks_standin.token not in trace_file.read_text()
