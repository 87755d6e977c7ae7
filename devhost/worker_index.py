"""Index ``function_app.py`` the way the Azure Functions Python worker does, and print the metadata.

The worker (``azure_functions_worker.loader.index_function_app``) imports the
script module by name, takes its one top-level ``FunctionRegister`` (more than
one, or none, is an error), calls ``get_functions()`` and sends the host one
``RpcFunctionMetadata`` per function: its name, script file and the raw
bindings JSON of ``get_raw_bindings()``. The worker's registry refuses a
function whose Python parameters are not all bindings. This module repeats
that, in a fresh process, so a test can compare it with what the dev host
serves (``python -m devhost.worker_index [script]`` prints JSON).
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def index_function_app(script: Path) -> list[dict[str, Any]]:
    from azure.functions import FunctionRegister

    if str(script.parent) not in sys.path:
        sys.path.insert(0, str(script.parent))
    module = importlib.import_module(script.stem)
    apps = [getattr(module, n) for n in module.__dir__() if isinstance(getattr(module, n, None), FunctionRegister)]
    if len(apps) != 1:
        raise ValueError("More than one FunctionApp or other top level function app instances are defined."
                         if apps else f"Could not find top level function app instances in {script.name}.")
    out = []
    for f in apps[0].get_functions():
        bindings = [json.loads(raw) for raw in f.get_raw_bindings()]
        names = {b["name"] for b in bindings}
        params = [p for p in inspect.signature(f.get_user_function()).parameters if p != "context"]
        missing = [p for p in params if p not in names]
        if missing:
            raise ValueError(f"the following parameters are declared in Python but not in function.json: "
                             f"{missing} ({f.get_function_name()})")
        out.append({"name": f.get_function_name(), "script_file": f.function_script_file,
                    "raw_bindings": f.get_raw_bindings(), "bindings": bindings})
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    script = Path(args[0]) if args else ROOT / "function_app.py"
    print(json.dumps(index_function_app(script.resolve()), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
