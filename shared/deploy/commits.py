"""The commits a deployment brings to its environment for the first time.

Whatever asked for it (a push, ``dataops deploy``, a promotion, a rollback), a deployment carries the
commit range since what its environment and component hold (the current record, else the last
success): ``git log deployed..head`` through the git host's compare API
(:meth:`~shared.git.hosts.GitSource.commits_between`). Each commit has its sha, time, author (login
where the host gives one), author and committer e-mails and ``Co-authored-by`` e-mails. They are the
people self-approval checks (with the pusher), and the commits lead time counts.

Table storage holds at most 64 KiB per property and 1 MiB per entity, so the record lists at most
:data:`MAX_LISTED` commits (newest first); the people of up to :data:`MAX_SCANNED` commits are kept
apart (``commit_range.people``) so a large release can still be checked; beyond that the range is
``truncated`` and an approval where self-approval is not allowed is refused (nobody can tell who
wrote the rest). The record's ``commit_range``::

    {"base": "<deployed sha>" | null, "head": "<sha>", "total": 12 | null, "listed": 12,
     "truncated": false, "people": ["ada", "ada@example.com", ...], "error": "..."}

``total`` null: the host did not say, or the base could not be compared.

**A first deployment** (``base`` null, ``"first": true``: nothing of the component deployed in the
environment yet) brings the head's whole history, read with the hosts' list-commits APIs
(:meth:`~shared.git.hosts.GitSource.history`) up to the same limits, and ``truncated`` when it is
longer (a long-lived repository always is; GitHub and GitLab do not count it: ``total`` null). Its
commits are not lead-time samples, only its head is (shared.metrics.dora.carried_commits). For approval, a first deployment whose history was
read whole is checked like any range (the pusher and every author and co-author); a truncated one is
never refused for being truncated (it would be refused forever): self-approval checks the pusher and
the people of the head commit only, and the range says so (``"self_approval": "pusher_and_head"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..audit.records import CommitInfo
from ..errors import NotFound
from ..git.hosts import GitSource

MAX_LISTED = 100
MAX_SCANNED = 1000
MAX_PEOPLE = 300
HEAD_ONLY = "pusher_and_head"  # commit_range.self_approval of a truncated first deployment


def _merged(first: CommitInfo, other: CommitInfo) -> CommitInfo:
    """``first`` with what only ``other`` knows (a webhook's login, a host's e-mails)."""
    return replace(first, timestamp=first.timestamp or other.timestamp, author=first.author or other.author,
                   message=first.message or other.message, author_email=first.author_email or other.author_email,
                   committer_email=first.committer_email or other.committer_email,
                   co_authors=list(dict.fromkeys([*first.co_authors, *other.co_authors])))


def _combine(known: Sequence[CommitInfo], found: Sequence[CommitInfo]) -> list[CommitInfo]:
    """The trigger's commits (its logins win) merged with the host's, found order first, no duplicates."""
    by_id = {c.id: c for c in found}
    for k in known:
        by_id[k.id] = _merged(k, by_id[k.id]) if k.id in by_id else k
    order = [c.id for c in found] + [k.id for k in known if k.id not in {c.id for c in found}]
    return [by_id[i] for i in dict.fromkeys(order)]


def carried_commits(git: GitSource, *, base: str | None, head: CommitInfo,
                    known: Sequence[CommitInfo] = ()) -> tuple[list[CommitInfo], dict[str, Any]]:
    """(commits to store on the record, its ``commit_range``) for a deployment of ``head`` over ``base``.

    Raises only what the git host raises when it cannot be reached (the deployment is retried); a base
    the host no longer knows (history rewritten) leaves the range unknown (``truncated``).
    """
    rng: dict[str, Any] = {"base": base, "head": head.id}
    found: list[CommitInfo] = []
    total: int | None = 0
    if base is None:
        rng["first"] = True
    if base != head.id:
        try:
            found, total = git.history(head.id, MAX_SCANNED) if base is None else \
                git.commits_between(base, head.id, MAX_SCANNED)
        except NotFound as exc:
            rng["error"] = exc.message[:300]
            found, total = [], None
    if found:
        scanned = found
    else:  # nothing new (same commit, or a rollback to an ancestor): the head commit itself
        scanned = [head]
    scanned = [_merged(c, head) if c.id == head.id else c for c in scanned]
    commits = _combine(known, scanned)
    if all(c.id != head.id for c in commits):
        commits.insert(0, head)
    people = list(dict.fromkeys(p for c in commits for p in c.people()))
    listed = commits[:MAX_LISTED]
    rng.update(total=total, listed=len(listed), truncated=total is None or total > len(found))
    if len(listed) < len(commits):
        rng["people"] = people[:MAX_PEOPLE]
        if len(people) > MAX_PEOPLE:
            rng["truncated"] = True
    if rng.get("first") and rng["truncated"]:
        rng["self_approval"] = HEAD_ONLY
    return listed, rng


def range_incomplete(commit_range: dict[str, Any] | None) -> bool:
    """Whether some commits of the range (and so their authors) are unknown, so that an approval
    cannot be checked. Never for a first deployment: it checks the pusher and the head instead."""
    rng = commit_range or {}
    return bool(rng.get("truncated")) and rng.get("self_approval") != HEAD_ONLY


def people_of_change(actor: str | None, head: str, commits: Sequence[CommitInfo],
                     commit_range: dict[str, Any] | None) -> list[str]:
    """The git identities self-approval checks: the pusher and every author and co-author of the
    range (listed, and kept apart beyond the list); for a truncated first deployment the pusher and the
    people of the head commit."""
    from ..identity import people_of  # the app's start-up imports no pydantic

    rng = commit_range or {}
    if rng.get("self_approval") == HEAD_ONLY:
        return people_of(actor, [c for c in commits if c.id == head])
    return list(dict.fromkeys([*people_of(actor, commits), *(rng.get("people") or [])]))
