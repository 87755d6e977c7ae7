"""ARM / Data Factory calls are HTTP client spans in the run's trace; trigger stops, 429s and retries counted.

A process of its own (telemetry is configured once per process) stops a trigger of a factory on
the ARM stand-in (HTTPS, the product's client builder) inside a ``RUN dataops-trigger-stop``
pipeline run, exporting over OTLP/HTTP to a local receiver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import descends
from .receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from shared import telemetry
from shared.adf.client import FactoryClient
from shared.config import DataFactoryTarget
from shared.settings import Settings

target, settings = DataFactoryTarget(**json.loads(sys.argv[1])), Settings(json.loads(sys.argv[2]))
with telemetry.pipeline_run(action=telemetry.RUN, pipeline="dataops-trigger-stop", environment="dev",
                            run_id="trigger/TR_Hourly/stop") as finish:
    FactoryClient(target, settings, poll_interval=0.05).stop_trigger("TR_Hourly")
    finish("succeeded")
telemetry.shutdown()
"""


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.stop()


def test_arm_calls_are_client_spans_under_the_run(arm_standin, arm_factory_name, receiver):
    arm_standin.create_factory(arm_factory_name)
    arm_standin.put_object(arm_factory_name, "pipelines", "PL", {"activities": [
        {"name": "Wait", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]})
    arm_standin.put_object(arm_factory_name, "triggers", "TR_Hourly", {
        "type": "ScheduleTrigger", "annotations": [],
        "pipelines": [{"pipelineReference": {"referenceName": "PL", "type": "PipelineReference"}}],
        "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1, "startTime": "2024-01-01T00:00:00Z",
                                          "timeZone": "UTC"}}}, runtime_state="Started")
    arm_standin.faults.add(r"^triggers\.stop$", error_rate=1.0, error_statuses=(429,), max_faults=1)
    target = arm_standin.target(arm_factory_name).model_dump(exclude_none=True)
    settings = dict(arm_standin.settings().environ)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "AZURE_CORE_ONLY_SHOW_ERRORS": "1"})
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(target), json.dumps(settings)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert arm_standin.trigger_state(arm_factory_name, "TR_Hourly") == "Stopped"

    receiver.wait(lambda: any(s["name"] == "RUN dataops-trigger-stop" for s in receiver.spans), timeout=30)
    run = next(s for s in receiver.spans if s["name"] == "RUN dataops-trigger-stop")
    assert run["kind"] == "SPAN_KIND_SERVER" and run["attributes"]["cicd.pipeline.result"] == "success"
    spans = receiver.spans_of(run["trace_id"])
    by_id = {s["span_id"]: s for s in spans}
    arm_port = arm_standin.url.rsplit(":", 1)[1]
    calls = [s for s in spans if s["kind"] == "SPAN_KIND_CLIENT" and arm_port in str(s["attributes"].get("url.full"))]
    assert any(s["attributes"].get("http.request.method") == "POST" and "/stop" in s["attributes"]["url.full"]
               for s in calls), [s["attributes"].get("url.full") for s in calls]
    assert all(descends(by_id, s, run) for s in calls)
    stops = receiver.metric("dataops.adf.trigger.changes", action="stop", result="success",
                            **{"deployment.environment.name": "dev"})
    assert stops and stops[-1]["value"] == 1
    # The throttled first attempt is counted, and its retry.
    assert arm_standin.counters.count("triggers.stop", status=429) == 1
    assert receiver.metric("dataops.http.client.throttled", **{"dataops.service": "arm"})[-1]["value"] == 1
    assert receiver.metric("dataops.http.client.retries", **{"dataops.service": "arm",
                                                             "deployment.environment.name": "dev"})[-1]["value"] >= 1
    assert arm_standin.token.encode() not in b"".join(receiver.raw)
