"""``dataops local up``: the whole product on one machine (SPEC section 9).

Starts Azurite, the Databricks and ARM/Data Factory stand-ins and the Functions
app (Core Tools' ``func start`` when installed, else the project's dev host),
creates a sample data-platform repository from ``devhost/sample/`` with ``main``
and ``adf_publish``, commits to both, delivers the signed GitHub webhooks to
``http://localhost:7071/api/hooks/github`` exactly as GitHub would, waits for
the queue worker to deploy, and prints what happened. ``--once`` exits when
done (non-zero when a step failed); otherwise it keeps serving until Ctrl-C.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .azurite import ROOT, Azurite, free_port, start_azurite

SAMPLE = ROOT / "devhost" / "sample"
CONFIG = "infra/environments.local.yaml"
HOST_PORT = 7071
DATABRICKS_PORT = 7081
ARM_PORT = 7443
SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
FACTORIES = [("rg-data-dev", "adf-sample-dev"), ("rg-data-test", "adf-sample-test"),
             ("rg-data-prod", "adf-sample-prod")]


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 74 - len(text)))


@dataclass
class Stack:
    workdir: Path
    azurite: Azurite | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    webhook_secret: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{HOST_PORT}/api"

    def stop(self) -> None:
        for p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in reversed(self.processes):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.azurite:
            self.azurite.stop()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is fine
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _wait_http(url: str, deadline: float, *, verify: str | None = None) -> None:
    import ssl

    ctx = ssl.create_default_context(cafile=verify) if verify else None
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2, context=ctx)
            return
        except urllib.error.HTTPError:
            return  # the server answers: that is all we wait for
        except (urllib.error.URLError, OSError) as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up: {last}")


def _spawn(stack: Stack, name: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")  # a fresh log per run
    proc = subprocess.Popen(args, cwd=ROOT, env=stack.env, stdout=handle, stderr=subprocess.STDOUT)
    stack.processes.append(proc)
    say(f"  started {name} (pid {proc.pid}, log {log.relative_to(ROOT)})")
    return proc


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    return out.stdout.strip()


AUTHOR = {"GIT_AUTHOR_NAME": "Dana Engineer", "GIT_AUTHOR_EMAIL": "dana@contoso.example",
          "GIT_COMMITTER_NAME": "Dana Engineer", "GIT_COMMITTER_EMAIL": "dana@contoso.example"}


def build_sample_repo(path: Path) -> None:
    """A git repository with ``main`` (notebooks) and ``adf_publish`` (ARM templates)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.name", "Dana Engineer")
    _git(path, "config", "user.email", "dana@contoso.example")
    shutil.copytree(SAMPLE / "notebooks", path / "notebooks")
    (path / "README.md").write_text("# Contoso data platform (sample)\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "Initial notebooks", env=AUTHOR)
    _git(path, "checkout", "-q", "--orphan", "adf_publish")
    _git(path, "rm", "-rq", "--cached", ".")
    for p in list(path.iterdir()):
        if p.name != ".git":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    shutil.copytree(SAMPLE / "adf-sample", path / "adf-sample")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "Publish from ADF Studio", env=AUTHOR)
    _git(path, "checkout", "-q", "main")


def commit_change(repo: Path, branch: str, edit: Any, message: str) -> tuple[str, str]:
    """Commit ``edit(repo)`` on ``branch``; returns (before, after) SHAs."""
    _git(repo, "checkout", "-q", branch)
    before = _git(repo, "rev-parse", "HEAD")
    edit(repo)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, env=AUTHOR)
    after = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "main")
    return before, after


def github_push(repo: Path, repo_url: str, branch: str, before: str, after: str) -> dict[str, Any]:
    """The body GitHub sends for a push (the fields the product reads, and the usual others)."""
    fmt = "%H%x1f%an%x1f%ae%x1f%cI%x1f%s"
    created = set(before) == {"0"}
    lines = _git(repo, "log", f"--format={fmt}", after if created else f"{before}..{after}").splitlines()
    commits = []
    for line in reversed(lines):
        sha, name, email, ts, msg = line.split("\x1f")
        commits.append({"id": sha, "tree_id": sha, "distinct": True, "message": msg, "timestamp": ts,
                        "url": f"{repo_url}/commit/{sha}",
                        "author": {"name": name, "email": email, "username": "dana"},
                        "committer": {"name": name, "email": email, "username": "dana"},
                        "added": [], "removed": [], "modified": []})
    return {"ref": f"refs/heads/{branch}", "before": before, "after": after, "created": created,
            "deleted": False, "forced": False, "base_ref": None, "compare": f"{repo_url}/compare",
            "commits": commits, "head_commit": commits[-1] if commits else None,
            "repository": {"id": 1, "name": repo.name, "full_name": f"contoso/{repo.name}",
                           "html_url": repo_url, "clone_url": repo_url, "url": repo_url,
                           "default_branch": "main"},
            "pusher": {"name": "dana", "email": "dana@contoso.example"},
            "sender": {"login": "dana", "id": 1, "type": "User"}}


