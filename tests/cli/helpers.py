"""Run the installed console script ``dataops`` (the one ``pip install -e .`` put next to the interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATAOPS = Path(sys.executable).parent / "dataops"


@dataclass
class Run:
    code: int
    out: str
    err: str


def dataops(args: list[str], env: dict[str, str] | None = None, *, stdin: str | None = None,
            timeout: float = 120) -> Run:
    """``dataops ARGS`` as a real process, stdin not a terminal (input ``stdin`` when given)."""
    proc = subprocess.run([str(DATAOPS), *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          input=stdin if stdin is not None else "", capture_output=True, text=True,
                          timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)
