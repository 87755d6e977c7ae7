"""``dataops local up``: the whole product on one machine (SPEC section 9).

Starts Azurite, the Databricks and ARM/Data Factory stand-ins and the Functions
app (Core Tools' ``func start`` when installed, else the project's dev host),
creates a sample data-platform repository from ``devhost/sample/`` with ``main``
and ``adf_publish``, commits to both, delivers the signed GitHub webhooks to
``http://localhost:7071/api/hooks/github`` exactly as GitHub would, waits for
the queue worker to deploy, and prints what happened. ``--once`` exits when
done (non-zero when a step failed); otherwise it keeps serving until Ctrl-C.

Every process it starts is in one process group of its own; SIGINT, SIGTERM or
SIGHUP to ``dataops local up`` (also while it is still starting) stops the whole
group and waits until it is gone. Azurite keeps its data in ``.local/azurite``
(``--fresh`` starts over); ``.local/local.env`` holds what the CLI and a user's
own ``curl`` need. Ports: ``--port-base N`` (or ``DATAOPS_LOCAL_PORT_BASE``)
puts the host on N, the stand-ins on N+1 and N+2 and Azurite on N+3..N+5.
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
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
PORT_BASE_SETTING = "DATAOPS_LOCAL_PORT_BASE"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
FACTORIES = [("rg-data-dev", "adf-sample-dev"), ("rg-data-test", "adf-sample-test"),
             ("rg-data-prod", "adf-sample-prod")]


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 74 - len(text)))


@dataclass(frozen=True)
class Ports:
    """The stack's ports: ``make run``'s fixed ones (Azurite on free ports), or all from one base."""

    host: int = HOST_PORT
    databricks: int = DATABRICKS_PORT
    arm: int = ARM_PORT
    azurite: tuple[int, int, int] | None = None

    @classmethod
    def from_base(cls, base: int | None) -> Ports:
        if base is None:
            return cls()
        if not 1024 <= base <= 65530:
            raise ValueError(f"port base {base} is not in 1024..65530")
        return cls(base, base + 1, base + 2, (base + 3, base + 4, base + 5))

    def all(self) -> tuple[int, ...]:
        return (self.host, self.databricks, self.arm, *(self.azurite or ()))


def _pdeathsig() -> Any:
    """``prctl(PR_SET_PDEATHSIG, SIGTERM)`` on Linux: a child also stops when ``local up`` is killed -9."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


