"""#17.1: a generated 1,200-resource factory, in ADF's linked layout, deploys end to end against the stand-in:
first deploy, a no-op redeploy that stops nothing, an edit that stops exactly the changed triggers and
deletes in order."""

from __future__ import annotations

import json
from typing import Any

from shared.git.snapshot import CommitSnapshot

from .helpers import large_publish_output, sched
from .test_deploy import _ctx, _deploy

N = 1200


def _secrets(files: dict[str, bytes]) -> dict[str, str]:
    params = json.loads(files["ARMTemplateForFactory.json"])["parameters"]
    return {k: f"pw-{k}" for k, v in params.items() if str(v.get("type", "")).lower() == "securestring"}


def test_generated_linked_factory_deploys_redeploys_and_edits(arm_standin: Any, arm_factory_name: str) -> None:
    files = large_publish_output(N, factory="synthetic-df")
    full = json.loads(files["ARMTemplateForFactory.json"])
    assert len(full["resources"]) >= N  # over ARM's 800: only the linked templates can deploy
    arm_standin.create_factory(arm_factory_name)
    secrets = _secrets(files)
    kw: dict[str, Any] = {"parameters": secrets, "max_parallel": 16}

    plan, r1 = _deploy(_ctx(arm_standin, arm_factory_name, CommitSnapshot("1" * 40, files), **kw))
    assert r1.status == "succeeded", (r1.error, r1.error_details)
    assert plan.data["template"]["layout"] == "linked"
    waves = sched(plan)["deployments"]
    assert sum(len(w) for w in waves) == 60 and len(waves) < 60  # children in parallel where independent
    for kind, object_type in (("pipelines", "pipeline"), ("datasets", "dataset"), ("triggers", "trigger"),
                              ("linkedservices", "linkedService")):
        assert len(arm_standin.names(arm_factory_name, kind)) == \
            len([a for a in plan.of("create") if a.object_type == object_type]) > 0
    n_triggers = len(arm_standin.names(arm_factory_name, "triggers"))
    assert n_triggers and all(arm_standin.trigger_state(arm_factory_name, t) == "Started"
                              for t in arm_standin.names(arm_factory_name, "triggers")[:5])

    stops = arm_standin.counters.count("triggers.stop")
    again, r2 = _deploy(_ctx(arm_standin, arm_factory_name, CommitSnapshot("2" * 40, files), **kw))
    assert r2.status == "succeeded", (r2.error, r2.error_details)
    assert not again.has_changes, [a.to_json() for a in again.actions if a.action not in ("unchanged", "leave")]
    assert arm_standin.counters.count("triggers.stop") == stops  # the no-op stops nothing

    # the edit: two triggers change, the last pipeline and its trigger are removed
    edited = _edit(files)
    plan3, r3 = _deploy(_ctx(arm_standin, arm_factory_name, CommitSnapshot("3" * 40, edited), **kw))
    assert r3.status == "succeeded", (r3.error, r3.error_details)
    assert sorted(a.name for a in plan3.of("update")) == ["tr_0", "tr_1"]
    stopped = sorted(n for w in sched(plan3)["stop_waves"] for n in w)
    assert stopped == sorted(["tr_0", "tr_1", *(a.name for a in plan3.deletes if a.object_type == "trigger")])
    order = [(i["object_type"], i["name"]) for w in sched(plan3)["delete_waves"] for i in w]
    assert [t for t, _ in order] == sorted((t for t, _ in order), key=["trigger", "pipeline"].index)
    assert arm_standin.get_object(arm_factory_name, "triggers", "tr_0")["properties"]["typeProperties"][
        "recurrence"]["interval"] == 2
    assert arm_standin.trigger_state(arm_factory_name, "tr_0") == "Started"


def _edit(files: dict[str, bytes]) -> dict[str, bytes]:
    """Change tr_0 and tr_1 (interval 2) and drop the last-numbered pipeline with the triggers calling it,
    in the children as ADF would write them."""
    out = dict(files)
    children = {n: json.loads(b) for n, b in files.items() if n.startswith("linkedTemplates/ArmTemplate_")
                and n[len("linkedTemplates/ArmTemplate_"):-5].isdigit()}
    names = [r["name"] for c in children.values() for r in c["resources"] if "/pipelines" in r["type"]]
    last = max(names, key=lambda n: int(n.rsplit("pl_", 1)[1].rstrip("')]")))
    victim = last.rsplit("/", 1)[1].rstrip("')]")
    for n, child in children.items():
        kept = []
        for r in child["resources"]:
            text = json.dumps(r)
            if r["name"] == last or (r["type"].endswith("/triggers") and f'"{victim}"' in text):
                continue
            if r["type"].endswith("/triggers") and r["name"].endswith(("/tr_0')]", "/tr_1')]")):
                r = json.loads(text)
                r["properties"]["typeProperties"]["recurrence"]["interval"] = 2
            kept.append(r)
        child["resources"] = kept
        out[n] = json.dumps(child).encode()
    return out


def test_a_build_over_the_limits_deploys_its_linked_templates() -> None:
    """adf.source: main: a factory built over ARM's limits is deployed child by child, not refused."""
    from shared.adf.build.deploy import load_built
    from shared.adf.build.synthetic import generate_factory
    from shared.config import AdfSource

    files = generate_factory(900, root="adf", factory="big-df")
    built = load_built(CommitSnapshot("4" * 40, files), AdfSource(source="main", root_folder="adf", factory="big-df"))
    assert built.layout.endswith("linked") and len(built.units) > 1
    assert sum(len(u.resources) for u in built.units) == len(built.resources) > 800
