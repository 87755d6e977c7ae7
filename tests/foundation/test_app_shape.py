"""The Functions app: light to import, shared/ free of azure.functions, settings documented."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from shared.settings import KNOWN_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("databricks.sdk", "azure.mgmt", "azure.monitor",
         # the product's own weight loads on first use, not when the host indexes the functions
         "pydantic", "shared.config", "shared.release", "shared.deploy.orchestrator", "azure.data.tables")


def test_importing_the_app_loads_no_heavy_sdk() -> None:
    code = (f"import sys, function_app; heavy=[m for m in sys.modules if m.startswith({HEAVY!r})]; "
            "print(len(function_app.app.get_functions())); print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    count, heavy = out.stdout.strip().splitlines()
    assert heavy == "[]"
    assert int(count) >= 0


def test_shared_never_imports_azure_functions() -> None:
    offenders = []
    for path in (ROOT / "shared").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "azure.functions" or n.startswith("azure.functions.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_sample_settings_document_every_setting_without_secrets() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    values, comments = sample["Values"], sample["_comments"]
    for name in KNOWN_SETTINGS:
        if name.endswith("__accountName"):
            continue
        assert name in values, name
        assert name in comments, name
    for name, value in values.items():
        assert name in comments, f"{name} has no description"
        if any(word in name for word in ("SECRET", "PASSWORD", "TOKEN")):
            assert value == "" or value.startswith("<"), f"{name} holds a value"


def test_runtime_requirements_are_pinned() -> None:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert "==" in line, line