def deliver(stack: Stack, payload: dict[str, Any], event: str = "push") -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(stack.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"{stack.api}/hooks/github", data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/local",
        "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": sig})
    return _call(req)


def _call(req: urllib.request.Request | str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"{}")
        except ValueError:
            return err.code, {}


def get(stack: Stack, path: str) -> Any:
    status, body = _call(f"{stack.api}/{path}")
    if status >= 400:
        raise RuntimeError(f"GET /api/{path} answered {status}: {body}")
    return body


def start(stack: Stack) -> None:
    heading("Starting the local stack")
    logs = stack.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for port in (HOST_PORT, DATABRICKS_PORT, ARM_PORT):
        if not _port_free(port):
            raise RuntimeError(f"port {port} is in use: is another `make run` still running?")
    stack.azurite = start_azurite()
    say(f"  started Azurite (blob {stack.azurite.blob_port}, queue {stack.azurite.queue_port}, "
        f"table {stack.azurite.table_port})")
    arm_token, dbx_token = secrets.token_urlsafe(24), "dapi" + secrets.token_hex(16)
    stack.webhook_secret = secrets.token_urlsafe(24)
    certs = stack.workdir / "certs"
    (certs / "ca.pem").unlink(missing_ok=True)  # a new CA each run: never trust last run's file
    stack.env = {**os.environ, "AzureWebJobsStorage": stack.azurite.connection_string,
                 "DATAOPS_CONFIG": CONFIG, "DATAOPS_DEPLOY_QUEUE": "dataops-deployments",
                 "GITHUB_WEBHOOK_SECRET": stack.webhook_secret,
                 "LOCAL_ARM_TOKEN": arm_token, "LOCAL_DATABRICKS_TOKEN": dbx_token,
                 "REQUESTS_CA_BUNDLE": str(certs / "ca.pem"), "PYTHONUNBUFFERED": "1",
                 "AZURE_CORE_ONLY_SHOW_ERRORS": "1",
                 # Traces without any cloud: every span as a JSON line (`dataops audit show ID --trace`).
                 "DATAOPS_TRACE_FILE": str(stack.workdir / "traces.jsonl"), "OTEL_BSP_SCHEDULE_DELAY": "500",
                 # App Service Authentication stand-in: the dev host signs requests in as this user
                 "DATAOPS_LOCAL_PRINCIPAL": os.environ.get("DATAOPS_LOCAL_PRINCIPAL", "dev@contoso.example")}
    py = sys.executable
    _spawn(stack, "Databricks stand-in", [py, "-m", "devhost.standins.databricks", "--host", "127.0.0.1",
                                          "--port", str(DATABRICKS_PORT), "--token", dbx_token],
           logs / "databricks.log")
    _spawn(stack, "ARM / Data Factory stand-in", [py, "-m", "devhost.standins.arm", "--host", "127.0.0.1",
                                                   "--port", str(ARM_PORT), "--token", arm_token,
                                                   "--cert-dir", str(certs)], logs / "arm.log")
    deadline = time.monotonic() + 60
    _wait_http(f"http://127.0.0.1:{DATABRICKS_PORT}/api/2.0/workspace/list", deadline)
    while not (certs / "ca.pem").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    _wait_http(f"https://127.0.0.1:{ARM_PORT}/subscriptions", deadline, verify=str(certs / "ca.pem"))
    create_factories(stack)
    host_cmd = ["func", "start", "--port", str(HOST_PORT)] if shutil.which("func") else \
        [py, "-m", "devhost", "--port", str(HOST_PORT)]
    _spawn(stack, "Functions app" + (" (func start)" if host_cmd[0] == "func" else " (dev host)"), host_cmd,
           logs / "functions.log")
    _wait_http(f"{stack.api}/deployments?limit=1", time.monotonic() + 90)
    env_file = stack.workdir / "local.env"
    env_file.write_text("".join(f"export {k}='{stack.env[k]}'\n" for k in (
        "AzureWebJobsStorage", "DATAOPS_CONFIG", "DATAOPS_DEPLOY_QUEUE", "LOCAL_ARM_TOKEN",
        "LOCAL_DATABRICKS_TOKEN", "REQUESTS_CA_BUNDLE", "DATAOPS_TRACE_FILE")))
    say(f"  Functions app on {stack.api}/  (settings for the CLI: source {env_file.relative_to(ROOT)})")


