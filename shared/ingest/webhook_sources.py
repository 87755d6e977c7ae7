"""The webhook sources: one table of (name, how to verify, how to classify, how to parse).

Each source turns its provider's payload into one normalized :class:`Push` (or, for a pull/merge
request's event, a :class:`PullRequest`: branch workspaces remove the folder of a merged branch).
Verification runs on the raw body before anything is parsed; secrets are
compared in constant time (``hmac.compare_digest``) and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..audit.records import CommitInfo, co_authors
from ..errors import BadRequest, Unauthorized
from ..settings import Settings
from .push import ZERO_SHA, PullRequest, Push

Headers = Mapping[str, str]


@dataclass(frozen=True)
class Event:
    """What a delivery is: ``push`` or ``pull_request`` (parse it), ``ping`` (answer it) or ``ignored``
    (with the reason)."""

    kind: str
    name: str
    reason: str = ""


@dataclass(frozen=True)
class WebhookSource:
    name: str
    delivery_header: str | None
    verify: Callable[[Headers, bytes, Settings], None]
    classify: Callable[[Headers, dict[str, Any]], Event]
    parse: Callable[[Headers, dict[str, Any]], Push]
    parse_pull_request: Callable[[Headers, dict[str, Any]], PullRequest] | None = None


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


# Limits of what a push may carry into the audit (Table storage: 32K characters a property, 512 a key).
MAX_REF = 1024
MAX_URL = 2048
MAX_NAME = 256
MAX_DELIVERY = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: Any, what: str, *, required: bool = True, limit: int = MAX_REF) -> str:
    if isinstance(value, str) and value:
        if len(value) > limit:
            raise BadRequest(f"payload field {what} is {len(value)} characters long; the limit is {limit}",
                             code="field_too_long")
        return value
    if value is None and not required:
        return ""
    raise BadRequest(f"payload field {what} is missing or not a string", code="invalid_payload")


def _url(value: Any, what: str) -> str:
    """A repository URL as the provider names it: bounded, printable, and parseable."""
    text = _text(value, what, limit=MAX_URL)
    if _CONTROL.search(text):
        raise BadRequest(f"payload field {what} has control characters", code="invalid_url")
    try:
        parts = urlsplit(text)
        _ = parts.hostname, parts.port  # both raise ValueError for a malformed authority
    except ValueError as exc:
        raise BadRequest(f"payload field {what} is not a valid URL ({exc})", code="invalid_url") from None
    return text


def _ref(value: Any, what: str) -> str:
    text = _text(value, what, limit=MAX_REF)
    if _CONTROL.search(text):
        raise BadRequest(f"payload field {what} has control characters", code="invalid_payload")
    return text


def _aliases(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    """Other names of the repository that parse as URLs (a malformed one is dropped, not fatal)."""
    out: list[str] = []
    for k in keys:
        v = obj.get(k)
        if not isinstance(v, str) or not v:
            continue
        try:
            out.append(_url(v, k))
        except BadRequest:
            continue
    return tuple(out)


def _name(value: Any) -> str | None:
    """A person's name, login or e-mail: kept when it is a string, cut to MAX_NAME."""
    return value[:MAX_NAME] if isinstance(value, str) and value else None


def _email(value: Any) -> str | None:
    """An e-mail address (``DOMAIN\\user@x`` -> ``user@x``); None for anything else (redacted, blank)."""
    text = _name(value)
    text = text.rsplit("\\", 1)[-1].strip() if text else None
    return text if text and "@" in text and not _CONTROL.search(text) and " " not in text else None


