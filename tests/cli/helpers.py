"""Run the installed console script ``dataops`` (the one ``pip install -e .`` put next to the interpreter)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
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


def at_terminal(args: list[str], env: dict[str, str], answer: str | None = None, *,
                stdout_too: bool = False) -> tuple[int, str]:
    """``dataops ARGS`` with stdin and stderr (and stdout with ``stdout_too``) on a pseudo-terminal;
    types ``answer`` at a ``[y/N]`` prompt. Returns the exit code and everything the terminal showed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(DATAOPS), *args], cwd=ROOT, env={**os.environ, **env}, stdin=slave,
                            stderr=slave, stdout=slave if stdout_too else subprocess.DEVNULL)
    os.close(slave)
    seen, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            seen += chunk
            if answer is not None and not answered and b"[y/N]" in seen:
                os.write(master, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=60)
    os.close(master)
    return code, seen.decode(errors="replace").replace("\r\n", "\n")
