"""``python -m devhost.standins.arm`` runs on its own and serves HTTPS with the CA it writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_runs_as_a_process(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "devhost.standins.arm", "--port", "0", "--token", "tok",
                             "--cert-dir", str(tmp_path), "--factory", "adf-proc", "--latency-ms", "1"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server printed its URL (or exited)
        assert "listening on https://" in line, proc.stderr.read() if proc.stderr else line
        url = line.split("listening on ")[1].split()[0]
        ca = tmp_path / "ca.pem"
        assert ca.is_file()
        factory = (f"{url}/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/"
                   "rg-dataops-local/providers/Microsoft.DataFactory/factories/adf-proc?api-version=2018-06-01")
        # the URL is printed after the socket is bound: no waiting needed
        resp = requests.get(factory, headers={"Authorization": "Bearer tok"}, verify=str(ca), timeout=5)
        assert resp.status_code == 200 and resp.json()["name"] == "adf-proc"
        assert requests.get(factory, verify=str(ca), timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