@dataclass
class Stack:
    workdir: Path
    ports: Ports = field(default_factory=Ports)
    azurite: Azurite | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    group: int | None = None  # the process group of everything the stack started
    env: dict[str, str] = field(default_factory=dict)
    webhook_secret: str = ""
    key: str = ""  # the app's default host key (x-functions-key / ?code=): every route but the webhooks needs it
    failures: list[str] = field(default_factory=list)
    config: str = CONFIG  # the platform configuration (rendered into workdir for other ports/folders)
    history_kept: bool = False  # storage and the sample repository of the last run are still there

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports.host}/api"

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a process in the stack's process group (the first one leads it).

        The stop signals are held back until the process is recorded, so a signal while starting
        still finds (and stops) it; the child gets them back before it runs.
        """
        held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        deathsig = _pdeathsig()

        def child() -> None:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            if deathsig is not None:
                deathsig()

        try:
            proc = subprocess.Popen(args, process_group=self.group or 0, preexec_fn=child, **kwargs)
            self.processes.append(proc)
            if self.group is None:
                self.group = proc.pid
                say(f"  processes of the stack: process group {self.group}")
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return proc

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the whole group, SIGKILL to what is left after ``timeout``; wait until it is gone."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}  # a second Ctrl-C waits
        try:
            if self.group is not None:
                _signal_group(self.group, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                for p in self.processes:
                    try:
                        p.wait(timeout=max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        pass
                _signal_group(self.group, signal.SIGKILL)
                for p in self.processes:
                    p.wait()
                _wait_group_gone(self.group, time.monotonic() + timeout)
            if self.azurite:
                self.azurite.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _signal_group(group: int, sig: int) -> None:
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_group_gone(group: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)


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
    with log.open("wb") as handle:  # a fresh log per run
        proc = stack.popen(args, cwd=ROOT, env=stack.env, stdout=handle, stderr=subprocess.STDOUT)
    say(f"  started {name} (pid {proc.pid}, log {_shown(log)})")
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


def _call(req: urllib.request.Request | str, key: str = "") -> tuple[int, dict[str, Any]]:
    if isinstance(req, str):
        req = urllib.request.Request(req)
    if key:
        req.add_header("x-functions-key", key)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"{}")
        except ValueError:
            return err.code, {}


def get(stack: Stack, path: str) -> Any:
    status, body = _call(f"{stack.api}/{path}", stack.key)
    if status >= 400:
        raise RuntimeError(f"GET /api/{path} answered {status}: {body}")
    return body


def start(stack: Stack) -> None:
    heading("Starting the local stack")
    logs = stack.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ports = stack.ports
    for port in ports.all():
        if not _port_free(port):
            raise RuntimeError(f"port {port} is in use: is another `make run` still running?")
    stack.azurite = start_azurite(ports=ports.azurite, location=stack.workdir / "azurite", spawn=stack.popen)
    say(f"  started Azurite (pid {stack.azurite.process.pid}; blob {stack.azurite.blob_port}, queue "
        f"{stack.azurite.queue_port}, table {stack.azurite.table_port}; data in "
        f"{_shown(stack.workdir / 'azurite')})")
    arm_token, dbx_token = secrets.token_urlsafe(24), "dapi" + secrets.token_hex(16)
    stack.webhook_secret = secrets.token_urlsafe(24)
    certs = stack.workdir / "certs"
    (certs / "ca.pem").unlink(missing_ok=True)  # a new CA each run: never trust last run's file
    stack.env = {**os.environ, "AzureWebJobsStorage": stack.azurite.connection_string,
                 "DATAOPS_CONFIG": stack.config, "DATAOPS_DEPLOY_QUEUE": "dataops-deployments",
                 # The webhook secrets of the three sources (a user's own signed push: .local/local.env).
                 "GITHUB_WEBHOOK_SECRET": stack.webhook_secret, "GITLAB_WEBHOOK_TOKEN": secrets.token_urlsafe(24),
                 "AZDO_WEBHOOK_USER": "dataops-local", "AZDO_WEBHOOK_PASSWORD": secrets.token_urlsafe(24),
                 "LOCAL_ARM_TOKEN": arm_token, "LOCAL_DATABRICKS_TOKEN": dbx_token,
                 "REQUESTS_CA_BUNDLE": str(certs / "ca.pem"), "PYTHONUNBUFFERED": "1",
                 "AZURE_CORE_ONLY_SHOW_ERRORS": "1",
                 # Traces without any cloud: every span as a JSON line (`dataops audit show ID --trace`).
                 "DATAOPS_TRACE_FILE": str(stack.workdir / "traces.jsonl"), "OTEL_BSP_SCHEDULE_DELAY": "500",
                 # App Service Authentication stand-in: the dev host signs requests in as this user
                 "DATAOPS_LOCAL_PRINCIPAL": os.environ.get("DATAOPS_LOCAL_PRINCIPAL", "dev@contoso.example")}
    py = sys.executable
    _spawn(stack, "Databricks stand-in", [py, "-m", "devhost.standins.databricks", "--host", "127.0.0.1",
                                          "--port", str(ports.databricks), "--token", dbx_token,
                                          "--user", AUTHOR["GIT_AUTHOR_EMAIL"], "--group", "data-readers"],
           logs / "databricks.log")
    _spawn(stack, "ARM / Data Factory stand-in", [py, "-m", "devhost.standins.arm", "--host", "127.0.0.1",
                                                   "--port", str(ports.arm), "--token", arm_token,
                                                   "--cert-dir", str(certs)], logs / "arm.log")
    deadline = time.monotonic() + 180  # a busy machine starts Python processes slowly
    _wait_http(f"http://127.0.0.1:{ports.databricks}/api/2.0/workspace/list", deadline)
    while not (certs / "ca.pem").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the ARM stand-in wrote no CA in time (see {_shown(logs / 'arm.log')})")
        time.sleep(0.1)
    _wait_http(f"https://127.0.0.1:{ports.arm}/subscriptions", deadline, verify=str(certs / "ca.pem"))
    create_factories(stack)
    host_cmd = ["func", "start", "--port", str(ports.host)] if shutil.which("func") else \
        [py, "-m", "devhost", "--port", str(ports.host)]
    _spawn(stack, "Functions app" + (" (func start)" if host_cmd[0] == "func" else " (dev host)"), host_cmd,
           logs / "functions.log")
    _wait_http(f"{stack.api}/deployments?limit=1", time.monotonic() + 180)
    from .keys import app_keys

    # As `az functionapp keys list` reads them in Azure: the host keeps them in its storage account.
    stack.key = app_keys(stack.env).default
    env_file = write_local_env(stack)
    say(f"  Functions app on {stack.api}/  (settings for the CLI and curl: source {_shown(env_file)})")
    say(f"  function key (default host key; send it as x-functions-key or ?code=): {stack.key}"
        + ("  [func start does not check keys locally]" if host_cmd[0] == "func" else ""))


# What ``.local/local.env`` exports: the CLI's settings (the app's own) and what a user's curl needs.
LOCAL_ENV = ("AzureWebJobsStorage", "DATAOPS_CONFIG", "DATAOPS_DEPLOY_QUEUE", "DATAOPS_API", "DATAOPS_FUNCTION_KEY",
             "GITHUB_WEBHOOK_SECRET", "GITLAB_WEBHOOK_TOKEN", "AZDO_WEBHOOK_USER", "AZDO_WEBHOOK_PASSWORD",
             "DATAOPS_LOCAL_PRINCIPAL", "LOCAL_ARM_TOKEN", "LOCAL_DATABRICKS_TOKEN", "REQUESTS_CA_BUNDLE",
             "DATAOPS_TRACE_FILE")


def write_local_env(stack: Stack) -> Path:
    """``.local/local.env`` (owner-only: it holds this run's secrets), rewritten on every start."""
    values = {**stack.env, "DATAOPS_API": stack.api, "DATAOPS_FUNCTION_KEY": stack.key}
    lines = ["# dataops local up: `source .local/local.env`, then the CLI and curl work against the local stack.",
             "# Every route but the webhooks needs the function key, as in Azure: "
             "curl -H \"x-functions-key: $DATAOPS_FUNCTION_KEY\" \"$DATAOPS_API/deployments\"",
             "# A signed push of your own: sig=$(printf %s \"$BODY\" | openssl dgst -sha256 -hmac "
             "\"$GITHUB_WEBHOOK_SECRET\" | cut -d' ' -f2)",
             "#   curl -H 'X-GitHub-Event: push' -H \"X-GitHub-Delivery: $(uuidgen)\" "
             "-H \"X-Hub-Signature-256: sha256=$sig\" -d \"$BODY\" \"$DATAOPS_API/hooks/github\"",
             "# Requests from curl are signed in as DATAOPS_LOCAL_PRINCIPAL (App Service Authentication stand-in).",
             *(f"export {k}={shlex.quote(values[k])}" for k in LOCAL_ENV if values.get(k))]
    path = stack.workdir / "local.env"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _shown(path: Path) -> str:
    """A path under the repository as the user types it (``.local/...``)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def create_factories(stack: Stack) -> None:
    """Provision the (empty) factories, as the platform's own IaC would, through the real SDK."""
    from shared.adf.arm import factory_client
    from shared.config import load_config
    from shared.settings import Settings

    config = load_config(ROOT / stack.config)
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


def _edit_notebook(r: Path) -> None:
    p = r / "notebooks" / "transform" / "clean_sales.py"
    p.write_text(p.read_text() + "\n# COMMAND ----------\n\nprint('rows cleaned')\n")


def _edit_factory(r: Path) -> None:
    """Move the daily trigger to 05:00 (back to 06:00 when it is there already: a restart's second edit)."""
    p = r / "adf-sample" / "ARMTemplateForFactory.json"
    t = json.loads(p.read_text())
    for res in t["resources"]:
        if res["name"].endswith("/tr_daily_0600')]"):
            schedule = res["properties"]["typeProperties"]["recurrence"]["schedule"]
            schedule["hours"] = [6] if schedule.get("hours") == [5] else [5]
    p.write_text(json.dumps(t, indent=4))


def _changes(repo: Path, notebook: str, factory: str) -> list[tuple[str, str, str]]:
    return [(branch, *commit_change(repo, branch, edit, message))
            for branch, edit, message in (("main", _edit_notebook, notebook), ("adf_publish", _edit_factory, factory))]


def scenario(stack: Stack) -> None:
    repo = stack.workdir / "sample-repo"
    heading("Sample data platform repository")
    if stack.history_kept:
        say(f"  {_shown(repo)}: kept with the history from the last run (`--fresh` starts over)")
    else:
        build_sample_repo(repo)
        say(f"  {_shown(repo)}: branches main (notebooks/) and adf_publish (adf-sample/)")
    repo_url = _shown(repo)
    if stack.history_kept:  # the last run's commits are deployed: carry on from them
        first = _changes(repo, "Count cleaned rows again", "Move the daily load")
        _round(stack, repo, repo_url, "After a restart: a new commit on main and adf_publish", first)
    else:
        first = [(b, ZERO, _git(repo, "rev-parse", b)) for b in ("main", "adf_publish")]
        _round(stack, repo, repo_url, "First push of main and adf_publish: everything is new", first)
    second = _changes(repo, "Count cleaned rows", "Move the daily load to 05:00")
    items = _round(stack, repo, repo_url,
                   "A merge to main and a publish from ADF Studio: only the change is deployed", second)
    older = {after for _, _, after in first}
    if not all(i["status"] == "superseded" for i in items
               if i["environment"] == "prod" and i["commit"] in older):
        stack.failures.append("the older prod deployments waiting for approval were not superseded")

    from .localstack_branches import branch_scenario

    branch_scenario(stack, repo, repo_url)
    heading("Deployment history (dataops audit list)")
    subprocess.run([sys.executable, "-m", "shared.cli", "--config", stack.config, "audit", "list", "--limit", "20"],
                   cwd=ROOT, env=stack.env, check=False)
    traced = next((i for i in items if i["environment"] == "dev" and i.get("trace_id")), None)
    if traced is not None:
        heading(f"Trace of {traced['id']} (dataops audit show ID --trace)")
        deadline, out = time.monotonic() + 15, ""
        while time.monotonic() < deadline and " ms" not in out:  # the host exports spans every 0.5 s
            out = subprocess.run([sys.executable, "-m", "shared.cli", "--config", stack.config, "audit", "show",
                                  traced["id"], "--trace"], cwd=ROOT, env=stack.env, check=False,
                                 capture_output=True, text=True).stdout
        say(out[out.find("\ntrace ") + 1:] if "\ntrace " in out else out)
    heading("DORA metrics (GET /api/metrics/dora?environment=dev&days=30)")
    status, body = _call(f"{stack.api}/metrics/dora?environment=dev&days=30", stack.key)
    if status != 200:
        stack.failures.append(f"GET /api/metrics/dora answered {status}")
    say(json.dumps(body, indent=2)[:3000])
    heading("Explore")
    local, config, port = _shown(stack.workdir), stack.config, stack.ports.host
    code = urllib.parse.quote(stack.key, safe="")
    say(f"  dashboard:   http://localhost:{port}/api/dashboard?code={code}")
    say(f"  history:     curl -H \"x-functions-key: $DATAOPS_FUNCTION_KEY\" "
        f"'http://localhost:{port}/api/deployments?environment=dev'   (after: source {local}/local.env)")
    say(f"  CLI:         source {local}/local.env && .venv/bin/dataops --config {config} audit list")
    say(f"  trace:       .venv/bin/dataops --config {config} audit show ID --trace  (spans in {local}/traces.jsonl)")
    waiting = [i for i in items if i["status"] == "waiting_approval"]
    if waiting:
        say(f"  approve:     curl -X POST -H \"x-functions-key: $DATAOPS_FUNCTION_KEY\" "
            f"http://localhost:{port}/api/deployments/{waiting[0]['id']}/approve")
    say(f"  stop dev:    .venv/bin/dataops --config {config} env stop dev --dry-run")
    say(f"  branches:    curl -H \"x-functions-key: $DATAOPS_FUNCTION_KEY\" 'http://localhost:{port}/api/branches?state=all'")


def render_config(stack: Stack) -> str:
    """``infra/environments.local.yaml`` as is for ``make run``; for other ports or another folder a
    copy in the folder with the stand-ins' ports and the sample repository's path put in."""
    ports = stack.ports
    if ports.host == HOST_PORT and ports.databricks == DATABRICKS_PORT and ports.arm == ARM_PORT \
            and stack.workdir == ROOT / ".local":
        return CONFIG
    text = (ROOT / CONFIG).read_text()
    text = text.replace("127.0.0.1:7081", f"127.0.0.1:{ports.databricks}")
    text = text.replace("127.0.0.1:7443", f"127.0.0.1:{ports.arm}")
    text = text.replace("url: .local/sample-repo", f"url: {stack.workdir / 'sample-repo'}")
    path = stack.workdir / "environments.local.yaml"
    path.write_text(text)
    return _shown(path)


LOCAL_DIR_SETTING = "DATAOPS_LOCAL_DIR"  # the stack's folder (default .local; tests use their own)


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) arrived: unwind like Ctrl-C, stopping what was started."""


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise Stopped(signal.Signals(signum).name)


def keep_history(workdir: Path, fresh: bool) -> bool:
    """Keep the last run's storage, traces and sample repository, unless ``fresh`` (or one is missing:
    storage without its repository, or the reverse, cannot be continued). True when kept."""
    kept = (workdir / "azurite").is_dir() and (workdir / "sample-repo" / ".git").is_dir() and not fresh
    if not kept:
        for name in ("azurite", "traces.jsonl", "sample-repo"):
            target = workdir / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    return kept


def up(*, once: bool = False, fresh: bool = False, port_base: int | None = None) -> int:
    previous = {sig: signal.signal(sig, _stop_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    stack: Stack | None = None
    try:
        env_base = os.environ.get(PORT_BASE_SETTING)
        ports = Ports.from_base(port_base if port_base is not None else int(env_base) if env_base else None)
        workdir = Path(os.environ.get(LOCAL_DIR_SETTING) or ROOT / ".local").resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        stack = Stack(workdir, ports)
        stack.history_kept = keep_history(workdir, fresh)
        stack.config = render_config(stack)
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
        say(f"  a process of the stack exited; see {_shown(workdir / 'logs')}/")
        return 1
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM, SIGHUP
        say(f"\n  stopping ({stop.args[0] if isinstance(stop, Stopped) else 'SIGINT'}) ...")
        return 0
    except (RuntimeError, ValueError) as err:
        say(f"local stack failed: {err}")
        return 1
    finally:
        if stack is not None:
            stack.stop()
            if stack.group is not None:
                say(f"  stopped process group {stack.group}")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["free_port", "up"]
