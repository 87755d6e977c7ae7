"""Git sources: the files of a commit, fetched by the worker itself (the webhook is only a hint).

* ``local``: a repository on disk, through the ``git`` CLI;
* ``github``: the REST API (commit, tarball, compare);
* ``azure-devops``: the Git REST API (commit, items as a zip, merge bases, commits batch);
* ``gitlab``: the REST API (commit, archive, merge base, compare).

``commits_between(base, head)`` lists what a deployment brings (shared/deploy/commits.py);
``history(head)`` what a first deployment brings (nothing deployed there yet): the head's history,
read with each host's list-commits API and its pagination.

``is_ancestor(older, newer)`` answers from the commit graph, never from
timestamps. Credentials come from the app setting named by ``token_setting``.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import zipfile
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from ..audit.records import CommitInfo
from ..config import Repository
from ..errors import BadRequest, NotFound, Unavailable
from ..settings import Settings
from ..timeouts import timeouts_of, unreachable_error
from .snapshot import CommitSnapshot

_SHA = re.compile(r"^[0-9a-f]{40}$")
TIMEOUT = 60.0


class GitSource(Protocol):
    url: str

    def resolve(self, ref: str) -> str:
        """A branch, tag or commit -> the full commit id."""
        ...

    def snapshot(self, ref: str) -> CommitSnapshot:
        """Every file of the commit ``ref`` resolves to."""
        ...

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether ``older`` is reachable from ``newer`` (equal commits count as ancestors)."""
        ...

    def commits_between(self, base: str, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        """The commits reachable from ``head`` and not from ``base`` (at most ``limit``, newest first),
        and how many there are in all (None: the host does not say)."""
        ...

    def history(self, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        """The commits reachable from ``head`` (at most ``limit``, newest first), and how many there
        are in all: exact when the whole history was read, None when there are more (uncounted)."""
        ...


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# ----------------------------------------------------------------------- local
class LocalGitSource:
    """A repository on this machine (``provider: local``), read with the ``git`` CLI."""

    def __init__(self, path: str, ref_hint: str = "") -> None:
        self.url = path
        self.path = os.path.abspath(path)

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        try:
            proc = subprocess.run(["git", "-C", self.path, *args], capture_output=True, timeout=TIMEOUT,
                                  check=False)
        except FileNotFoundError:
            raise Unavailable("the git command is not installed", code="git_missing") from None
        if check and proc.returncode != 0:
            msg = proc.stderr.decode(errors="replace").strip().splitlines()
            raise NotFound(f"git {args[0]} in {self.url}: {msg[-1] if msg else 'failed'}", code="git_error")
        return proc

    def resolve(self, ref: str) -> str:
        if not os.path.isdir(self.path):
            raise NotFound(f"repository {self.url} does not exist", code="unknown_repository")
        if ref.startswith("-"):
            raise BadRequest(f"{ref!r} is not a ref", code="invalid_ref")
        proc = self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if proc.returncode != 0:
            raise NotFound(f"{ref!r} is not a branch, tag or commit of {self.url}", code="unknown_ref")
        return proc.stdout.decode().strip()

    def snapshot(self, ref: str) -> CommitSnapshot:
        sha = self.resolve(ref)
        meta = self._git("show", "-s", "--format=%an%x00%aI%x00%ae%x00%ce%x00%B", sha).stdout.decode(errors="replace")
        author, when, author_email, committer_email, message = ([*meta.split("\x00"), "", "", "", "", ""])[:5]
        data = self._git("archive", "--format=tar", sha).stdout
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                if m.isfile():
                    f = tar.extractfile(m)
                    if f is not None:
                        files[m.name] = f.read()
        return CommitSnapshot(sha=sha, files=files, ref=ref, repository=self.url, timestamp=_time(when),
                              author=author or None, message=message.strip() or None,
                              author_email=author_email or None, committer_email=committer_email or None)

    def commits_between(self, base: str, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        return self._log(f"{self.resolve(base)}..{self.resolve(head)}", limit)

    def _log(self, span: str, limit: int) -> tuple[list[CommitInfo], int]:
        """``git log`` of a revision range (``base..head``) or of a commit's whole history."""
        total = int(self._git("rev-list", "--count", span).stdout.decode().strip() or 0)
        out = self._git("log", f"--max-count={max(limit, 0)}", "--format=%H%x00%an%x00%ae%x00%aI%x00%ce%x00%B%x1e",
                        span).stdout.decode(errors="replace")
        commits = []
        for entry in out.split("\x1e"):
            fields = entry.strip("\n").split("\x00")
            if len(fields) < 6:
                continue
            sha, name, email, when, committer, message = fields[:6]
            # Plain git has no logins: the author is their e-mail (a display name identifies nobody).
            commits.append(CommitInfo(sha, _time(when), email or name or None, message.strip() or None,
                                      email or None, committer or None))
        return commits, total

    def history(self, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        return self._log(self.resolve(head), limit)

    def is_ancestor(self, older: str, newer: str) -> bool:
        proc = self._git("merge-base", "--is-ancestor", older, newer, check=False)
        if proc.returncode in (0, 1):
            return proc.returncode == 0
        raise NotFound(f"cannot compare {older} and {newer} in {self.url}", code="unknown_ref")


# ------------------------------------------------------------------------ HTTP
class _HttpSource:
    url: str
    timeouts: tuple[float, float] = (5.0, TIMEOUT)  # (connect, read) seconds: timeouts.git

    def __init__(self, token: str | None, session: Any = None) -> None:
        import requests

        self.session = session or requests.Session()
        self._token = token

    def _headers(self) -> dict[str, str]:
        return {}

    def _get(self, url: str, *, params: dict[str, Any] | None = None, what: str = "",
             missing: tuple[int, ...] = (404,)) -> Any:
        return self._call("GET", url, params=params, what=what, missing=missing)

    def _post(self, url: str, body: Any, *, params: dict[str, Any] | None = None, what: str = "") -> Any:
        # Azure DevOps answers an unknown commit in a commits batch with 400 (GitLab-like), not 404.
        return self._call("POST", url, json=body, params=params, what=what, missing=(400, 404))

    def _call(self, method: str, url: str, *, params: dict[str, Any] | None, what: str,
              missing: tuple[int, ...], json: Any = None) -> Any:
        import requests

        try:
            resp = self.session.request(method, url, params=params, json=json, headers=self._headers(),
                                        timeout=self.timeouts)
        except requests.RequestException as exc:
            raise unreachable_error("git", url, exc, timeouts=self.timeouts, code="git_unavailable") from None
        if resp.status_code in (401, 403):
            raise Unavailable(f"git host refused the credentials ({resp.status_code}) for {what}",
                              code="git_unauthorized")
        if resp.status_code in missing:
            raise NotFound(f"{what} not found on the git host", code="unknown_ref")
        if resp.status_code >= 400:
            raise Unavailable(f"git host answered {resp.status_code} for {what}", code="git_unavailable")
        return resp


def _cap(items: list[CommitInfo], limit: int) -> list[CommitInfo]:
    return items[:max(limit, 0)]


def _strip_top(names_and_data: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Archives put everything under one top folder (``owner-repo-sha/``): drop it."""
    out: dict[str, bytes] = {}
    for name, data in names_and_data:
        _, _, rest = name.partition("/")
        if rest and not rest.endswith("/"):
            out[rest] = data
    return out


def _untar(data: bytes) -> dict[str, bytes]:
    items: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for m in tar.getmembers():
            if m.isfile():
                f = tar.extractfile(m)
                if f is not None:
                    items.append((m.name, f.read()))
    return _strip_top(items)


class GitHubSource(_HttpSource):
    """``https://github.com/OWNER/REPO`` through the REST API (``api_url`` overrides api.github.com)."""

    def __init__(self, url: str, token: str | None, api_url: str | None = None, session: Any = None) -> None:
        super().__init__(token, session)
        self.url = url
        path = urlsplit(url).path.strip("/").removesuffix(".git")
        if path.count("/") != 1:
            raise BadRequest(f"{url} is not a GitHub repository URL (https://github.com/OWNER/REPO)",
                             code="invalid_repository")
        self.api = f"{(api_url or 'https://api.github.com').rstrip('/')}/repos/{path}"

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if self._token:
            h["Authorization"] = f"Bearer {self._token}"
        return h

    def _commit(self, ref: str) -> dict[str, Any]:
        data: dict[str, Any] = self._get(f"{self.api}/commits/{quote(ref, safe='')}", what=f"commit {ref}").json()
        return data

    def resolve(self, ref: str) -> str:
        return str(self._commit(ref)["sha"])

    def snapshot(self, ref: str) -> CommitSnapshot:
        c = self._commit(ref)
        sha = str(c["sha"])
        files = _untar(self._get(f"{self.api}/tarball/{sha}", what=f"tarball of {sha}").content)
        author = (c.get("commit") or {}).get("author") or {}
        return CommitSnapshot(sha=sha, files=files, ref=ref, repository=self.url, timestamp=_time(author.get("date")),
                              author=(c.get("author") or {}).get("login") or author.get("name"),
                              message=(c.get("commit") or {}).get("message"), author_email=author.get("email"),
                              committer_email=((c.get("commit") or {}).get("committer") or {}).get("email"))

    def is_ancestor(self, older: str, newer: str) -> bool:
        data = self._get(f"{self.api}/compare/{quote(older, safe='')}...{quote(newer, safe='')}",
                         params={"per_page": 1}, what=f"comparison {older}...{newer}").json()
        return data.get("status") in ("ahead", "identical")

    PAGE = 100  # the compare API's largest page

    def commits_between(self, base: str, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        """``compare/{base}...{head}``: commits oldest first, paginated (``per_page`` at most 100),
        ``total_commits`` the whole range."""
        got: list[CommitInfo] = []
        total: int | None = None
        page = 1
        while len(got) < limit:
            data = self._get(f"{self.api}/compare/{quote(base, safe='')}...{quote(head, safe='')}",
                             params={"per_page": self.PAGE, "page": page},
                             what=f"comparison {base}...{head}").json()
            total = int(data.get("total_commits", data.get("ahead_by", 0)) or 0)
            items = data.get("commits") or []
            got.extend(self._info(c) for c in items)
            if len(items) < self.PAGE or page * self.PAGE >= total:
                break
            page += 1
        return _cap(got[::-1], limit), total

    @staticmethod
    def _info(c: dict[str, Any]) -> CommitInfo:
        """A commit of a compare or list answer (the login where GitHub knows the author's account)."""
        inner = c.get("commit") or {}
        author = inner.get("author") or {}
        return CommitInfo(str(c["sha"]), _time(author.get("date")),
                          (c.get("author") or {}).get("login") or author.get("name"),
                          inner.get("message"), author.get("email"), (inner.get("committer") or {}).get("email"))

    def history(self, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        """``GET commits?sha={head}``: newest first, ``per_page`` at most 100, pages until the ``Link``
        header has no ``rel="next"``; GitHub does not count the history."""
        got: list[CommitInfo] = []
        page, more = 1, True
        while more and len(got) < limit:
            resp = self._get(f"{self.api}/commits", params={"sha": head, "per_page": self.PAGE, "page": page},
                             what=f"history of {head}")
            items = resp.json() or []
            got.extend(self._info(c) for c in items)
            more = "next" in resp.links and bool(items)
            page += 1
        if not got:
            raise NotFound(f"the git host lists no history for {head}", code="unknown_ref")
        return _cap(got, limit), (None if more else len(got))


class AzureDevOpsSource(_HttpSource):
    """``https://dev.azure.com/ORG/PROJECT/_git/REPO`` through the Git REST API (PAT as basic auth)."""

    API = "7.1"

    def __init__(self, url: str, token: str | None, api_url: str | None = None, session: Any = None) -> None:
        super().__init__(token, session)
        self.url = url
        parts = urlsplit(url)
        path = parts.path.strip("/")
        m = re.match(r"^(?P<base>.*?)/_git/(?P<repo>[^/]+)$", path)
        if not m:
            raise BadRequest(f"{url} is not an Azure DevOps repository URL (…/PROJECT/_git/REPO)",
                             code="invalid_repository")
        base = api_url.rstrip("/") + "/" + m.group("base") if api_url else \
            f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/{m.group('base')}"
        self.api = f"{base}/_apis/git/repositories/{m.group('repo')}"

    def _headers(self) -> dict[str, str]:
        import base64

        h = {"Accept": "application/json"}
        if self._token:
            h["Authorization"] = "Basic " + base64.b64encode(f":{self._token}".encode()).decode()
        return h

    def resolve(self, ref: str) -> str:
        if _SHA.match(ref):
            return ref
        branch = ref.removeprefix("refs/heads/")
        data = self._get(f"{self.api}/refs", params={"filter": f"heads/{branch}", "api-version": self.API},
                         what=f"branch {branch}").json()
        for r in data.get("value", []):
            if r.get("name") == f"refs/heads/{branch}":
                return str(r["objectId"])
        raise NotFound(f"{ref!r} is not a branch of {self.url}", code="unknown_ref")

    def snapshot(self, ref: str) -> CommitSnapshot:
        sha = self.resolve(ref)
        c = self._get(f"{self.api}/commits/{sha}", params={"api-version": self.API}, what=f"commit {sha}").json()
        z = self._get(f"{self.api}/items", what=f"files of {sha}", params={
            "path": "/", "recursionLevel": "full", "$format": "zip", "download": "true",
            "versionDescriptor.version": sha, "versionDescriptor.versionType": "commit",
            "api-version": self.API}).content
        files: dict[str, bytes] = {}
        with zipfile.ZipFile(io.BytesIO(z)) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    files[info.filename.lstrip("/")] = zf.read(info)
        author = c.get("author") or {}
        return CommitSnapshot(sha=sha, files=files, ref=ref, repository=self.url, timestamp=_time(author.get("date")),
                              author=author.get("email") or author.get("name"), message=c.get("comment"),
                              author_email=author.get("email"),
                              committer_email=(c.get("committer") or {}).get("email"))

    def commits_between(self, base: str, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        """``commitsbatch`` with ``itemVersion`` = head and ``compareVersion`` = base: the commits in head
        and not in base, newest first, ``$top``/``$skip`` pages. A comment the list truncated
        (``commentTruncated``) is read whole from the commit (its Co-authored-by trailers are at the end)."""
        return self._batch({"itemVersion": {"versionType": "commit", "version": self.resolve(head)},
                            "compareVersion": {"versionType": "commit", "version": self.resolve(base)}},
                           limit, f"commits between {base} and {head}")

    def history(self, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        """``commitsbatch`` with ``itemVersion`` only: the history of head, newest first, paged."""
        got, total = self._batch({"itemVersion": {"versionType": "commit", "version": self.resolve(head)}},
                                 limit, f"history of {head}")
        if not got:
            raise NotFound(f"the git host lists no history for {head}", code="unknown_ref")
        return got, total

    def _batch(self, body: dict[str, Any], limit: int, what: str) -> tuple[list[CommitInfo], int | None]:
        got: list[CommitInfo] = []
        skip, page = 0, 100
        more = True
        while more and len(got) <= limit:
            data = self._post(f"{self.api}/commitsbatch", body, what=what,
                              params={"$top": page, "$skip": skip, "api-version": self.API}).json()
            items = data.get("value") or []
            for c in items:
                comment = c.get("comment")
                if c.get("commentTruncated") and len(got) < limit:
                    full = self._get(f"{self.api}/commits/{c['commitId']}", params={"api-version": self.API},
                                     what=f"commit {c['commitId']}").json()
                    comment = full.get("comment") or comment
                author = c.get("author") or {}
                got.append(CommitInfo(str(c["commitId"]), _time(author.get("date")),
                                      author.get("email") or author.get("name"), comment, author.get("email"),
                                      (c.get("committer") or {}).get("email")))
            more = len(items) == page
            skip += page
        return _cap(got, limit), (None if more else len(got))

    def is_ancestor(self, older: str, newer: str) -> bool:
        data = self._get(f"{self.api}/commits/{older}/mergebases",
                         params={"otherCommitId": newer, "api-version": "7.1-preview.1"},
                         what=f"merge base of {older} and {newer}").json()
        return any(b.get("commitId") == older for b in data.get("value", []))


class GitLabSource(_HttpSource):
    """``https://gitlab.com/GROUP/PROJECT`` through the REST API v4 (``PRIVATE-TOKEN``)."""

    def __init__(self, url: str, token: str | None, api_url: str | None = None, session: Any = None) -> None:
        super().__init__(token, session)
        self.url = url
        parts = urlsplit(url)
        project = parts.path.strip("/").removesuffix(".git")
        root = api_url.rstrip("/") if api_url else f"{parts.scheme}://{parts.netloc}/api/v4"
        self.api = f"{root}/projects/{quote(project, safe='')}"

    def _headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self._token} if self._token else {}

    def _commit(self, ref: str) -> dict[str, Any]:
        data: dict[str, Any] = self._get(f"{self.api}/repository/commits/{quote(ref, safe='')}",
                                         what=f"commit {ref}").json()
        return data

    def resolve(self, ref: str) -> str:
        return str(self._commit(ref)["id"])

    def snapshot(self, ref: str) -> CommitSnapshot:
        c = self._commit(ref)
        sha = str(c["id"])
        files = _untar(self._get(f"{self.api}/repository/archive.tar.gz", params={"sha": sha},
                                 what=f"archive of {sha}").content)
        return CommitSnapshot(sha=sha, files=files, ref=ref, repository=self.url,
                              timestamp=_time(c.get("authored_date")), author=c.get("author_email"),
                              message=c.get("message"), author_email=c.get("author_email"),
                              committer_email=c.get("committer_email"))

    def commits_between(self, base: str, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        """``repository/compare?from=base&to=head``: the commits of head since the merge base, oldest first."""
        data = self._get(f"{self.api}/repository/compare", params={"from": base, "to": head},
                         what=f"comparison of {base} and {head}", missing=(400, 404)).json()
        items = data.get("commits") or []
        got = [self._info(c) for c in items]
        return _cap(got[::-1], limit), len(items)

    @staticmethod
    def _info(c: dict[str, Any]) -> CommitInfo:
        return CommitInfo(str(c["id"]), _time(c.get("authored_date")), c.get("author_email") or c.get("author_name"),
                          c.get("message"), c.get("author_email"), c.get("committer_email"))

    PAGE = 100  # GitLab's largest per_page

    def history(self, head: str, limit: int) -> tuple[list[CommitInfo], int | None]:
        """``repository/commits?ref_name={head}``: newest first, pages while ``X-Next-Page`` names one.
        GitLab does not count commit lists (no ``X-Total``), and lists nothing for a ref it does not know."""
        got: list[CommitInfo] = []
        page: str | None = "1"
        while page and len(got) < limit:
            resp = self._get(f"{self.api}/repository/commits",
                             params={"ref_name": head, "per_page": self.PAGE, "page": page},
                             what=f"history of {head}")
            items = resp.json() or []
            got.extend(self._info(c) for c in items)
            page = (resp.headers.get("X-Next-Page") or "").strip() if items else None
        if not got:
            raise NotFound(f"the git host lists no history for {head}", code="unknown_ref")
        return _cap(got, limit), (None if page else len(got))

    def is_ancestor(self, older: str, newer: str) -> bool:
        # GitLab answers an unknown ref here with 400 "Could not find ref: ...", not 404.
        data = self._get(f"{self.api}/repository/merge_base", params={"refs[]": [older, newer]},
                         what=f"merge base of {older} and {newer}", missing=(400, 404)).json()
        return data.get("id") == older


def source_for(repo: Repository, settings: Settings, *, url: str | None = None) -> GitSource:
    """The source of the configured repository (or of ``url``: a local path or the configured remote)."""
    target = url or repo.url
    token = settings.secret(repo.token_setting) if repo.token_setting else None
    if repo.provider == "local" or (url is not None and "://" not in url and os.path.exists(url)):
        return LocalGitSource(target)
    source: _HttpSource
    if repo.provider == "github":
        source = GitHubSource(target, token, repo.api_url)
    elif repo.provider == "azure-devops":
        source = AzureDevOpsSource(target, token, repo.api_url)
    else:
        source = GitLabSource(target, token, repo.api_url)
    source.timeouts = timeouts_of(repo).of("git")
    return source