def _obj(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise BadRequest(f"payload field {what} is missing or not an object", code="invalid_payload")


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise BadRequest(f"payload field {what} is not a list", code="invalid_payload")


def _sha(value: Any, what: str) -> str:
    text = _text(value, what)
    if not (4 <= len(text) <= 64) or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise BadRequest(f"payload field {what} is not a commit id", code="invalid_payload")
    return text.lower()


def _number(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 53:
        return value
    raise BadRequest(f"payload field {what} is missing or not a positive integer", code="invalid_payload")


def _branch_name(value: Any, what: str, *, qualified: bool = False) -> str:
    """A branch named by a pull request (``refs/heads/`` required when ``qualified``, dropped when present)."""
    text = _ref(value, what)
    if text.startswith("refs/heads/"):
        return text[len("refs/heads/"):] or _text("", what)
    if qualified or text.startswith("refs/"):
        raise BadRequest(f"payload field {what} is not a branch (refs/heads/...): {text[:200]!r}",
                         code="invalid_payload")
    return text


def _commit_of(value: Any, what: str, key: str, *, required: bool) -> str:
    """The commit id under ``value[key]`` (``""`` when absent and not required)."""
    if value is None and not required:
        return ""
    return _sha(_obj(value, what).get(key), f"{what}.{key}")


def _optional_sha(value: Any, what: str) -> str | None:
    return _sha(value, what) if value is not None else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else None


def _commits(items: list[Any], *, id_key: str, time_key: Callable[[dict[str, Any]], Any],
             author: Callable[[dict[str, Any]], Any], what: str) -> tuple[CommitInfo, ...]:
    out: list[CommitInfo] = []
    for i, c in enumerate(items):
        c = _obj(c, f"{what}[{i}]")
        a = author(c)
        message = c.get("message") if isinstance(c.get("message"), str) else \
            c.get("comment") if isinstance(c.get("comment"), str) else None
        # Every provider nests {name, email} under author and committer (GitLab: author only).
        emails = [_name(p.get("email")) if isinstance(p := c.get(k), dict) else None
                  for k in ("author", "committer")]
        out.append(CommitInfo(_sha(c.get(id_key), f"{what}[{i}].{id_key}"), _time(time_key(c)),
                              _name(a), message[:1000] if message else None, emails[0], emails[1],
                              co_authors(message)))
    return tuple(out)


def _delivery(headers: Headers, name: str) -> str:
    value = headers.get(name.lower(), "").strip()
    if not value or len(value) > MAX_DELIVERY or _CONTROL.search(value):
        raise BadRequest(f"header {name} is missing or too long", code="missing_delivery_id")
    return value


def _configured(settings: Settings, provider: str, *names: str) -> list[str]:
    """The secrets a source verifies with; a source whose secrets are unset accepts nothing (401)."""
    values = [settings.secret(n) for n in names]
    if not all(values):
        raise Unauthorized(f"{provider} webhooks are not configured ({', '.join(names)} not set)",
                           code="webhook_not_configured")
    return [v for v in values if v]


# --------------------------------------------------------------------- GitHub
def verify_github(headers: Headers, body: bytes, settings: Settings) -> None:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``."""
    (secret,) = _configured(settings, "GitHub", "GITHUB_WEBHOOK_SECRET")
    sent = headers.get("x-hub-signature-256", "")
    if not sent.startswith("sha256="):
        raise Unauthorized("missing X-Hub-Signature-256 signature", code="invalid_signature")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), sent.strip().encode("utf-8", "replace")):
        raise Unauthorized("X-Hub-Signature-256 does not match the body", code="invalid_signature")


def sign_github(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` (for tests and the local stack)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def classify_github(headers: Headers, payload: dict[str, Any]) -> Event:
    event = headers.get("x-github-event", "").strip()
    if event == "push":
        return Event("push", event)
    if event == "ping":
        return Event("ping", event)
    if event == "pull_request":
        action = payload.get("action")
        if action == "closed":
            return Event("pull_request", event)
        return Event("ignored", event, f"pull_request action {str(action)[:100]!r} is not handled (closed is: a "
                                       "merged pull request removes its branch workspace)")
    if not event:
        raise BadRequest("header X-GitHub-Event is missing", code="missing_event")
    return Event("ignored", event, f"event {event!r} is not handled (push, ping and pull_request are)")


def _changed_paths(items: Any, complete: bool = True) -> tuple[str, ...] | None:
    """The paths the pushed commits touch (``added``/``modified``/``removed``); None when not all listed."""
    if not complete or not isinstance(items, list):
        return None
    paths: set[str] = set()
    for c in items:
        if not isinstance(c, dict):
            return None
        for key in ("added", "modified", "removed"):
            v = c.get(key)
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                return None
            paths.update(v)
    return tuple(sorted(paths))


def parse_github(headers: Headers, p: dict[str, Any]) -> Push:
    repo = _obj(p.get("repository"), "repository")
    url = _url(repo.get("clone_url") or repo.get("html_url"), "repository.clone_url")
    aliases = _aliases(repo, ("html_url", "ssh_url", "git_url", "full_name", "url"))
    pusher: dict[str, Any] = p["pusher"] if isinstance(p.get("pusher"), dict) else {}
    sender: dict[str, Any] = p["sender"] if isinstance(p.get("sender"), dict) else {}
    commits = _commits(_list(p.get("commits"), "commits"), id_key="id", time_key=lambda c: c.get("timestamp"),
                       author=lambda c: (c.get("author") or {}).get("username") or
                       (c.get("author") or {}).get("name") if isinstance(c.get("author"), dict) else None,
                       what="commits")
    after = _sha(p.get("after"), "after")
    return Push(provider="github", delivery_id=_delivery(headers, "X-GitHub-Delivery"), repository=url,
                ref=_ref(p.get("ref"), "ref"), before=_sha(p.get("before"), "before"), after=after,
                pusher=_name(sender.get("login")) or _name(pusher.get("name")),
                pusher_email=_email(pusher.get("email")),
                forced=p.get("forced") is True, deleted=p.get("deleted") is True or after == ZERO_SHA,
                commits=commits, repository_aliases=aliases,
                changed_paths=_changed_paths(p.get("commits"), complete=p.get("forced") is not True))


def parse_github_pull_request(headers: Headers, p: dict[str, Any]) -> PullRequest:
    """``pull_request`` with ``action: closed``: merged when ``pull_request.merged`` is true."""
    pr = _obj(p.get("pull_request"), "pull_request")
    repo = _obj(p.get("repository"), "repository")
    url = _url(repo.get("clone_url") or repo.get("html_url"), "repository.clone_url")
    head = _obj(pr.get("head"), "pull_request.head")
    base = _obj(pr.get("base"), "pull_request.base")
    merged = pr.get("merged")
    if not isinstance(merged, bool):
        raise BadRequest("payload field pull_request.merged is missing or not a boolean", code="invalid_payload")
    number = _number(pr.get("number", p.get("number")), "pull_request.number")
    # head.repo is null when the fork it came from was deleted; another repository id is a fork
    base_repo: dict[str, Any] = base["repo"] if isinstance(base.get("repo"), dict) else repo
    head_repo = head.get("repo")
    if not isinstance(head_repo, dict):
        from_fork = True
    elif head_repo.get("id") is not None:
        from_fork = head_repo.get("id") != base_repo.get("id")
    else:
        from_fork = str(head_repo.get("full_name", "")).lower() != str(base_repo.get("full_name", "")).lower()
    sender: dict[str, Any] = p["sender"] if isinstance(p.get("sender"), dict) else {}
    by: dict[str, Any] = pr["merged_by"] if isinstance(pr.get("merged_by"), dict) else {}
    repo_id = repo.get("id")
    return PullRequest(
        provider="github", delivery_id=_delivery(headers, "X-GitHub-Delivery"), repository=url, number=number,
        source_branch=_branch_name(head.get("ref"), "pull_request.head.ref"),
        target_branch=_branch_name(base.get("ref"), "pull_request.base.ref"),
        source_head=_sha(head.get("sha"), "pull_request.head.sha"), merged=merged,
        status="merged" if merged else str(pr.get("state") or "closed")[:40],
        merge_commit=_optional_sha(pr.get("merge_commit_sha"), "pull_request.merge_commit_sha"),
        from_fork=from_fork, actor=_name(by.get("login")) or _name(sender.get("login")),
        repository_aliases=_aliases(repo, ("html_url", "ssh_url", "git_url", "full_name", "url")),
        provider_ids=(f"pull:{repo_id}:{number}:merged",) if merged and isinstance(repo_id, int) else ())


# --------------------------------------------------------------- Azure DevOps
def verify_azure_devops(headers: Headers, body: bytes, settings: Settings) -> None:
    """HTTP basic auth with the user and password configured on the service hook."""
    user, password = _configured(settings, "Azure DevOps", "AZDO_WEBHOOK_USER", "AZDO_WEBHOOK_PASSWORD")
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "basic" or not token:
        raise Unauthorized("basic authentication is required", code="invalid_credentials")
    try:
        sent = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("basic authentication header is malformed", code="invalid_credentials") from None
    expected = f"{user}:{password}".encode()
    if not hmac.compare_digest(expected, sent):
        raise Unauthorized("wrong user name or password", code="invalid_credentials")


def classify_azure_devops(headers: Headers, payload: dict[str, Any]) -> Event:
    event = payload.get("eventType")
    if event == "git.push":
        return Event("push", event)
    if event in ("git.pullrequest.merged", "git.pullrequest.updated"):
        return Event("pull_request", event)
    if not isinstance(event, str) or not event:
        raise BadRequest("payload field eventType is missing", code="missing_event")
    return Event("ignored", event[:200], f"event {event[:200]!r} is not handled (git.push, git.pullrequest.merged "
                                         "and git.pullrequest.updated are)")


def parse_azure_devops(headers: Headers, p: dict[str, Any]) -> Push:
    res = _obj(p.get("resource"), "resource")
    updates = _list(res.get("refUpdates"), "resource.refUpdates")
    if not updates:
        raise BadRequest("resource.refUpdates is empty", code="invalid_payload")
    # One service-hook notification can carry several ref updates; the first is the push (the
    # others, when present, are recorded in extra).
    upd = _obj(updates[0], "resource.refUpdates[0]")
    repo = _obj(res.get("repository"), "resource.repository")
    url = _url(repo.get("remoteUrl") or repo.get("url"), "resource.repository.remoteUrl")
    aliases = _aliases(repo, ("url", "sshUrl", "webUrl", "name"))
    pushed_by: dict[str, Any] = res["pushedBy"] if isinstance(res.get("pushedBy"), dict) else {}
    commits = _commits(_list(res.get("commits"), "resource.commits"), id_key="commitId",
                       time_key=lambda c: (c.get("author") or {}).get("date")
                       if isinstance(c.get("author"), dict) else None,
                       author=lambda c: (c.get("author") or {}).get("email") or (c.get("author") or {}).get("name")
                       if isinstance(c.get("author"), dict) else None, what="resource.commits")
    after = _sha(upd.get("newObjectId"), "resource.refUpdates[0].newObjectId")
    delivery = p.get("id") if isinstance(p.get("id"), str) and p.get("id") else None
    if delivery is None or len(delivery) > MAX_DELIVERY or _CONTROL.search(delivery):
        raise BadRequest("payload field id (the notification id) is missing", code="missing_delivery_id")
    pusher = pushed_by.get("uniqueName") or pushed_by.get("displayName")
    return Push(provider="azure-devops", delivery_id=delivery, repository=url,
                ref=_ref(upd.get("name"), "resource.refUpdates[0].name"),
                before=_sha(upd.get("oldObjectId"), "resource.refUpdates[0].oldObjectId"), after=after,
                pusher=_name(pusher), pusher_email=_email(pushed_by.get("uniqueName")), forced=False,
                deleted=after == ZERO_SHA, commits=tuple(reversed(commits)),  # Azure DevOps lists newest first
                repository_aliases=aliases, provider_ids=_azdo_ids(res, repo),
                extra={"other_ref_updates": len(updates) - 1} if len(updates) > 1 else {})


def _azdo_ids(res: dict[str, Any], repo: dict[str, Any]) -> tuple[str, ...]:
    """The push id within its repository: the same push however often it is notified."""
    push_id, repo_id = res.get("pushId"), repo.get("id")
    if isinstance(push_id, int) and not isinstance(push_id, bool) and isinstance(repo_id, str) \
            and 0 < len(repo_id) <= MAX_DELIVERY:
        return (f"push:{repo_id}:{push_id}",)
    return ()


def parse_azure_devops_pull_request(headers: Headers, p: dict[str, Any]) -> PullRequest:
    """``git.pullrequest.merged`` (sent for every merge attempt, the trial merges of an active request too)
    or ``git.pullrequest.updated``: merged when ``status`` is ``completed`` and ``mergeStatus`` ``succeeded``."""
    res = _obj(p.get("resource"), "resource")
    repo = _obj(res.get("repository"), "resource.repository")
    url = _url(repo.get("remoteUrl") or repo.get("url"), "resource.repository.remoteUrl")
    number = _number(res.get("pullRequestId"), "resource.pullRequestId")
    status = _text(res.get("status"), "resource.status", limit=40)
    merge_status = _text(res.get("mergeStatus"), "resource.mergeStatus", required=False, limit=40)
    merged = status == "completed" and merge_status == "succeeded"
    delivery = p.get("id") if isinstance(p.get("id"), str) and p.get("id") else None
    if delivery is None or len(delivery) > MAX_DELIVERY or _CONTROL.search(delivery):
        raise BadRequest("payload field id (the notification id) is missing", code="missing_delivery_id")
    last_merge = res.get("lastMergeCommit")
    by = next((x for x in (res.get("closedBy"), res.get("createdBy")) if isinstance(x, dict)), {})
    repo_id = repo.get("id")
    return PullRequest(
        provider="azure-devops", delivery_id=delivery, repository=url, number=number,
        source_branch=_branch_name(res.get("sourceRefName"), "resource.sourceRefName", qualified=True),
        target_branch=_branch_name(res.get("targetRefName"), "resource.targetRefName", qualified=True),
        source_head=_commit_of(res.get("lastMergeSourceCommit"), "resource.lastMergeSourceCommit", "commitId",
                               required=merged),
        merged=merged, status=status if status != "completed" else f"completed, mergeStatus {merge_status}",
        merge_commit=_commit_of(last_merge, "resource.lastMergeCommit", "commitId", required=False) or None,
        from_fork=isinstance(res.get("forkSource"), dict), actor=_name(by.get("uniqueName") or by.get("displayName")),
        repository_aliases=_aliases(repo, ("url", "sshUrl", "webUrl", "name")),
        provider_ids=(f"pull:{repo_id}:{number}:completed",) if merged and isinstance(repo_id, str)
        and 0 < len(repo_id) <= MAX_DELIVERY else ())


# --------------------------------------------------------------------- GitLab
def verify_gitlab(headers: Headers, body: bytes, settings: Settings) -> None:
    """``X-Gitlab-Token`` equals the secret token configured on the hook."""
    (secret,) = _configured(settings, "GitLab", "GITLAB_WEBHOOK_TOKEN")
    sent = headers.get("x-gitlab-token", "")
    if not sent or not hmac.compare_digest(secret.encode(), sent.encode("utf-8", "replace")):
        raise Unauthorized("missing or wrong X-Gitlab-Token", code="invalid_token")


def classify_gitlab(headers: Headers, payload: dict[str, Any]) -> Event:
    event = headers.get("x-gitlab-event", "").strip()
    kind = payload.get("object_kind")
    if event == "Push Hook" or (not event and kind == "push"):
        return Event("push", event or "push")
    if event == "Merge Request Hook" or (not event and kind == "merge_request"):
        return Event("pull_request", event or "merge_request")
    if not event and not kind:
        raise BadRequest("header X-Gitlab-Event is missing", code="missing_event")
    name = str(event or kind)[:200]
    return Event("ignored", name, f"event {name!r} is not handled (Push Hook and Merge Request Hook are)")


def parse_gitlab(headers: Headers, p: dict[str, Any]) -> Push:
    project = _obj(p.get("project"), "project")
    url = _url(project.get("git_http_url") or project.get("web_url"), "project.git_http_url")
    aliases = _aliases(project, ("web_url", "git_ssh_url", "path_with_namespace"))
    commits = _commits(_list(p.get("commits"), "commits"), id_key="id", time_key=lambda c: c.get("timestamp"),
                       author=lambda c: (c.get("author") or {}).get("email") or (c.get("author") or {}).get("name")
                       if isinstance(c.get("author"), dict) else None, what="commits")
    after = _sha(p.get("after") or p.get("checkout_sha"), "after")
    delivery = headers.get("x-gitlab-event-uuid", "").strip() or headers.get("x-gitlab-webhook-uuid", "").strip()
    if not delivery or len(delivery) > MAX_DELIVERY or _CONTROL.search(delivery):
        raise BadRequest("header X-Gitlab-Event-UUID is missing or too long", code="missing_delivery_id")
    pusher = p.get("user_username") or p.get("user_name")
    return Push(provider="gitlab", delivery_id=delivery, repository=url, ref=_ref(p.get("ref"), "ref"),
                before=_sha(p.get("before"), "before"), after=after,
                pusher=_name(pusher), pusher_email=_email(p.get("user_email")), forced=False,
                deleted=after == ZERO_SHA, commits=commits, repository_aliases=aliases,
                provider_ids=_gitlab_ids(headers),
                changed_paths=_changed_paths(p.get("commits"), complete=not isinstance(p.get("total_commits_count"), int)
                                             or p["total_commits_count"] <= len(commits)))


def parse_gitlab_pull_request(headers: Headers, p: dict[str, Any]) -> PullRequest:
    """Merge Request Hook: merged when ``object_attributes.state`` is ``merged`` (action ``merge``)."""
    attrs = _obj(p.get("object_attributes"), "object_attributes")
    project = _obj(p.get("project"), "project")
    url = _url(project.get("git_http_url") or project.get("web_url"), "project.git_http_url")
    state = _text(attrs.get("state"), "object_attributes.state", limit=40)
    action = _text(attrs.get("action"), "object_attributes.action", required=False, limit=40)
    merged = state == "merged" and action in ("", "merge")
    number = _number(attrs.get("iid"), "object_attributes.iid")
    source_project = _number(attrs.get("source_project_id"), "object_attributes.source_project_id")
    target_project = _number(attrs.get("target_project_id"), "object_attributes.target_project_id")
    delivery = headers.get("x-gitlab-event-uuid", "").strip() or headers.get("x-gitlab-webhook-uuid", "").strip()
    if not delivery or len(delivery) > MAX_DELIVERY or _CONTROL.search(delivery):
        raise BadRequest("header X-Gitlab-Event-UUID is missing or too long", code="missing_delivery_id")
    user: dict[str, Any] = p["user"] if isinstance(p.get("user"), dict) else {}
    return PullRequest(
        provider="gitlab", delivery_id=delivery, repository=url, number=number,
        source_branch=_branch_name(attrs.get("source_branch"), "object_attributes.source_branch"),
        target_branch=_branch_name(attrs.get("target_branch"), "object_attributes.target_branch"),
        source_head=_commit_of(attrs.get("last_commit"), "object_attributes.last_commit", "id", required=merged),
        merged=merged, status=state if not action else f"{state} ({action})",
        merge_commit=_optional_sha(attrs.get("merge_commit_sha"), "object_attributes.merge_commit_sha"),
        from_fork=source_project != target_project,
        actor=_name(user.get("username")) or _name(user.get("name")),
        repository_aliases=_aliases(project, ("web_url", "git_ssh_url", "path_with_namespace")),
        provider_ids=(*_gitlab_ids(headers), *((f"mr:{target_project}:{number}:merged",) if merged else ())))


def _gitlab_ids(headers: Headers) -> tuple[str, ...]:
    """``X-Gitlab-Idempotency-Key`` (GitLab 17.4+): the same across retries of one webhook."""
    key = headers.get("x-gitlab-idempotency-key", "").strip()
    return (f"idempotency:{key}",) if key and len(key) <= MAX_DELIVERY and not _CONTROL.search(key) else ()


SOURCES: dict[str, WebhookSource] = {
    s.name: s for s in (
        WebhookSource("github", "x-github-delivery", verify_github, classify_github, parse_github,
                      parse_github_pull_request),
        WebhookSource("azure-devops", None, verify_azure_devops, classify_azure_devops, parse_azure_devops,
                      parse_azure_devops_pull_request),
        WebhookSource("gitlab", "x-gitlab-event-uuid", verify_gitlab, classify_gitlab, parse_gitlab,
                      parse_gitlab_pull_request),
    )
}
