"""Log records and metric attributes leave the process scrubbed, through a real OTLP/HTTP receiver.

A process configured with ``OTEL_EXPORTER_OTLP_ENDPOINT`` logs (through the app's loggers, inside
a span) and counts with attribute values that carry secrets: a known secret setting, URL
credentials, a SAS signature, a storage account key, a Databricks PAT, a bearer JWT. The receiver
decodes what arrived: the records and points are there, correlated to the span, and no secret
value is anywhere in the bytes sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]
HOOK_SECRET = "hook-secret-4f2a9c"
ACCOUNT_KEY = "c2VjcmV0LWFjY291bnQta2V5LXZhbHVl"
PAT = "dapi" + "0123456789abcdef" * 2
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXZhbHVl"
SIG = "sv2026sigVALUE%2Bx"
URL_TOKEN = "ghs_" + "T" * 36

CODE = f"""
import json, logging
from shared import telemetry
telemetry.setup_telemetry()
with telemetry.span("dataops.test logs") as s:
    logging.getLogger("dataops.worker").warning(
        "clone https://x-token:%s@github.com/contoso/dp.git failed: AccountKey=%s; token %s",
        {URL_TOKEN!r}, {ACCOUNT_KEY!r}, {PAT!r})
    try:
        raise RuntimeError("Authorization: Bearer {JWT} for {HOOK_SECRET}")
    except RuntimeError:
        logging.getLogger("shared.deploy.orchestrator").exception("deployment d-1 failed")
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").warning("Request URL: 'http://wire'")
    logging.getLogger("urllib3.connectionpool").warning("wire noise")
    telemetry.count("retries", {{"dataops.service": "https://u:{HOOK_SECRET}@arm.example/x?sig={SIG}",
                                "note": "AccountKey={ACCOUNT_KEY};Bearer {JWT}"}})
    ctx = s.get_span_context()
telemetry.shutdown()
print(json.dumps([f"{{ctx.trace_id:032x}}", f"{{ctx.span_id:016x}}"]))
"""


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.stop()


def test_logs_and_metric_attributes_are_exported_scrubbed_and_correlated(receiver: OtlpReceiver) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "PYTHON_"))}
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "GITHUB_WEBHOOK_SECRET": HOOK_SECRET,
                "OTEL_SERVICE_NAME": "dataops-test"})
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    trace_id, span_id = json.loads(out.stdout.strip().splitlines()[-1])
    receiver.wait(lambda: len(receiver.logs) >= 2 and bool(receiver.metric("dataops.http.client.retries")))

    # The app's records arrived, in the span's trace; the SDKs' wire logs did not.
    by_scope = {r["scope"]: r for r in receiver.logs}
    assert set(by_scope) == {"dataops.worker", "shared.deploy.orchestrator"}, by_scope
    for r in by_scope.values():
        assert (r["trace_id"], r["span_id"]) == (trace_id, span_id)
    warning = by_scope["dataops.worker"]
    assert warning["severity"] == "WARN"
    assert warning["body"] == "clone https://github.com/contoso/dp.git failed: AccountKey=***; token ***"
    failed = by_scope["shared.deploy.orchestrator"]
    assert failed["body"] == "deployment d-1 failed"
    assert failed["attributes"]["exception.type"] == "RuntimeError"
    assert "Bearer ***" in failed["attributes"]["exception.message"]
    assert "RuntimeError" in failed["attributes"]["exception.stacktrace"]

    # Metric attribute values scrubbed the same way.
    point = receiver.metric("dataops.http.client.retries")[-1]
    assert point["attributes"]["dataops.service"] == "https://arm.example/x?sig=***"
    assert point["attributes"]["note"] == "AccountKey=***;Bearer ***"

    sent = b"".join(receiver.raw)
    for value in (HOOK_SECRET, ACCOUNT_KEY, PAT, JWT, SIG, URL_TOKEN, "c2lnbmF0dXJl"):
        assert value.encode() not in sent, value
