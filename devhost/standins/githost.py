"""A Git host API stand-in: GitHub, Azure DevOps and GitLab download/compare APIs served from local git repositories.

GitHub (``/repos/{owner}/{repo}/...``): ``commits/{ref}``, ``commits?sha=`` (the history newest first,
``per_page`` 30 by default and 100 at most, ``page``; a ``Link`` header with ``rel="next"`` while there
is more, ``"last"`` and ``"prev"``/``"first"`` as GitHub sends them; 404 for an unknown sha), ``tarball/{ref}``
(a gzipped tar with one ``owner-repo-sha/`` top folder, as GitHub sends),
``compare/{base}...{head}`` (``status``: ahead, behind, identical, diverged; ``commits`` oldest
first, 250 at most, or paginated with ``per_page`` <= 100 and ``page``; ``total_commits``).

Azure DevOps (``/{org}/{project}/_apis/git/repositories/{repo}/...``): ``refs``,
``commits/{id}``, ``items`` with ``$format=zip``, ``commits/{id}/mergebases``, ``POST commitsbatch``
(``itemVersion`` head, ``compareVersion`` base, or ``itemVersion`` alone for head's whole history;
newest first, ``$top``/``$skip``; comments over 100 characters cut with ``commentTruncated: true``,
whole from ``commits/{id}``).

GitLab REST v4 (``/api/v4/projects/{id}/repository/...``, ``id`` the URL-encoded
project path such as ``group%2Frepo``): ``commits/{ref}``, ``commits?ref_name=`` (the history newest
first, ``per_page`` 20 by default and 100 at most, ``page``; ``X-Page``, ``X-Per-Page``, ``X-Next-Page``
(empty on the last page), ``X-Prev-Page`` and a ``Link`` header, but no ``X-Total``/``X-Total-Pages``:
GitLab does not count commit lists; an unknown ref lists nothing), ``compare?from=&to=`` (commits oldest first), ``archive.tar.gz?sha=``
(top folder ``repo-sha-sha/``), ``merge_base?refs[]=a&refs[]=b`` (a commit, or
400 ``Could not find refs: ...`` for unknown refs, as GitLab answers). Errors
are GitLab's ``{"message": "404 ... Not Found"}`` / ``{"message": "401 Unauthorized"}``.

Repositories are registered by name (``owner/repo``, ``org/project/repo`` or a
GitLab ``group/subgroup/repo``) and read with the ``git`` CLI. ``token``
(optional) is required as a bearer token (GitHub), basic-auth password (Azure
DevOps) or ``PRIVATE-TOKEN`` header (GitLab).
"""

from __future__ import annotations

import base64
import gzip
import io
import subprocess
import zipfile
from urllib.parse import unquote

from .httpbase import HttpError, Request, Response, StandInServer, json_response


