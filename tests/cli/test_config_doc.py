"""Issue 23 item 7: docs/config.md is generated from the model and never stale; ``dataops config schema``."""

from __future__ import annotations

import json

from shared import config_doc
from shared.config import PlatformConfig

from .helpers import ROOT, dataops


def test_docs_config_md_is_generated_from_the_model_and_current():
    current = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert current == config_doc.render(), "stale: run `python -m shared.config_doc > docs/config.md`"


def test_every_key_has_a_meaning():
    text = config_doc.render()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| key")]
    assert len(rows) > 60
    empty = [row.split(" | ")[0] for row in rows if row.rstrip().removesuffix("|").rstrip().endswith("|")]
    assert empty == [], f"keys without a description (Field(description=...) or config_doc.NOTES): {empty}"
    for key in ("delete_removed", "approval", "branch_workspaces", "throttle_budget_s"):
        assert f"`{key}`" in text


def test_config_schema_prints_the_json_schema():
    run = dataops(["config", "schema"])
    assert run.code == 0, run.err
    assert json.loads(run.out) == json.loads(json.dumps(PlatformConfig.model_json_schema()))
    assert dataops(["config", "schema", "-o", "yaml"]).out.startswith("$defs:")
