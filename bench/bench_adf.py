"""Data Factory deployment benchmarks.

1. 300 triggers, 150 of them changed, 100 ms stand-in latency: stopping and
   starting the 150 with our parallel waves (max_parallel 16) vs one call at
   a time (the way PrePostDeploymentScript.Ver2 works), same client, same run.
2. Planning the largest corpus template (load, parameters, render, plan
   against a live factory that already holds it); reference: the 1 s budget.
3. A generated 1,200-resource factory in ADF's linked layout (60 children):
   plan time against a factory holding it (1 s budget), and its first deploy
   end to end at 100 ms latency, our waves vs the same deployer one call at a
   time.

Run alone: ``.venv/bin/python -m bench.bench_adf`` (``--quick`` or
``BENCH_QUICK=1``: an 850-object factory, still linked; no trigger-wave row).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "adf"
N_TRIGGERS, N_CHANGED, LATENCY_S, PARALLEL = 300, 150, 0.1, 16


def _trigger(i: int) -> dict[str, Any]:
    return {"type": "ScheduleTrigger", "annotations": [],
            "pipelines": [{"pipelineReference": {"referenceName": "pl", "type": "PipelineReference"},
                           "parameters": {"i": i}}],
            "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1,
                                              "startTime": "2024-01-01T00:00:00Z", "timeZone": "UTC"}}}


@contextlib.contextmanager
def _standin() -> Iterator[tuple[Any, Path]]:
    """An ARM stand-in over HTTPS (no delays) and its CA bundle; started, and stopped by the caller."""
    import trustme

    from devhost.standins.arm import ArmStandIn, server_ssl_context

    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        standin = ArmStandIn(token="bench-" + secrets.token_urlsafe(8),
                             ssl_context=server_ssl_context(ca, ["127.0.0.1", "localhost"]),
                             transition_s=0.0, deploy_delay_s=0.0, poll_ms=20)
        standin.start()
        yield standin, bundle


def bench_trigger_waves() -> dict[str, Any]:
    from devhost.standins.arm import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION
    from shared.adf.client import FactoryClient
    from shared.adf.waves import run_wave
    from shared.config import DataFactoryTarget
    from shared.settings import Settings

    with _standin() as (standin, bundle):
        try:
            standin.create_factory("bench-f")
            standin.put_object("bench-f", "pipelines", "pl", {"activities": []})
            for i in range(N_TRIGGERS):
                standin.put_object("bench-f", "triggers", f"t{i:03d}", _trigger(i), runtime_state="Started")
            target = DataFactoryTarget(subscription_id=DEFAULT_SUBSCRIPTION, resource_group=DEFAULT_RESOURCE_GROUP,
                                       factory_name="bench-f", arm_endpoint=standin.url, token_setting="TOK",
                                       max_parallel=PARALLEL)
            client = FactoryClient(target, Settings({"TOK": standin.token, "REQUESTS_CA_BUNDLE": str(bundle)}),
                                   poll_interval=0.02)
            changed = [f"t{i:03d}" for i in range(N_CHANGED)]
            client.list_triggers()  # warm up connections and the token
            standin.faults.add(".*", latency_s=LATENCY_S)

            def stop_start(parallel: int) -> float:
                t0 = time.perf_counter()
                for fn in (client.stop_trigger, client.start_trigger):
                    failed = [n for n, e in run_wave(changed, fn, parallel) if e is not None]
                    if failed:
                        raise RuntimeError(f"{len(failed)} trigger operations failed")
                return time.perf_counter() - t0

            ours = stop_start(PARALLEL)
            reference = stop_start(1)
        finally:
            standin.stop()
    return {"benchmark": f"adf: stop+start {N_CHANGED} of {N_TRIGGERS} triggers @100ms, waves vs sequential",
            "ours": ours, "reference": reference, "ratio": ours / reference, "target": "<= 0.15", "unit": "s",
            "note": f"max_parallel={PARALLEL}; reference = one call at a time (Ver2 script)"}


def bench_plan_largest() -> dict[str, Any] | None:
    from shared.adf.loader import load_factory
    from shared.adf.parameters import ParameterError, rendering_values, resolve_parameters
    from shared.adf.plan import LiveFactory, PlanOptions, build_plan
    from shared.adf.template import render_objects
    from shared.git.snapshot import CommitSnapshot

    if not CORPUS.is_dir():
        return None
    folders = [p for p in CORPUS.iterdir() if p.is_dir()]
    sizes = {p: sum(f.stat().st_size for f in p.rglob("*.json")) for p in folders}
    largest = max(sizes, key=lambda p: sizes[p])
    files = {f.relative_to(largest).as_posix(): f.read_bytes() for f in largest.rglob("*") if f.is_file()}
    snap = CommitSnapshot("b" * 40, files)

    def plan_once(live: LiveFactory | None) -> tuple[float, Any, list[Any]]:
        t0 = time.perf_counter()
        ft = load_factory(snap, None)
        try:
            rp = resolve_parameters(ft.template, ft.parameter_values, factory_name="bench")
        except ParameterError as exc:
            rp = resolve_parameters(ft.template, ft.parameter_values, factory_name="bench",
                                    config_values={n: "x" for n in exc.details["missing"]})
        desired = render_objects(ft.template, rendering_values(ft.template, rp))
        plan = build_plan(environment="b", commit=snap.sha, desired=desired, live=live or LiveFactory(),
                          options=PlanOptions())
        return time.perf_counter() - t0, plan, desired

    _, _, desired = plan_once(None)
    live: dict[str, list[dict[str, Any]]] = {}
    for o in desired:
        props = dict(o.properties)
        live.setdefault(o.object_type, []).append({"name": o.name, "properties": props})
    best = min(plan_once(LiveFactory(live))[0] for _ in range(3))
    return {"benchmark": f"adf: plan largest corpus template ({largest.name}, {len(desired)} objects)",
            "ours": best, "reference": 1.0, "ratio": best, "target": "< 1 s (ratio < 1)", "unit": "s",
            "note": "load + parameters + render + plan vs a live factory holding it; best of 3"}


def _shallow_calls(files: dict[str, bytes]) -> dict[str, bytes]:
    """The generated factory with a typical call structure: two thirds of the pipelines are leaves, each of
    the others runs two leaves (the generator's own pipelines call each other ten levels deep)."""
    import json

    out = dict(files)
    names = sorted((p for p in files if p.startswith("pipeline/")), key=lambda p: int(p[len("pipeline/pl_"):-5]))
    leaves = max(1, len(names) * 2 // 3)
    for i, path in enumerate(names):
        doc = json.loads(files[path])
        acts = [a for a in doc["properties"]["activities"] if a["type"] != "ExecutePipeline"]
        if i >= leaves:
            acts += [{"name": f"run{j}", "type": "ExecutePipeline", "dependsOn": [], "typeProperties": {
                "pipeline": {"referenceName": f"pl_{(2 * i + j) % leaves}", "type": "PipelineReference"},
                "waitOnCompletion": True}} for j in (0, 1)]
        doc["properties"]["activities"] = acts
        out[path] = json.dumps(doc, indent="\t").encode()
    return out


def _large_publish_output(n_objects: int, shallow: bool = False) -> dict[str, bytes]:
    """A generated factory's publish branch as ADF writes it (full template + linkedTemplates/)."""
    import json

    from shared.adf.build.builder import FULL_PARAMETERS, FULL_TEMPLATE, build_factory
    from shared.adf.build.synthetic import generate_factory

    source = generate_factory(n_objects, factory="bench-df")
    result = build_factory(_shallow_calls(source) if shallow else source, "", "bench-df")
    files = {FULL_TEMPLATE: json.dumps(result.template).encode(),
             FULL_PARAMETERS: json.dumps(result.parameters).encode()}
    files.update({f"linkedTemplates/{n}": json.dumps(d).encode() for n, d in result.linked.items()})
    return files


def _deploy_ctx(standin: Any, bundle: Path, factory: str, files: dict[str, bytes], sha: str,
                parallel: int) -> Any:
    import json

    from devhost.standins.arm import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION
    from shared.clock import FakeClock
    from shared.config import AdfSource, DataFactoryTarget, Environment, PlatformConfig, Repository
    from shared.deploy.model import DeployContext
    from shared.git.snapshot import CommitSnapshot
    from shared.settings import Settings

    params = json.loads(files["ARMTemplateForFactory.json"])["parameters"]
    secrets = {k: "pw" for k, v in params.items() if str(v.get("type", "")).lower() == "securestring"}
    target = DataFactoryTarget(subscription_id=DEFAULT_SUBSCRIPTION, resource_group=DEFAULT_RESOURCE_GROUP,
                               factory_name=factory, arm_endpoint=standin.url, token_setting="TOK",
                               max_parallel=parallel, parameters=secrets)
    config = PlatformConfig(repository=Repository(url="https://github.com/o/r"), adf=AdfSource(),
                            environments={"bench": Environment(data_factory=target)})
    return DeployContext(config=config, environment="bench", snapshot=CommitSnapshot(sha, files),
                         settings=Settings({"TOK": standin.token, "REQUESTS_CA_BUNDLE": str(bundle)}),
                         clock=FakeClock())


def bench_large_factory(n_objects: int, shallow: bool = False) -> list[dict[str, Any]]:
    """A generated linked factory of ``n_objects`` resources: plan time (no network), and its first deploy
    end to end (plan + apply: preflight, child deployments, trigger starts) at 100 ms stand-in latency with
    our waves vs the same deployer doing one call at a time (max_parallel 1: children in the master's order)."""
    from shared.adf.deployer import DataFactoryDeployer

    files = _large_publish_output(n_objects, shallow)
    shape = "pipelines calling 2 leaves" if shallow else "pipeline calls 10 deep"
    rows: list[dict[str, Any]] = []
    with _standin() as (standin, bundle):
        try:
            deployer = DataFactoryDeployer()
            # plan time: a factory already holding the template (no latency), best of 3
            standin.create_factory("bench-plan")
            ctx = _deploy_ctx(standin, bundle, "bench-plan", files, "a" * 40, 16)
            result = deployer.apply(ctx, deployer.plan(ctx))
            if result.status != "succeeded":
                raise RuntimeError(f"setup deploy failed: {result.error}")
            n_resources = len(deployer._prepare(ctx).factory.resources)
            plan_s = min(_timed(lambda: deployer.plan(ctx)) for _ in range(3))
            waves = len(deployer.plan(ctx).data["schedule"]["deployments"])
            rows.append({"benchmark": f"adf: plan {n_resources}-resource linked factory ({shape}), no-op vs live",
                         "ours": plan_s, "reference": 1.0, "ratio": plan_s, "target": "< 1 s (ratio < 1)",
                         "unit": "s", "note": "load + parameters + ownership + render + list live (local) + plan"})
            standin.faults.add(".*", latency_s=LATENCY_S)

            def first_deploy(factory: str, parallel: int) -> float:
                standin.create_factory(factory)
                c = _deploy_ctx(standin, bundle, factory, files, "b" * 40, parallel)
                t0 = time.perf_counter()
                r = deployer.apply(c, deployer.plan(c))
                if r.status != "succeeded":
                    raise RuntimeError(f"deploy failed: {r.error}")
                return time.perf_counter() - t0

            ours = first_deploy("bench-ours", PARALLEL)
            reference = first_deploy("bench-ref", 1)
        finally:
            standin.stop()
    rows.append({"benchmark": f"adf: deploy {n_resources}-resource linked factory ({shape}) @100ms, waves vs one "
                              "at a time", "ours": ours, "reference": reference, "ratio": ours / reference,
                 "target": "<= 0.15", "unit": "s",
                 "note": f"plan+apply, max_parallel={PARALLEL} vs 1; {len(files) - 4} children in {waves} waves"})
    return rows


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(quick: bool | None = None) -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring); quick (``BENCH_QUICK=1``): an 850-object factory."""
    quick = os.environ.get("BENCH_QUICK") == "1" if quick is None else quick
    rows = []
    plan_row = bench_plan_largest()
    if plan_row:
        rows.append(plan_row)
    rows.extend(bench_large_factory(850 if quick else 1200, shallow=True))
    if not quick:
        rows.extend(bench_large_factory(1200)[1:])
    if not quick:
        rows.append(bench_trigger_waves())
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"{row['benchmark']:<80} ours={row['ours']:.3f}{row['unit']} ref={row['reference']:.3f}"
              f"{row['unit']} ratio={row['ratio']:.3f} target {row['target']}")
