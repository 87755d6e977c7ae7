"""docs/config.md, the configuration reference, generated from the model (:class:`shared.config.PlatformConfig`).

    python -m shared.config_doc > docs/config.md      # regenerate
    python -m shared.config_doc --check docs/config.md  # exit 1 when it is stale (a test runs this)

The structure, types, defaults and limits come from the model's JSON Schema (``dataops config schema``);
the meaning of a key is its ``Field(description=...)`` or, for keys without one, :data:`NOTES`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Meaning of keys whose field has no description, by path (``*`` stands for an environment name).
NOTES: dict[str, str] = {
    "repository": "the Git repository that is the source of truth",
    "repository.provider": "where it is hosted; `local` reads a local path (tests, `make run`)",
    "repository.url": "clone URL (or a local path with `provider: local`)",
    "repository.main_branch": "branch whose merges deploy notebooks (and ADF with `adf.source: main`)",
    "repository.publish_branch": "branch ADF's Publish writes the ARM templates to",
    "repository.token_setting": "app setting holding a token for the provider's API (private repositories)",
    "adf": "where the Data Factory definitions are in the repository",
    "adf.factory_dir": "folder of the publish output on the publish branch (default: the branch root)",
    "adf.source": "`publish`: deploy the publish branch's ARM templates (ADF's Publish button); `main`: build "
                  "the templates from the factory JSON on the main branch (`dataops adf build`)",
    "adf.root_folder": "the repository's ADF root folder (factory JSON), for `source: main`",
    "adf.factory": "which `factory/<name>.json` when `factory/` holds several",
    "databricks": "where the notebooks are in the repository",
    "databricks.source_dir": "folder of the notebooks in the repository; synced to each environment's "
                             "`target_dir`",
    "databricks.sync_files": "reserved: sync non-notebook files as workspace files (not implemented yet)",
    "databricks.branch_workspaces": "per-branch Databricks workspaces folders (see docs/notebooks.md)",
    "environments": "the environments by name (lowercase letters, digits, underscores), in promotion order",
    "environments.*.deploy_on": "what deploys it: `push` (a merge to the branch), `promotion` (a commit that "
                                "succeeded in every `requires` environment), `manual` (CLI or HTTP only)",
    "environments.*.requires": "environments a commit must have succeeded in first (no cycles)",
    "environments.*.approval": "`required`: a deployment waits for `approve` by someone other than the "
                               "pusher and the commit authors; the CLI also asks before `env stop`/`deploy`",
    "environments.*.allow_self_approval": "let the pusher or an author approve their own deployment",
    "environments.*.protect_deletes": "a deployment whose plan deletes objects waits for approval (a delete "
                                      "is one-way)",
    "environments.*.on_failure": "`rollback`: a failed deployment redeploys the last good commit",
    "environments.*.windows": "deployment windows: outside an `allow` window (or inside a `deny` one) a "
                              "deployment waits (`waiting_window`)",
    "environments.*.windows[].kind": "`allow` or `deny`",
    "environments.*.windows[].start": "NCRONTAB expression (six fields) of when the window opens",
    "environments.*.windows[].duration": "how long it stays open (`2h`, `30m`, `1d`)",
    "environments.*.windows[].time_zone": "IANA time zone of `start`",
    "environments.*.notify": "where to announce deployment events",
    "environments.*.notify[].kind": "`teams` (incoming webhook card) or `webhook` (JSON POST)",
    "environments.*.notify[].url_setting": "app setting holding the URL (a secret)",
    "environments.*.notify[].on": "which events are sent",
    "environments.*.data_factory": "the Data Factory target (absent: no ADF in this environment)",
    "environments.*.data_factory.subscription_id": "subscription of the factory (GUID)",
    "environments.*.data_factory.resource_group": "resource group of the factory",
    "environments.*.data_factory.factory_name": "name of the factory",
    "environments.*.data_factory.parameters": "ARM template parameter values for this environment",
    "environments.*.data_factory.parameters_file": "a parameters file in the repository instead of/in "
                                                   "addition to `parameters`",
    "environments.*.data_factory.stop_triggers": "`changed`: stop the started triggers the deployment "
                                                 "changes, replaces or removes (and, with `start_triggers: "
                                                 "source`, those Stopped in source); `all`: every started "
                                                 "trigger",
    "environments.*.data_factory.start_triggers": "`source`: start the triggers the template says are "
                                                  "started; `previous`: put back what was running before",
    "environments.*.data_factory.delete_removed": "delete factory objects that are no longer in the "
                                                  "template (in dependency order); `false`: leave them "
                                                  "(`leave` in the plan). Default **true**",
    "environments.*.data_factory.arm_endpoint": "ARM endpoint (HTTPS only; sovereign clouds, the local "
                                                "stand-in)",
    "environments.*.data_factory.max_parallel": "concurrent ARM calls of one deployment",
    "environments.*.databricks": "the Databricks target (absent: no notebooks in this environment)",
    "environments.*.databricks.host": "workspace URL (`https://adb-....azuredatabricks.net`)",
    "environments.*.databricks.token_setting": "app setting holding a PAT; absent: Entra ID "
                                               "(DefaultAzureCredential, the managed identity in Azure)",
    "environments.*.databricks.target_dir": "workspace folder the notebooks are synced to (owned by the "
                                            "deployer: see `delete_removed`)",
    "environments.*.databricks.delete_removed": "delete notebooks and folders under `target_dir` that are "
                                                "no longer in Git; `false`: leave them (`leave` in the "
                                                "plan). Default **true**",
    "environments.*.databricks.max_parallel": "concurrent Workspace API calls of one sync",
    "environments.*.databricks.max_delete_ratio": "share of the objects under `target_dir` one plan may "
                                                  "delete; more is refused unless forced",
    "environments.*.databricks.throttle_budget_s": "seconds one Workspace API call may wait out 429s "
                                                   "(Retry-After)",
    "environments.*.schedule": "stop/start the environment on a timetable (absent: never by time)",
    "environments.*.schedule.time_zone": "IANA time zone of `stop`, `start` and `skip_dates`",
    "environments.*.schedule.stop": "NCRONTAB expression (six fields) of when to stop",
    "environments.*.schedule.start": "NCRONTAB expression of when to start again",
    "environments.*.schedule.skip_dates": "dates on which neither runs (holidays)",
    "environments.*.schedule.resources": "what a stop stops and a start restores",
    "environments.*.schedule.exclude": "resources left alone: `name:<glob>` or `tag:<key>[=<value>]`",
    "environments.*.schedule.enforce_on_start": "on the first timer tick of a newly deployed app, apply the "
                                                "latest due action again",
    "environments.*.verify": "checks run after a deployment applied, before it ends (docs/verify.md)",
    "environments.*.verify[].name": "the check's name (unique in the environment)",
    "environments.*.verify[].http": "an HTTP check: a GET or HEAD that must answer `expect_status`",
    "environments.*.verify[].http.expect_status": "the status the URL must answer",
    "environments.*.verify[].http.method": "`GET` or `HEAD`",
    "environments.*.verify[].on": "after deployments of which components the check runs",
    "environments.*.verify[].blocking": "a failed blocking check fails the deployment (rollback, "
                                        "notifications, no promotion); a non-blocking one is only recorded",
    "verification": "how verification checks are run",
    "timeouts.databricks": "Databricks Workspace, Jobs and compute APIs: `connect`/`read` override the "
                           "defaults above",
    "timeouts.arm": "ARM and Data Factory APIs: `connect`/`read` override the defaults above",
    "timeouts.storage": "the app's own storage account (tables, queues, blobs): overrides",
    "timeouts.git": "the git host (clone, fetch, API): overrides",
    "timeouts.notify": "notification webhooks (Teams, generic): overrides",
    "metrics": "DORA metrics settings",
    "metrics.production_environment": "the environment the metrics are about (default `prod` if present, "
                                      "else the last environment)",
    "metrics.incident_attribution_days": "an incident without `caused_by` is attributed to the latest "
                                         "successful deployment within this many days",
    "security": "identity settings",
    "people": "the people who push, approve and roll back: their Entra identity and their git identities "
              "(self-approval checks, per-developer metrics)",
}

HEADER = """# Configuration reference