def _git(path: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", path, *args], capture_output=True, check=False, timeout=60)


class GitHostStandIn:
    def __init__(self, token: str | None = None) -> None:
        self.repos: dict[str, str] = {}
        self.token = token
        self.server = StandInServer(name="githost", authenticate=self._auth)
        s = self.server
        s.add_route("GET", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/commits", self.gh_commits, "gh.commits")
        s.add_route("GET", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/commits/(?P<ref>.+)", self.gh_commit, "gh.commit")
        s.add_route("GET", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/tarball/(?P<ref>.+)", self.gh_tarball, "gh.tarball")
        s.add_route("GET", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/compare/(?P<base>.+?)\.\.\.(?P<head>.+)",
                    self.gh_compare, "gh.compare")
        ado = r"/(?P<org>[^/]+)/(?P<p>[^/]+)/_apis/git/repositories/(?P<r>[^/]+)"
        s.add_route("GET", ado + r"/refs", self.ado_refs, "ado.refs")
        s.add_route("GET", ado + r"/commits/(?P<c>[0-9a-f]{40})/mergebases", self.ado_mergebases, "ado.mergebases")
        s.add_route("GET", ado + r"/commits/(?P<c>[^/]+)", self.ado_commit, "ado.commit")
        s.add_route("GET", ado + r"/items", self.ado_items, "ado.items")
        s.add_route("POST", ado + r"/commitsbatch", self.ado_commits_batch, "ado.commitsbatch")
        gl = r"/api/v4/projects/(?P<id>[^/]+)/repository"
        s.add_route("GET", gl + r"/commits", self.gl_commits, "gl.commits")
        s.add_route("GET", gl + r"/commits/(?P<ref>[^/]+)", self.gl_commit, "gl.commit")
        s.add_route("GET", gl + r"/archive\.tar\.gz", self.gl_archive, "gl.archive")
        s.add_route("GET", gl + r"/merge_base", self.gl_merge_base, "gl.merge_base")
        s.add_route("GET", gl + r"/compare", self.gl_compare, "gl.compare")

    # ----------------------------------------------------------------- setup
    def add_repo(self, name: str, path: str) -> None:
        self.repos[name] = path

    def start(self) -> GitHostStandIn:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def _auth(self, req: Request) -> Response | None:
        if self.token is None:
            return None
        auth = req.header("authorization") or ""
        if req.route.startswith("gl."):
            # GitLab takes a personal access token as PRIVATE-TOKEN (or as an OAuth-style bearer).
            if req.header("private-token") == self.token or auth == f"Bearer {self.token}":
                return None
            return json_response({"message": "401 Unauthorized"}, 401)
        if auth == f"Bearer {self.token}" or auth == f"token {self.token}":
            return None
        if auth.startswith("Basic "):
            try:
                _, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                pw = ""
            if pw == self.token:
                return None
        return json_response({"message": "Bad credentials"}, 401)

    def _repo(self, name: str) -> str:
        path = self.repos.get(name)
        if path is None:
            raise HttpError(404, "NotFound", "Not Found", body={"message": "Not Found"})
        return path

    def _resolve(self, path: str, ref: str) -> str:
        if ref.startswith("-"):
            raise HttpError(422, "Unprocessable", "bad ref", body={"message": "No commit found"})
        p = _git(path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if p.returncode != 0:
            raise HttpError(404, "NotFound", "No commit found", body={"message": f"No commit found for SHA: {ref}"})
        return p.stdout.decode().strip()

    def _meta(self, path: str, sha: str) -> dict[str, str]:
        out = _git(path, "show", "-s", "--format=%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B", sha).stdout.decode()
        name, email, date, cname, cemail, cdate, msg = ([*out.split("\x00"), "", "", "", "", "", "", ""])[:7]
        return {"name": name, "email": email, "date": date, "committer_name": cname, "committer_email": cemail,
                "committer_date": cdate, "message": msg.strip()}

    def _range(self, path: str, base: str, head: str) -> list[str]:
        """Commits reachable from head and not from base, oldest first (what compare APIs list)."""
        out = _git(path, "rev-list", "--reverse", f"{base}..{head}").stdout.decode()
        return out.split()

    LOG_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x1e"

    def _log(self, path: str, rev: str, skip: int, count: int) -> list[tuple[str, list[str], dict[str, str]]]:
        """One page of ``rev``'s history, newest first: (sha, parents, metadata as :meth:`_meta` gives it)."""
        if count <= 0:
            return []
        out = _git(path, "log", f"--skip={max(skip, 0)}", f"--max-count={count}", f"--format={self.LOG_FORMAT}",
                   rev).stdout.decode(errors="replace")
        page = []
        for entry in out.split("\x1e"):
            f = entry.lstrip("\n").split("\x00")
            if len(f) < 9:
                continue
            page.append((f[0], f[1].split(), {"name": f[2], "email": f[3], "date": f[4], "committer_name": f[5],
                                              "committer_email": f[6], "committer_date": f[7],
                                              "message": f[8].strip()}))
        return page

    @staticmethod
    def _page_args(req: Request, default: int, error: HttpError) -> tuple[int, int]:
        """(per_page capped at 100, page from 1) of a list request."""
        try:
            return min(max(int(req.arg("per_page") or default), 1), 100), max(int(req.arg("page") or 1), 1)
        except ValueError:
            raise error from None

    def _archive(self, path: str, sha: str, prefix: str, fmt: str) -> bytes:
        return _git(path, "archive", f"--format={fmt}", f"--prefix={prefix}", sha).stdout

    # ---------------------------------------------------------------- GitHub
    def gh_commit(self, req: Request) -> Response:
        path = self._repo(f"{req.match['o']}/{req.match['r']}")
        sha = self._resolve(path, req.match["ref"])
        m = self._meta(path, sha)
        return json_response(self._gh_commit_entity(m, sha))

    def gh_commits(self, req: Request) -> Response:
        """``GET commits?sha=``: the history of ``sha`` (default the default branch), newest first, paged."""
        o, r = req.match["o"], req.match["r"]
        path = self._repo(f"{o}/{r}")
        sha = self._resolve(path, req.arg("sha") or "HEAD")
        size, page = self._page_args(req, 30, HttpError(422, "Unprocessable", "bad page",
                                                         body={"message": "Invalid page"}))
        items = self._log(path, sha, (page - 1) * size, size)
        total = int(_git(path, "rev-list", "--count", sha).stdout or 0)
        last = max((total + size - 1) // size, 1)
        host = req.header("host") or f"127.0.0.1:{self.server.port}"
        link = f"http://{host}/repos/{o}/{r}/commits?sha={sha}&per_page={size}&page="
        rels = ([f'<{link}{page - 1}>; rel="prev"', f'<{link}1>; rel="first"'] if page > 1 else []) + \
            ([f'<{link}{page + 1}>; rel="next"', f'<{link}{last}>; rel="last"'] if page < last else [])
        return json_response([self._gh_commit_entity(m, c) for c, _, m in items],
                             headers={"Link": ", ".join(rels)} if rels else {})

    @staticmethod
    def _gh_commit_entity(m: dict[str, str], sha: str) -> dict[str, object]:
        return {"sha": sha, "commit": {"author": {"name": m["name"], "email": m["email"], "date": m["date"]},
                                       "committer": {"name": m["committer_name"], "email": m["committer_email"],
                                                     "date": m["committer_date"]},
                                       "message": m["message"]},
                "author": {"login": m["name"]}, "committer": {"login": m["committer_name"]}}

    def gh_tarball(self, req: Request) -> Response:
        o, r = req.match["o"], req.match["r"]
        path = self._repo(f"{o}/{r}")
        sha = self._resolve(path, req.match["ref"])
        data = gzip.compress(self._archive(path, sha, f"{o}-{r}-{sha[:7]}/", "tar"), compresslevel=1)
        return Response(200, data, "application/x-gzip",
                        {"Content-Disposition": f"attachment; filename={o}-{r}-{sha[:7]}.tar.gz"})

    def gh_compare(self, req: Request) -> Response:
        path = self._repo(f"{req.match['o']}/{req.match['r']}")
        base, head = self._resolve(path, req.match["base"]), self._resolve(path, req.match["head"])
        ahead = int(_git(path, "rev-list", "--count", f"{base}..{head}").stdout or 0)
        behind = int(_git(path, "rev-list", "--count", f"{head}..{base}").stdout or 0)
        status = ("identical" if not ahead and not behind else "ahead" if not behind
                  else "behind" if not ahead else "diverged")
        # GitHub lists the commits of head since the merge base, oldest first: 250 at most without
        # per_page; with per_page (1..100) and page, that page of them. total_commits counts them all.
        shas = self._range(path, base, head)
        per_page = req.arg("per_page")
        if per_page is None:
            window = shas[:250]
        else:
            try:
                size, page = min(max(int(per_page), 1), 100), max(int(req.arg("page") or 1), 1)
            except ValueError:
                raise HttpError(422, "Unprocessable", "bad page", body={"message": "Invalid page"}) from None
            window = shas[(page - 1) * size:page * size]
        merge_base = _git(path, "merge-base", base, head).stdout.decode().strip()
        return json_response({"status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
                              "base_commit": {"sha": base}, "merge_base_commit": {"sha": merge_base},
                              "commits": [self._gh_commit_entity(self._meta(path, c), c) for c in window]})

    # ----------------------------------------------------------- Azure DevOps
    def _ado_repo(self, req: Request) -> str:
        return self._repo(f"{req.match['org']}/{req.match['p']}/{req.match['r']}")

    def ado_refs(self, req: Request) -> Response:
        path = self._ado_repo(req)
        flt = req.arg("filter") or ""
        out = _git(path, "for-each-ref", "--format=%(objectname) %(refname)", f"refs/{flt}").stdout.decode()
        value = [{"name": n, "objectId": o} for o, _, n in (line.partition(" ") for line in out.splitlines())
                 if n.startswith(f"refs/{flt}")]
        return json_response({"value": value, "count": len(value)})

    def ado_commit(self, req: Request) -> Response:
        path = self._ado_repo(req)
        sha = self._resolve(path, req.match["c"])
        m = self._meta(path, sha)
        return json_response(self._ado_commit_entity(m, sha, full=True))

    # Azure DevOps shortens long comments in commit lists and says so with commentTruncated.
    ADO_LIST_COMMENT = 100

    def _ado_commit_entity(self, m: dict[str, str], sha: str, *, full: bool) -> dict[str, object]:
        comment = m["message"]
        out: dict[str, object] = {
            "commitId": sha, "author": {"name": m["name"], "email": m["email"], "date": m["date"]},
            "committer": {"name": m["committer_name"], "email": m["committer_email"], "date": m["committer_date"]}}
        if not full and len(comment) > self.ADO_LIST_COMMENT:
            out.update(comment=comment[:self.ADO_LIST_COMMENT], commentTruncated=True)
        else:
            out["comment"] = comment
        return out

    def ado_commits_batch(self, req: Request) -> Response:
        """Commits in ``itemVersion`` and not in ``compareVersion``, newest first, ``$top``/``$skip``."""
        path = self._ado_repo(req)
        body = req.json() or {}
        try:
            head = self._resolve(path, str(body["itemVersion"]["version"]))
            compare = body.get("compareVersion")
            base = self._resolve(path, str(compare["version"])) if compare is not None else None
            top, skip = int(req.arg("$top") or 100), int(req.arg("$skip") or 0)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise HttpError(400, "BadRequest", "itemVersion (and compareVersion, if given) need a version",
                            body={"message": "itemVersion (and compareVersion, if given) need a version"}) from None
        rev = head if base is None else f"{base}..{head}"  # compareVersion given: head's commits not in base
        value = [self._ado_commit_entity(m, c, full=False) for c, _, m in self._log(path, rev, skip, top)]
        return json_response({"value": value, "count": len(value)})

    def ado_items(self, req: Request) -> Response:
        path = self._ado_repo(req)
        if req.arg("$format") != "zip":
            raise HttpError(400, "BadRequest", "only $format=zip is served")
        version = req.arg("versionDescriptor.version") or "HEAD"
        sha = self._resolve(path, version)
        # Azure DevOps zips have no top folder; re-pack git's archive without a prefix.
        data = self._archive(path, sha, "", "zip")
        with zipfile.ZipFile(io.BytesIO(data)) as src:
            names = [i.filename for i in src.infolist() if not i.is_dir()]
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as dst:
                for n in names:
                    dst.writestr(n, src.read(n))
        return Response(200, buf.getvalue(), "application/zip")

    def ado_mergebases(self, req: Request) -> Response:
        path = self._ado_repo(req)
        a = self._resolve(path, req.match["c"])
        b = self._resolve(path, req.arg("otherCommitId") or "")
        out = _git(path, "merge-base", a, b).stdout.decode().strip()
        return json_response({"value": [{"commitId": out}] if out else [], "count": 1 if out else 0})


    # ---------------------------------------------------------------- GitLab
    @staticmethod
    def _gl_404(what: str) -> HttpError:
        return HttpError(404, "NotFound", f"404 {what}", body={"message": f"404 {what}"})

    def _gl_repo(self, req: Request) -> tuple[str, str]:
        """(registered path, repository name) of the project id (a URL-encoded ``group/repo`` path)."""
        name = unquote(req.match["id"])
        path = self.repos.get(name)
        if path is None:
            raise self._gl_404("Project Not Found")
        return path, name.rsplit("/", 1)[-1]

    def _gl_resolve(self, path: str, ref: str, what: str = "Commit Not Found") -> str:
        p = _git(path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") if ref and not ref.startswith("-") \
            else None
        if p is None or p.returncode != 0:
            raise self._gl_404(what)
        return p.stdout.decode().strip()

    def _gl_commit_entity(self, path: str, sha: str) -> dict[str, object]:
        m = self._meta(path, sha)
        parents = _git(path, "rev-list", "--parents", "-n", "1", sha).stdout.decode().split()[1:]
        return self._gl_entity(sha, parents, m)

    @staticmethod
    def _gl_entity(sha: str, parents: list[str], m: dict[str, str]) -> dict[str, object]:
        return {"id": sha, "short_id": sha[:8], "title": m["message"].splitlines()[0] if m["message"] else "",
                "message": m["message"], "parent_ids": parents, "created_at": m["date"],
                "author_name": m["name"], "author_email": m["email"], "authored_date": m["date"],
                "committer_name": m["committer_name"], "committer_email": m["committer_email"],
                "committed_date": m["committer_date"]}

    def gl_commits(self, req: Request) -> Response:
        """``commits?ref_name=``: the history newest first, paged without a count (as GitLab does)."""
        path, _ = self._gl_repo(req)
        size, page = self._page_args(req, 20, HttpError(400, "BadRequest", "page is invalid",
                                                         body={"error": "page is invalid"}))
        ref = req.arg("ref_name") or "HEAD"
        p = _git(path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") if not ref.startswith("-") else None
        if p is None or p.returncode != 0:
            return json_response([], headers={"X-Page": str(page), "X-Per-Page": str(size), "X-Next-Page": "",
                                              "X-Prev-Page": ""})
        sha = p.stdout.decode().strip()
        items = self._log(path, sha, (page - 1) * size, size + 1)  # one more: is there a next page?
        more, items = len(items) > size, items[:size]
        host = req.header("host") or f"127.0.0.1:{self.server.port}"
        link = f"http://{host}/api/v4/projects/{req.match['id']}/repository/commits?ref_name={ref}&per_page={size}&page="
        rels = ([f'<{link}{page - 1}>; rel="prev"'] if page > 1 else []) + \
            ([f'<{link}{page + 1}>; rel="next"'] if more else []) + [f'<{link}1>; rel="first"']
        entities = [self._gl_entity(c, parents, m) for c, parents, m in items]
        return json_response(entities, headers={
            "X-Page": str(page), "X-Per-Page": str(size), "X-Next-Page": str(page + 1) if more else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "", "Link": ", ".join(rels)})

    def gl_commit(self, req: Request) -> Response:
        path, _ = self._gl_repo(req)
        sha = self._gl_resolve(path, unquote(req.match["ref"]))
        return json_response(self._gl_commit_entity(path, sha))

    def gl_archive(self, req: Request) -> Response:
        path, repo = self._gl_repo(req)
        ref = req.arg("sha") or "HEAD"  # GitLab archives the default branch when sha is omitted
        sha = self._gl_resolve(path, ref, "Not found")
        top = f"{repo}-{ref if ref != 'HEAD' else sha}-{sha}"
        data = gzip.compress(self._archive(path, sha, f"{top}/", "tar"), compresslevel=1)
        return Response(200, data, "application/octet-stream",
                        {"Content-Disposition": f'attachment; filename="{top}.tar.gz"'})

    def gl_compare(self, req: Request) -> Response:
        """``compare?from=&to=``: the commits of ``to`` since the merge base, oldest first."""
        path, _ = self._gl_repo(req)
        base = self._gl_resolve(path, req.arg("from") or "", "Ref Not Found")
        head = self._gl_resolve(path, req.arg("to") or "", "Ref Not Found")
        commits = [self._gl_commit_entity(path, c) for c in self._range(path, base, head)]
        return json_response({"commit": commits[-1] if commits else None, "commits": commits, "diffs": [],
                              "compare_timeout": False, "compare_same_ref": base == head})

    def gl_merge_base(self, req: Request) -> Response:
        path, _ = self._gl_repo(req)
        refs = req.query.get("refs[]", [])
        if len(refs) < 2:
            return json_response({"message": "Provide at least 2 refs"}, 400)
        shas: list[str] = []
        unknown: list[str] = []
        for ref in refs:
            try:
                shas.append(self._gl_resolve(path, ref))
            except HttpError:
                unknown.append(ref)
        if unknown:
            noun = "ref" if len(unknown) == 1 else "refs"
            return json_response({"message": f"Could not find {noun}: {', '.join(unknown)}"}, 400)
        out = _git(path, "merge-base", *shas).stdout.decode().strip()
        if not out:
            raise self._gl_404("Merge Base Not Found")
        return json_response(self._gl_commit_entity(path, out))
