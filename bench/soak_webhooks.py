"""Webhook fuzzer / soak (issue 16): mutated deliveries to the three webhook routes, in process, on Azurite.

Each input starts from a valid push of its source (GitHub, Azure DevOps, GitLab) and is mutated:
a field replaced by another type, a huge or control-character string, a malformed URL or commit id,
a key dropped, JSON nested thousands deep, bytes truncated or flipped, non-UTF-8, headers removed,
too long or duplicated, a wrong signature. Almost every input is then *signed correctly*, so it
reaches the parser: the signature is not what stops it. Every delivery goes through what the
webhook handler runs (``Intake.receive`` behind ``functions._http.handle``, the HTTP error mapping),
two threads per source; the storage writes it caused are counted by the storage transport
(:func:`shared.storage.record_writes`).

Printed (one table, like ``make bench``): inputs, answers by status class, **5xx count (target 0)**,
**writes from invalid input (target 0)**: any storage write made for a delivery answered 4xx, and
**p50/p99 latency** of the answers. Defaults: 10,200 inputs (3,400 per source), seeded, about a
minute or two on 2 cores. ``make soak ARGS="--n 30000 --seed 7"``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

SECRETS = {"GITHUB_WEBHOOK_SECRET": "soak-github-secret", "AZDO_WEBHOOK_USER": "soak",
           "AZDO_WEBHOOK_PASSWORD": "soak-password", "GITLAB_WEBHOOK_TOKEN": "soak-gitlab-token"}
REPOS = {"github": "https://github.com/contoso/data-platform",
         "azure-devops": "https://dev.azure.com/contoso/data/_git/platform",
         "gitlab": "https://gitlab.com/contoso/platform"}

Headers = dict[str, str]


# ------------------------------------------------------------------------------------- valid pushes
def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def github_push(rng: random.Random) -> dict[str, Any]:
    after = _sha(rng)
    return {"ref": "refs/heads/main", "before": _sha(rng), "after": after, "created": False, "deleted": False,
            "forced": False, "repository": {"full_name": "contoso/data-platform",
                                            "clone_url": REPOS["github"] + ".git", "html_url": REPOS["github"],
                                            "ssh_url": "git@github.com:contoso/data-platform.git"},
            "pusher": {"name": "ada"}, "sender": {"login": "ada"},
            "commits": [{"id": after, "message": "Change", "timestamp": "2026-01-05T11:00:00+01:00",
                         "author": {"name": "Ada", "username": "ada"},
                         "added": [], "removed": [], "modified": ["notebooks/a.py"]}]}


def azdo_push(rng: random.Random) -> dict[str, Any]:
    after = _sha(rng)
    return {"id": str(uuid.UUID(int=rng.getrandbits(128))), "eventType": "git.push", "publisherId": "tfs",
            "resource": {"refUpdates": [{"name": "refs/heads/main", "oldObjectId": _sha(rng), "newObjectId": after}],
                         "commits": [{"commitId": after, "comment": "Fix", "author": {
                             "name": "Bo", "email": "bo@example.com", "date": "2026-01-05T10:00:00Z"}}],
                         "repository": {"id": "278d5cd2-584d-4b63-824a-2ba458937249", "name": "platform",
                                        "remoteUrl": REPOS["azure-devops"]},
                         "pushId": rng.randrange(1, 10**6), "pushedBy": {"uniqueName": "bo@example.com"}}}


def gitlab_push(rng: random.Random) -> dict[str, Any]:
    after = _sha(rng)
    return {"object_kind": "push", "event_name": "push", "ref": "refs/heads/main", "before": _sha(rng),
            "after": after, "user_username": "cy", "total_commits_count": 1,
            "project": {"path_with_namespace": "contoso/platform", "git_http_url": REPOS["gitlab"] + ".git",
                        "web_url": REPOS["gitlab"]},
            "commits": [{"id": after, "message": "m", "timestamp": "2026-01-05T09:00:00+00:00",
                         "author": {"name": "Cy", "email": "cy@example.com"},
                         "added": ["notebooks/b.py"], "modified": [], "removed": []}]}


def sign(source: str, body: bytes, rng: random.Random, *, good: bool = True) -> Headers:
    delivery = str(uuid.UUID(int=rng.getrandbits(128)))
    if source == "github":
        secret = SECRETS["GITHUB_WEBHOOK_SECRET"] if good else "wrong"
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": sig}
    if source == "azure-devops":
        password = SECRETS["AZDO_WEBHOOK_PASSWORD"] if good else "wrong"
        token = base64.b64encode(f"{SECRETS['AZDO_WEBHOOK_USER']}:{password}".encode()).decode()
        return {"Content-Type": "application/json", "Authorization": f"Basic {token}"}
    return {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Token": SECRETS["GITLAB_WEBHOOK_TOKEN"] if good else "wrong", "X-Gitlab-Event-UUID": delivery}


# ---------------------------------------------------------------------------------------- mutations
def _hostile_value(rng: random.Random) -> Any:
    choices: list[Callable[[], Any]] = [
        lambda: None, lambda: rng.randrange(-10**12, 10**12), lambda: rng.random() * 1e308, lambda: True,
        lambda: [], lambda: {}, lambda: "", lambda: "x" * rng.choice((256, 1025, 5000, 40_000, 100_000)),
        lambda: "\x00\x01\n\r\t\x7f" * rng.randrange(1, 50), lambda: "é☃😀\u202e\ufeff" * rng.randrange(1, 400),
        lambda: "https://[github.com/contoso/data-platform.git", lambda: "https://github.com:99999999/a/b",
        lambda: "http://user:pass@github.com/contoso/data-platform.git", lambda: "git@github.com:contoso",
        lambda: "refs/heads/" + "/" * rng.randrange(1, 600), lambda: "0" * 40, lambda: "g" * 40,
        lambda: "a" * rng.choice((3, 65, 10_000)), lambda: "2026-13-45T99:99:99Z",
        lambda: [[[[[]]]]] * rng.randrange(1, 100), lambda: {"a": {"b": {"c": "d"}}},
        lambda: [rng.random() for _ in range(rng.randrange(1, 2000))],
        lambda: "../../../etc/passwd", lambda: "%2F%2e%2e", lambda: "'; DROP TABLE x;--",
    ]
    return rng.choice(choices)()


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for p in path[:-1]:
        obj = obj[p]
    if delete:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


def mutate(source: str, payload: dict[str, Any], rng: random.Random) -> tuple[Headers, bytes]:
    p = copy.deepcopy(payload)
    kind = rng.random()
    body: bytes | None = None
    if kind < 0.55:  # one to three fields replaced or dropped
        for _ in range(rng.randrange(1, 4)):
            paths = _paths(p)
            if not paths:
                break
            path = rng.choice(paths)
            _set(p, path, _hostile_value(rng), delete=rng.random() < 0.2)
    elif kind < 0.62:  # deep nesting somewhere
        depth = rng.choice((65, 500, 1000, 5000, 100_000))
        body = json.dumps(p)[:-1].encode() + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"
    elif kind < 0.72:  # bytes broken after serialising
        raw = bytearray(json.dumps(p).encode())
        op = rng.randrange(4)
        if op == 0:
            raw = raw[:rng.randrange(len(raw))]
        elif op == 1:
            for _ in range(rng.randrange(1, 20)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        elif op == 2:
            raw = bytearray(b"\xff\xfe") + raw
        else:
            raw = bytearray(json.dumps([p]).encode())
        body = bytes(raw)
    elif kind < 0.78:  # the whole body another JSON value
        body = json.dumps(_hostile_value(rng)).encode()
    body = body if body is not None else json.dumps(p).encode()
    headers = sign(source, body, rng, good=rng.random() > 0.05)
    hk = rng.random()
    if hk < 0.1:  # headers mutated
        names = list(headers)
        name = rng.choice(names)
        op = rng.randrange(3)
        if op == 0 and name not in ("X-Hub-Signature-256", "Authorization", "X-Gitlab-Token"):
            del headers[name]
        elif op == 1:
            headers[name] = headers[name] + "x" * rng.choice((10, 300, 9000))
        else:
            headers[name] = "\x01" + headers[name]
        if source == "github" and name == "X-GitHub-Event" and op != 0:
            headers[name] = rng.choice(("ping", "issues", "push ", ""))
    elif hk < 0.15 and source == "gitlab":
        headers["X-Gitlab-Idempotency-Key"] = str(_hostile_value(rng))[:500]
    return headers, body


# ---------------------------------------------------------------------------------------------- run
def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else 0.0


def run(n: int = 10_200, seed: int = 1, per_source: int = 2) -> list[dict[str, Any]]:
    import threading

    import azure.functions as func

    from devhost.azurite import start_azurite
    from functions._http import handle, json_response
    from shared.app import AppContext
    from shared.config import parse_config
    from shared.ingest.intake import Intake
    from shared.settings import Settings, StorageNames
    from shared.storage import StorageAccount, record_writes

    azurite = start_azurite()
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    by_source: Counter[str] = Counter()
    latencies: list[float] = []
    bad_writes: list[tuple[str, int, list[str]]] = []
    five_xx: list[tuple[str, int, str]] = []
    try:
        storage = StorageAccount(connection_string=azurite.connection_string,
                                 names=StorageNames(prefix="s" + uuid.uuid4().hex[:10])).ensure()
        env = {"deploy_on": ["push"], "databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"}}
        makers = {"github": github_push, "azure-devops": azdo_push, "gitlab": gitlab_push}

        def source_loop(source: str, count: int, worker: int) -> None:
            # One thread per source, each with its own configuration (the repository is per provider);
            # the webhook handler's own steps: Intake.receive behind the HTTP error mapping.
            ctx = AppContext(settings=Settings(dict(SECRETS)), _config=parse_config({
                "repository": {"provider": source, "url": REPOS[source]}, "environments": {"dev": env}}),
                _storage=storage)
            intake = Intake(ctx.config, ctx.storage, ctx.ledger, ctx.settings, ctx.clock)

            @handle
            def hook(req: func.HttpRequest) -> func.HttpResponse:
                result = intake.receive(source, dict(req.headers.items()), req.get_body() or b"")
                return json_response(result.body, result.status)

            rng = random.Random(f"{seed}:{source}:{worker}")
            for _ in range(count):
                headers, body = mutate(source, makers[source](rng), rng)
                req = func.HttpRequest("POST", f"http://localhost/api/hooks/{source}", headers=headers, body=body)
                with record_writes() as writes:
                    t0 = time.perf_counter()
                    resp = hook(req)
                    ms = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(ms)
                    statuses[resp.status_code] += 1
                    by_source[source] += 1
                    if resp.status_code >= 500:
                        five_xx.append((source, resp.status_code, (resp.get_body() or b"")[:300].decode()))
                    if 400 <= resp.status_code < 500 and writes:
                        bad_writes.append((source, resp.status_code, writes[:5]))

        started = time.monotonic()
        sources = ("github", "azure-devops", "gitlab")
        jobs = [(src, w) for src in sources for w in range(per_source)]
        threads = [threading.Thread(target=source_loop, args=(src, n // len(jobs) + (1 if i < n % len(jobs) else 0), w))
                   for i, (src, w) in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - started
    finally:
        azurite.stop()
    classes = Counter(f"{s // 100}xx" for s in statuses.elements())
    for example in five_xx[:5]:
        print("5xx example:", example, file=sys.stderr)
    for example in bad_writes[:5]:
        print("write from invalid input:", example, file=sys.stderr)
    note = (f"{n} inputs ({', '.join(f'{k} {v}' for k, v in sorted(by_source.items()))}) in {took:.0f} s; "
            f"answers {dict(sorted(classes.items()))}; statuses {dict(sorted(statuses.items()))}")
    return [
        {"benchmark": "webhook fuzzer: 5xx answers", "ours": float(len(five_xx)), "reference": 0.0,
         "ratio": None, "target": "== 0", "unit": "answers", "note": note},
        {"benchmark": "webhook fuzzer: writes from invalid input", "ours": float(len(bad_writes)),
         "reference": 0.0, "ratio": None, "target": "== 0", "unit": "deliveries",
         "note": "storage writes made for a delivery answered 4xx"},
        {"benchmark": "webhook fuzzer: latency p50", "ours": round(_pct(latencies, 50), 2), "reference": None,
         "ratio": None, "target": "", "unit": "ms", "note": f"handler in process ({per_source} threads per source), Azurite"},
        {"benchmark": "webhook fuzzer: latency p99", "ours": round(_pct(latencies, 99), 2), "reference": None,
         "ratio": None, "target": "<= 8000 (the answer budget)", "unit": "ms",
         "note": f"max {max(latencies):.0f} ms"},
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import print_table

    parser = argparse.ArgumentParser(prog="python -m bench.soak_webhooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_200, help="mutated inputs (spread over the three sources)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads-per-source", type=int, default=2)
    args = parser.parse_args(argv)
    rows = run(args.n, args.seed, args.threads_per_source)
    print_table(rows)
    return 0 if rows[0]["ours"] == 0 and rows[1]["ours"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
