"""Spans carry the semantic conventions; the trace context crosses a queue message."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry


def test_queue_message_carries_the_trace(spans: InMemorySpanExporter) -> None:
    with telemetry.span("webhook github") as hook:
        carrier = telemetry.inject_context()
    assert carrier["traceparent"].startswith("00-")
    with telemetry.attached_context(carrier), telemetry.span("deployment") as dep:
        assert dep.get_span_context().trace_id == hook.get_span_context().trace_id
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert finished["deployment"].parent is not None
    assert finished["deployment"].parent.span_id == finished["webhook github"].context.span_id


def test_deployment_attributes_follow_semantic_conventions(spans: InMemorySpanExporter) -> None:
    attrs = telemetry.deployment_attributes(environment="dev", component="adf", deployment_id="d1",
                                            commit="abc", repository="https://user:ghp_secret@github.com/c/r")
    with telemetry.span("deploy", attrs) as s:
        telemetry.set_result(s, "succeeded")
    got = dict(spans.get_finished_spans()[0].attributes or {})
    assert got["deployment.environment.name"] == "dev"
    assert got["cicd.pipeline.name"] == "dataops-adf"
    assert got["cicd.pipeline.run.id"] == "d1"
    assert got["vcs.ref.head.revision"] == "abc"
    assert got["cicd.pipeline.result"] == "success"
    assert "ghp_secret" not in got["vcs.repository.url.full"]


def test_failed_span_records_error_type_not_message(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), telemetry.span("step"):
        raise ValueError("token=supersecret")
    s = spans.get_finished_spans()[0]
    assert s.status.status_code == trace.StatusCode.ERROR
    assert "supersecret" not in str(s.status.description) + str(dict(s.attributes or {})) + str(s.events)


def test_redact_removes_secrets_and_url_credentials() -> None:
    assert telemetry.redact("pat dapi1234 at https://x:y@h/p", ["dapi1234"]) == "pat *** at https://h/p"


def test_no_exporter_without_settings() -> None:
    from shared.settings import Settings

    telemetry._configured = None
    assert telemetry.setup_telemetry(Settings({})) == "none"
    telemetry._configured = None


# ----------------------------------------------------------------- configuration (own processes)
def _python(code: str, env: dict[str, str] | None = None) -> str:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "PYTHON_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env={**clean, **(env or {})},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_importing_the_app_configures_nothing_and_loads_no_sdk() -> None:
    got = _python("import sys, function_app; from shared import telemetry; "
                  "print([m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter', "
                  "'azure.monitor', 'opentelemetry.instrumentation'))], telemetry._configured)",
                  {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert got == "[] None"


def test_both_exporters_when_both_are_set_configured_once() -> None:
    code = ("from shared import telemetry; from opentelemetry import trace, metrics; "
            "a = telemetry.setup_telemetry(); b = telemetry.setup_telemetry(); "
            "p = trace.get_tracer_provider(); procs = p._active_span_processor._span_processors; "
            "kinds = sorted(type(x.span_exporter.inner).__name__ for x in procs); "
            "readers = sorted(type(r._exporter.inner).__name__ for r in metrics.get_meter_provider()._metric_readers); "
            "from azure.core.settings import settings; "
            "print(a, b, kinds, readers, settings.tracing_enabled(), settings.tracing_implementation())")
    got = _python(code, {"APPLICATIONINSIGHTS_CONNECTION_STRING":
                         "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/",
                         "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
                         "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"})
    assert got == ("azure-monitor+otlp azure-monitor+otlp ['AzureMonitorTraceExporter', 'OTLPSpanExporter'] "
                   "['AzureMonitorMetricExporter', 'OTLPMetricExporter'] True None")


def test_no_second_azure_monitor_exporter_when_the_worker_configured_it() -> None:
    # The Python worker with PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY has installed its provider first.
    code = ("from opentelemetry import trace; from opentelemetry.sdk.trace import TracerProvider; "
            "worker = TracerProvider(); trace.set_tracer_provider(worker); "
            "from shared import telemetry; got = telemetry.setup_telemetry(); "
            "procs = worker._active_span_processor._span_processors; "
            "print(got, trace.get_tracer_provider() is worker, "
            "[type(x.span_exporter.inner).__name__ for x in procs])")
    got = _python(code, {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x;IngestionEndpoint=http://h/",
                         "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true",
                         "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert got == "otlp True ['OTLPSpanExporter']"


# ----------------------------------------------------------------- host context, pools, results
class _HostContext:
    def __init__(self, traceparent: str) -> None:
        self.trace_context = type("T", (), {"trace_parent": traceparent, "trace_state": "", "attributes": {}})()


def test_invocation_spans_are_children_of_the_host_context(spans: InMemorySpanExporter) -> None:
    ctx = _HostContext("00-" + "ab" * 16 + "-" + "cd" * 8 + "-01")
    with telemetry.invocation(ctx), telemetry.span("handler"):
        pass
    (s,) = spans.get_finished_spans()
    assert f"{s.context.trace_id:032x}" == "ab" * 16 and f"{s.parent.span_id:016x}" == "cd" * 8
    # Already inside a span (the worker attached the host context itself): not attached again.
    with telemetry.span("worker-attached") as outer, telemetry.invocation(ctx), telemetry.span("inner") as inner:
        assert inner.get_span_context().trace_id == outer.get_span_context().trace_id


def test_pool_tasks_stay_in_the_callers_trace(spans: InMemorySpanExporter) -> None:
    def work(i: int) -> int:
        with telemetry.span(f"task {i}") as s:
            return s.get_span_context().trace_id

    with telemetry.span("run") as run, telemetry.ContextPool(max_workers=3) as pool:
        traces = set(pool.map(work, range(6)))
    assert traces == {run.get_span_context().trace_id}


def test_pipeline_run_span_and_result_map(spans: InMemorySpanExporter) -> None:
    with telemetry.pipeline_run(action=telemetry.SYNC, pipeline="dataops-adf", environment="prod", component="adf",
                                run_id="d1") as finish:
        finish("waiting_approval")
    with pytest.raises(RuntimeError), telemetry.pipeline_run(action=telemetry.SYNC, pipeline="dataops-adf",
                                                             environment="prod", run_id="d2"):
        raise RuntimeError("boom")
    held, crashed = spans.get_finished_spans()
    assert held.name == "SYNC dataops-adf" and held.kind == trace.SpanKind.SERVER
    assert held.attributes["cicd.pipeline.result"] == "skip"
    assert held.attributes["dataops.deployment.status"] == "waiting_approval"
    assert held.status.status_code != trace.StatusCode.ERROR
    assert crashed.attributes["cicd.pipeline.result"] == "failure"
    assert crashed.status.status_code == trace.StatusCode.ERROR and crashed.attributes["error.type"]
    assert {telemetry.result_of(s) for s in ("succeeded", "superseded", "rejected", "rolled_back")} == {
        "success", "skip", "cancellation", "failure"}
    assert telemetry.result_of("failed", "the worker running this deployment stopped mid-way") == "error"
    assert telemetry.result_of("failed", "ARM operation timed out after 600 s") == "timeout"
    assert telemetry.ref_attributes("refs/tags/v1.2") == {"vcs.ref.head.name": "v1.2", "vcs.ref.head.type": "tag"}
    assert telemetry.repository_name("git@ssh.dev.azure.com:v3/org/proj/data-platform") == "data-platform"


# ----------------------------------------------------------------- scrubbing
def test_scrubbing_exporter_removes_secrets_from_everything() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    memory = InMemorySpanExporter()
    provider = TracerProvider()  # a provider of its own: the process's global one is left alone
    provider.add_span_processor(SimpleSpanProcessor(
        telemetry.ScrubbingSpanExporter(memory, telemetry.Scrubber(["hook-secret-value"]))))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("GET https://ada:pat123@dev.azure.com/x") as s:
        s.set_attribute("url.full", "https://acct.blob.core.windows.net/c/b?sv=2024&sig=abcDEF%2B123&se=2026")
        s.set_attribute("db.statement", "AccountKey=Zm9vYmFy==;EndpointSuffix=core.windows.net")
        s.set_attribute("http.request.header.authorization", ("Bearer eyJhbGciOi.eyJzdWIiOiIx.sig",))
        s.set_attribute("note", "token dapi0123456789abcdef0123456789abcdef and hook-secret-value")
        s.add_event("retry", {"detail": "X-Hub-Signature-256: sha256=" + "a" * 64})
        s.set_status(trace.Status(trace.StatusCode.ERROR, "failed with ghp_" + "x" * 36))
    (out,) = memory.get_finished_spans()
    text = str(out.name) + str(dict(out.attributes or {})) + str([dict(e.attributes or {}) for e in out.events]) + \
        str(out.status.description)
    for leaked in ("pat123", "abcDEF", "Zm9vYmFy", "eyJhbGciOi", "dapi0123", "hook-secret-value", "a" * 64,
                   "ghp_x"):
        assert leaked not in text, leaked
    assert out.attributes["url.full"].startswith("https://acct.blob.core.windows.net/c/b?sv=2024&sig=***")
    assert out.name == "GET https://dev.azure.com/x"


def test_scrubber_knows_the_secret_settings_of_the_process() -> None:
    from shared.settings import Settings

    sc = telemetry.Scrubber.from_settings(Settings({
        "GITHUB_WEBHOOK_SECRET": "gh-hook-secret", "DATABRICKS_TOKEN_DEV": "dbx-token-value",
        "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5a2V5a2V5;",
        "DATAOPS_CONFIG": "infra/environments.yaml"}))
    assert sc.text("gh-hook-secret dbx-token-value a2V5a2V5a2V5 infra/environments.yaml") == \
        "*** *** *** infra/environments.yaml"


# ----------------------------------------------------------------- local traces
def test_audit_show_trace_prints_the_span_tree_of_a_deployment(tmp_path, repo, storage, azurite, monkeypatch,
                                                               dataops, spans, capsys) -> None:
    import json

    import yaml

    main = dataops  # the CLI with the deploy suite's own deployers

    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    cfg = tmp_path / "environments.yaml"
    cfg.write_text(yaml.safe_dump({"repository": {"provider": "local", "url": str(repo.path)}, "environments": {
        "dev": {"deploy_on": ["push"], "databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"}}}}))
    repo.commit({"notebooks/a.py": "x"})
    with telemetry.span("outer"):  # so the CLI's deployment has a trace even with no exporter configured
        assert main(["--config", str(cfg), "deploy", "--env", "dev", "--component", "notebooks", "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    trace_file = tmp_path / "traces.jsonl"
    telemetry.FileSpanExporter(str(trace_file)).export(spans.get_finished_spans())
    assert main(["--config", str(cfg), "audit", "show", rec["id"], "--trace", "--trace-file", str(trace_file)]) == 0
    out = capsys.readouterr().out
    assert f"trace {rec['trace_id']}" in out
    lines = [ln for ln in out.splitlines() if " ms" in ln]
    assert lines[0].strip().startswith("SYNC dataops-notebooks") and "cicd.pipeline.result=success" in lines[0]
    assert lines[0].startswith("  SYNC") and any(ln.startswith("    dataops.task plan") for ln in lines)
    assert "outer" not in out  # only the deployment's own runs and what is under them


def test_run_result_comes_from_how_the_deployment_ended(spans: InMemorySpanExporter) -> None:
    with telemetry.pipeline_run(action=telemetry.SYNC, pipeline="dataops-notebooks", environment="dev",
                                run_id="d3") as finish:
        telemetry.run_ended("an-orphan", "failed", "the worker running this deployment stopped mid-way")
        finish("failed")
    with telemetry.pipeline_run(action=telemetry.SYNC, pipeline="dataops-notebooks", environment="dev",
                                run_id="d4") as finish:
        telemetry.run_ended("d4", "failed", "the worker running this deployment stopped mid-way")
        finish("failed")
    plain, crashed = spans.get_finished_spans()
    assert plain.attributes["cicd.pipeline.result"] == "failure"
    assert crashed.attributes["cicd.pipeline.result"] == "error" and crashed.attributes["error.type"] == "error"


def test_a_released_deployment_continues_its_own_trace(spans: InMemorySpanExporter) -> None:
    pushed = "ab" * 16
    with telemetry.span("POST /api/deployments/{id}/approve") as approve, \
            telemetry.resumed(pushed, "dataops.approval prod"):
        carrier = telemetry.inject_context()
    assert carrier["traceparent"].split("-")[1] == pushed
    released = next(s for s in spans.get_finished_spans() if s.name == "dataops.approval prod")
    assert [lk.context.span_id for lk in released.links] == [approve.get_span_context().span_id]
    with telemetry.span("same trace") as s, telemetry.resumed(f"{s.get_span_context().trace_id:032x}", "x"):
        pass  # already in that trace: nothing added
    assert not [x for x in spans.get_finished_spans() if x.name == "x"]
