"""Start Azurite (the official Azure Storage emulator, from npm) on free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# The well-known, public Azurite development key (not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def connection_string(host: str, blob: int, queue: int, table: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://{host}:{blob}/{ACCOUNT};QueueEndpoint=http://{host}:{queue}/{ACCOUNT};"
            f"TableEndpoint=http://{host}:{table}/{ACCOUNT};")


def azurite_binary() -> str:
    local = ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if not found:
        raise RuntimeError("Azurite is not installed: run `make bootstrap` (npm ci) first")
    return found


def _wait_port(host: str, port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"Azurite did not open port {port} in time")


@dataclass
class Azurite:
    process: subprocess.Popen[bytes]
    host: str
    blob_port: int
    queue_port: int
    table_port: int
    workdir: str
    keep: bool = False  # a location given by the caller: its data outlives this process

    @property
    def connection_string(self) -> str:
        return connection_string(self.host, self.blob_port, self.queue_port, self.table_port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_azurite(host: str = "127.0.0.1", *, ports: tuple[int, int, int] | None = None,
                  in_memory: bool = True, timeout: float = 60.0, location: Path | None = None,
                  spawn: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen) -> Azurite:
    """Azurite on ``ports`` (free ones by default): in memory, in a private temporary folder
    (``in_memory=False``), or keeping its data in ``location`` across runs. ``spawn`` starts the
    process (``dataops local up`` starts it in the stack's process group)."""
    blob, queue, table = ports or (free_port(host), free_port(host), free_port(host))
    if location is not None:
        location.mkdir(parents=True, exist_ok=True)
    workdir = str(location) if location is not None else tempfile.mkdtemp(prefix="azurite-")
    cmd = [azurite_binary(), "--silent", "--skipApiVersionCheck", "--loose", "--disableProductStyleUrl",
           "--blobHost", host, "--blobPort", str(blob), "--queueHost", host, "--queuePort", str(queue),
           "--tableHost", host, "--tablePort", str(table)]
    # In-memory: nothing on disk to clean up; otherwise a folder (private, or the caller's).
    cmd += ["--inMemoryPersistence"] if in_memory and location is None else ["--location", workdir]
    proc = spawn(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                 env={**os.environ, "NODE_NO_WARNINGS": "1"})
    deadline = time.monotonic() + timeout
    try:
        for port in (blob, queue, table):
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"Azurite exited: {err[-2000:]}")
            _wait_port(host, port, deadline)
    except Exception:
        proc.kill()
        raise
    return Azurite(proc, host, blob, queue, table, workdir, keep=location is not None)