<!-- Generated by `python -m shared.config_doc > docs/config.md` from shared/config.py; do not edit by hand
(tests/cli/test_config_doc.py fails when this file is stale). -->

One YAML file: `--config PATH`, else the `DATAOPS_CONFIG` app setting, else
`infra/environments.yaml`. It is validated as a whole when loaded (`dataops config
validate` lists every problem by key path) and unknown keys are refused.
Secrets are never in it: keys ending in `_setting` name the app settings (Key
Vault references in Azure) that hold them. `dataops config schema` prints the
JSON Schema (for an editor's YAML language server). Examples:
`infra/environments.yaml` (Azure) and `infra/environments.local.yaml` (local
stand-ins).

Paths: `<env>` is an environment name, `[]` an item of a list.
"""


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if ref else schema


def _nullable(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    options = schema.get("anyOf")
    if options and any(o.get("type") == "null" for o in options):
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            return {**{k: v for k, v in schema.items() if k != "anyOf"}, **rest[0]}, True
    return schema, False


def _type(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    schema, optional = _nullable(schema)
    if "$ref" in schema:
        text = "mapping"
    elif "enum" in schema or "const" in schema:
        values = schema.get("enum") or [schema["const"]]
        text = " \\| ".join(f"`{json.dumps(v)}`" if not isinstance(v, str) else f"`{v}`" for v in values)
    elif schema.get("type") == "array":
        text = f"list of {_type(schema.get('items') or {}, defs)}"
    elif schema.get("type") == "object":
        extra = schema.get("additionalProperties")
        text = f"map of name to {_type(extra, defs)}" if isinstance(extra, dict) and extra else "mapping"
    else:
        fmt = schema.get("format")
        text = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}.get(
            str(schema.get("type")), "any")
        if fmt == "date":
            text = "date (YYYY-MM-DD)"
    limits = [f"{op} {schema[k]}" for k, op in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                                ("exclusiveMaximum", "<")) if k in schema]
    return text + (f" ({', '.join(limits)})" if limits else "") + (", optional" if optional else "")


def _default(schema: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in schema:
        if "$ref" in schema or "allOf" in schema:
            return "see below"
        return "empty" if schema.get("type") in ("array", "object") else "—"
    value = schema["default"]
    if value is None:
        return "none"
    if value in ({}, []):
        return "empty"
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def _children(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The nested model of a key (and the path suffix that reaches its keys), if any."""
    schema, _ = _nullable(schema)
    if "$ref" in schema:
        return _resolve(schema, defs), ""
    if schema.get("type") == "array" and "$ref" in (schema.get("items") or {}):
        return _resolve(schema["items"], defs), "[]"
    extra = schema.get("additionalProperties")
    if schema.get("type") == "object" and isinstance(extra, dict) and "$ref" in extra:
        return _resolve(extra, defs), ".<env>"
    return None, ""


def _note(path: str) -> str:
    return NOTES.get(path.replace("<env>", "*"), "")


def _section(title: str, model: dict[str, Any], defs: dict[str, Any], out: list[str]) -> None:
    props: dict[str, Any] = model.get("properties") or {}
    required = set(model.get("required") or [])
    out += [f"## `{title}`" if title else "## Top level", ""]
    intro = (_note(title) if title else "") or " ".join((model.get("description") or "").split())
    if title and intro:
        out += [intro[0].upper() + intro[1:] + ("" if intro.endswith(".") else "."), ""]
    out += ["| key | type | default | meaning |", "|---|---|---|---|"]
    nested: list[tuple[str, dict[str, Any]]] = []
    for name, prop in props.items():
        path = f"{title}.{name}" if title else name
        meaning = prop.get("description") or _nullable(prop)[0].get("description") or _note(path)
        child, suffix = _children(prop, defs)
        key = f"[`{name}`](#{_anchor(path + suffix)})" if child is not None else f"`{name}`"
        out.append(f"| {key} | {_type(prop, defs)} | {_default(prop, name in required)} | "
                   f"{' '.join(meaning.split())} |")
        if child is not None:
            nested.append((path + suffix, child))
    out.append("")
    for path, child in nested:
        _section(path, child, defs, out)


def _anchor(path: str) -> str:
    return "".join(c for c in path.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def render() -> str:
    from .config import PlatformConfig

    schema = PlatformConfig.model_json_schema()
    out = [HEADER]
    _section("", schema, schema.get("$defs") or {}, out)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args[:1] == ["--check"]:
        path = Path(args[1] if len(args) > 1 else "docs/config.md")
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run `python -m shared.config_doc > {path}`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
