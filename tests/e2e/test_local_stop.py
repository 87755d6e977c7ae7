"""`dataops local up` under a pseudo-terminal, stopped with SIGTERM: nothing it started is left.

The console script runs in a terminal of its own (``pty.fork``: its own session and process
group) on free ports (``--port-base``) and its own folder (``DATAOPS_LOCAL_DIR``). Once it has
started a given part of the stack, SIGTERM goes to ``dataops`` alone, as a service manager or
``kill`` sends it; then no process of its group or of the stack's group, and no port, may be left.
"""

from __future__ import annotations

import os
import pty
import random
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _port_base() -> int:
    """A base with its six ports free (the stack's host, two stand-ins, three Azurite services)."""
    # Below the ephemeral range: a port there is not taken meanwhile as some connection's source port.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) \
        if Path("/proc/sys/net/ipv4/ip_local_port_range").exists() else 32768
    for _ in range(50):
        base = random.randrange(20000, max(20001, low - 6))
        socks = []
        try:
            for port in range(base, base + 6):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no six consecutive free ports")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _owners(port: int) -> set[int]:
    """The pids listening on ``port`` (``ss``); a parallel test may take a port freed meanwhile."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}


class Terminal:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: dataops in a terminal of its own
            os.chdir(ROOT)
            os.execve(args[0], args, env)
        self.out = ""
        self.status: int | None = None

    def read(self, timeout: float = 0.2) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.out += os.read(self.fd, 65536).decode(errors="replace")
            except OSError:  # the terminal closed: the child exited
                time.sleep(timeout)

    def wait_for(self, text: str, deadline: float) -> None:
        while text not in self.out:
            if time.monotonic() > deadline or self.exited():
                raise AssertionError(f"never printed {text!r}:\n{self.out[-4000:]}")
            self.read()

    def exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None


@pytest.mark.parametrize("stop_after", ["started Databricks stand-in", "Functions app on"],
                         ids=["while-starting", "when-ready"])
def test_sigterm_stops_every_process_and_frees_every_port(tmp_path: Path, stop_after: str) -> None:
    base = _port_base()
    dataops = str(Path(sys.executable).parent / "dataops")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}
    env.update({"DATAOPS_LOCAL_DIR": str(tmp_path / "local"), "PYTHONUNBUFFERED": "1"})
    term = Terminal([dataops, "local", "up", "--port-base", str(base)], env)
    groups: list[int] = [term.pid]  # pty.fork made the child a session and group leader
    try:
        term.wait_for(stop_after, time.monotonic() + 300)
        term.read()
        (group,) = map(int, re.findall(r"process group (\d+)", term.out))
        groups.append(group)
        pids = [int(p) for p in re.findall(r"\(pid (\d+)", term.out)]
        assert group in pids and all(_alive(p) for p in pids), term.out
        os.kill(term.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while not term.exited():
            assert time.monotonic() < deadline, f"dataops did not exit on SIGTERM:\n{term.out[-3000:]}"
            term.read()
        assert os.WIFEXITED(term.status) and os.WEXITSTATUS(term.status) == 0, (term.status, term.out[-3000:])
        assert f"stopped process group {group}" in term.out
        # Nothing of either group, no process it started and no port of the stack is left.
        # The group is gone once its last member is reaped: orphaned grandchildren are reaped by
        # init, after dataops exited; poll with a deadline rather than look once.
        deadline = time.monotonic() + 30
        while [g for g in groups if _group_alive(g)] or [p for p in pids if _alive(p)]:
            left = subprocess.run(["ps", "-eo", "pid,pgid,stat,args"], capture_output=True,
                                  text=True).stdout.splitlines()
            assert time.monotonic() < deadline, [ln for ln in left if any(
                f" {g} " in f" {ln} " for g in groups)]
            time.sleep(0.1)
        left = {p: _owners(p) for p in range(base, base + 6) if _listening(p)}
        assert {p: o for p, o in left.items() if not o or o & {*pids, *groups}} == {}, left
    finally:
        for g in groups:  # only what this test started
            try:
                os.killpg(g, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not term.exited():
            os.waitpid(term.pid, 0)
        os.close(term.fd)