def create_factories(stack: Stack) -> None:
    """Provision the (empty) factories, as the platform's own IaC would, through the real SDK."""
    from shared.adf.arm import factory_client
    from shared.config import load_config
    from shared.settings import Settings

    config = load_config(ROOT / CONFIG)
    settings = Settings(stack.env)
    for name, env in config.environments.items():
        target = env.data_factory
        if target is None:
            continue
        from azure.mgmt.datafactory.models import Factory

        factory_client(target, settings).factories.create_or_update(
            target.resource_group, target.factory_name, Factory(location="westeurope"))
        say(f"  created factory {target.factory_name} in {target.resource_group} ({name})")


FINAL = {"succeeded", "failed", "superseded", "rejected", "rolled_back"}


def wait_for(stack: Stack, what: str, predicate: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = get(stack, "deployments?limit=100")
        if predicate(last.get("items", [])):
            return last["items"]
        time.sleep(0.5)
    stack.failures.append(f"timed out waiting for {what}")
    return (last or {}).get("items", [])


def show_deployment(stack: Stack, dep_id: str) -> None:
    d = get(stack, f"deployments/{dep_id}")
    rec = d.get("deployment", d)
    say(f"  {rec['id']}  {rec['environment']}/{rec['component']}  {rec['status']}  "
        f"commit {rec['commit'][:8]}  trigger {rec.get('trigger')}  actor {rec.get('actor')}")
    plan = rec.get("plan") or d.get("plan") or {}
    counts = plan.get("counts") or {}
    if counts:
        say("    plan: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    objects = [o for o in d.get("objects") or [] if o.get("object_type") != "check"]
    checks = [o for o in d.get("objects") or [] if o.get("object_type") == "check"]
    for o in objects[:12]:
        say(f"    {o.get('action', ''):<9} {o.get('status', ''):<10} {o.get('object_type', '')}: {o.get('name', '')}")
    if len(objects) > 12:
        say(f"    ... and {len(objects) - 12} more objects")
    for c in checks:  # the verification step (docs/verify.md)
        det = c.get("details") or {}
        say(f"    verify    {c.get('status', ''):<10} check: {c.get('name')} ({det.get('kind')}, {det.get('state')}, "
            f"{det.get('duration_s', 0):.1f} s, run {det.get('run_id')})" + (f": {c['error']}" if c.get("error") else ""))
    if rec.get("error"):
        say(f"    error: {rec['error']}")


ZERO = "0" * 40


def _settled(items: list[dict[str, Any]], commits: set[str]) -> bool:
    """Every deployment of ``commits`` ended or waits for a person, and prod has them."""
    mine = [i for i in items if i["commit"] in commits]
    return (len({(i["environment"], i["component"]) for i in mine}) == 6
            and all(i["status"] in FINAL or i["status"] == "waiting_approval" for i in mine))


def _round(stack: Stack, repo: Path, repo_url: str, title: str,
           pushes: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Deliver one push per (branch, before, after); wait until dev, test and prod have them."""
    heading(title)
    for branch, before, after in pushes:
        status, body = deliver(stack, github_push(repo, repo_url, branch, before, after))
        say(f"  push {branch} {after[:8]} -> POST /api/hooks/github: {status} "
            f"{body.get('status')} {', '.join(body.get('deployments', []))}")
        if status != 202 or body.get("status") != "queued":
            stack.failures.append(f"webhook for {branch} answered {status} {body}")
    commits = {after for _, _, after in pushes}
    items = wait_for(stack, f"{title}: dev, test and prod", lambda its: _settled(its, commits), timeout=180)
    mine = sorted((i for i in items if i["commit"] in commits), key=lambda i: i["id"])
    for i in mine:
        show_deployment(stack, i["id"])
        if i["status"] == "failed":
            stack.failures.append(f"{i['id']} failed: {i.get('error')}")
    for env in ("dev", "test"):
        if not all(i["status"] == "succeeded" for i in mine if i["environment"] == env):
            stack.failures.append(f"{title}: {env} did not succeed")
    if not all(i["status"] == "waiting_approval" for i in mine if i["environment"] == "prod"):
        stack.failures.append(f"{title}: prod is not waiting for approval")
    return items


def scenario(stack: Stack) -> None:
    repo = ROOT / ".local" / "sample-repo"
    heading("Sample data platform repository")
    build_sample_repo(repo)
    say(f"  {repo.relative_to(ROOT)}: branches main (notebooks/) and adf_publish (adf-sample/)")
    repo_url = CONFIG_REPO_URL
    first = [(b, ZERO, _git(repo, "rev-parse", b)) for b in ("main", "adf_publish")]
    _round(stack, repo, repo_url, "First push of main and adf_publish: everything is new", first)

    def edit_notebook(r: Path) -> None:
        p = r / "notebooks" / "transform" / "clean_sales.py"
        p.write_text(p.read_text() + "\n# COMMAND ----------\n\nprint('rows cleaned')\n")

    def edit_factory(r: Path) -> None:
        p = r / "adf-sample" / "ARMTemplateForFactory.json"
        t = json.loads(p.read_text())
        for res in t["resources"]:
            if res["name"].endswith("/tr_daily_0600')]"):
                res["properties"]["typeProperties"]["recurrence"]["schedule"]["hours"] = [5]
        p.write_text(json.dumps(t, indent=4))

    second = []
    for branch, edit, message in (("main", edit_notebook, "Count cleaned rows"),
                                  ("adf_publish", edit_factory, "Move the daily load to 05:00")):
        before, after = commit_change(repo, branch, edit, message)
        second.append((branch, before, after))
    items = _round(stack, repo, repo_url,
                   "A merge to main and a publish from ADF Studio: only the change is deployed", second)
    older = {after for _, _, after in first}
    if not all(i["status"] == "superseded" for i in items
               if i["environment"] == "prod" and i["commit"] in older):
        stack.failures.append("the older prod deployments waiting for approval were not superseded")

    heading("Deployment history (dataops audit list)")
    subprocess.run([sys.executable, "-m", "shared.cli", "--config", CONFIG, "audit", "list", "--limit", "20"],
                   cwd=ROOT, env=stack.env, check=False)
    traced = next((i for i in items if i["environment"] == "dev" and i.get("trace_id")), None)
    if traced is not None:
        heading(f"Trace of {traced['id']} (dataops audit show ID --trace)")
        deadline, out = time.monotonic() + 15, ""
        while time.monotonic() < deadline and " ms" not in out:  # the host exports spans every 0.5 s
            out = subprocess.run([sys.executable, "-m", "shared.cli", "--config", CONFIG, "audit", "show",
                                  traced["id"], "--trace"], cwd=ROOT, env=stack.env, check=False,
                                 capture_output=True, text=True).stdout
        say(out[out.find("\ntrace ") + 1:] if "\ntrace " in out else out)
    heading("DORA metrics (GET /api/metrics/dora?environment=dev&days=30)")
    status, body = _call(f"{stack.api}/metrics/dora?environment=dev&days=30")
    if status != 200:
        stack.failures.append(f"GET /api/metrics/dora answered {status}")
    say(json.dumps(body, indent=2)[:3000])
    heading("Explore")
    say(f"  dashboard:   http://localhost:{HOST_PORT}/api/dashboard")
    say(f"  history:     curl 'http://localhost:{HOST_PORT}/api/deployments?environment=dev'")
    say(f"  CLI:         source .local/local.env && .venv/bin/dataops --config {CONFIG} audit list")
    say(f"  trace:       .venv/bin/dataops --config {CONFIG} audit show ID --trace  (spans in .local/traces.jsonl)")
    waiting = [i for i in items if i["status"] == "waiting_approval"]
    if waiting:
        say(f"  approve:     curl -X POST -H 'X-MS-CLIENT-PRINCIPAL-NAME: lee@contoso.example' "
            f"http://localhost:{HOST_PORT}/api/deployments/{waiting[0]['id']}/approve")
    say(f"  stop dev:    .venv/bin/dataops --config {CONFIG} env stop dev --dry-run")


CONFIG_REPO_URL = ".local/sample-repo"


def up(*, once: bool = False) -> int:
    workdir = ROOT / ".local"
    workdir.mkdir(exist_ok=True)
    stack = Stack(workdir)
    try:
        start(stack)
        scenario(stack)
        heading("Result")
        if stack.failures:
            for f in stack.failures:
                say(f"  FAILED: {f}")
        else:
            say("  every step succeeded")
        if once:
            return 1 if stack.failures else 0
        say("  serving until Ctrl-C ...")
        while all(p.poll() is None for p in stack.processes):
            time.sleep(1)
        say("  a process of the stack exited; see .local/logs/")
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as err:
        say(f"local stack failed: {err}")
        return 1
    finally:
        stack.stop()


__all__ = ["free_port", "up"]
