"""Branch names -> branch folder names, and the folder template (pure, no I/O).

A branch folder is ``<root>/<name>``: ``<root>`` is the configured template up
to its last segment (``/Users/{author_email}/branches``), ``<name>`` the branch
with each ``/`` written ``-`` (``feature/login`` -> ``feature-login``). The
deployer prunes whatever is under a folder it syncs, so a branch name that
could put a folder anywhere else, or make two branches share one, is refused
before anything is written:

* git's own rules (``git check-ref-format``): no empty, ``.``-leading or
  ``.lock``-ending segment, no ``..``, no ``@{``, no blanks, no control
  characters, none of ``~^:?*[\\``;
* what git allows but a folder name must not carry: characters outside
  letters, digits, combining marks and ``-_.+@#=,`` (ASCII), so no look-alike
  slashes or dots (``∕`` ``⁄`` ``／`` ``․``), no zero-width or bidi controls,
  no other blanks; a name that Unicode NFKC normalisation changes;
* at most :data:`MAX_BRANCH_BYTES` bytes of UTF-8 (the workspace allows 255 per name).

Two branches whose folder names are equal ignoring case collide
(:func:`collision_key`); the second one is refused.
"""

from __future__ import annotations

import posixpath
import string
import unicodedata

from ..errors import BadRequest

MAX_BRANCH_BYTES = 200
MAX_USER_BYTES = 255
PLACEHOLDERS = ("branch", "author_email")
_ASCII_OK = frozenset(string.ascii_letters + string.digits + "-_.+@#=,")
_GIT_FORBIDDEN = frozenset(" ~^:?*[\\")


class BranchRefused(BadRequest):
    """A branch (or owner) name that cannot name a branch folder: 400, nothing changed."""


def _refuse(branch: str, why: str) -> BranchRefused:
    shown = branch.encode("unicode_escape").decode("ascii")[:120]
    return BranchRefused(f"branch {shown!r} cannot have a branch workspace: {why}", code="invalid_branch_name")


def _bad_char(ch: str) -> str | None:
    if ch in _ASCII_OK or ch == "/":
        return None
    if ord(ch) < 128:
        if ord(ch) < 32 or ord(ch) == 127:
            return f"control character U+{ord(ch):04X}"
        return f"character {ch!r} is not allowed ({'git refuses it' if ch in _GIT_FORBIDDEN else 'letters, digits and -_.+@#=, only'})"
    cat = unicodedata.category(ch)
    if cat[0] in "LN" or cat in ("Mn", "Mc"):
        return None
    name = unicodedata.name(ch, "unnamed")
    return f"character U+{ord(ch):04X} ({name}, category {cat}) is not allowed"


def folder_name(branch: str) -> str:
    """The folder name of ``branch`` (``feature/login`` -> ``feature-login``), or BranchRefused."""
    if not isinstance(branch, str) or not branch:
        raise _refuse(str(branch), "the name is empty")
    size = len(branch.encode("utf-8", "surrogatepass"))
    if size > MAX_BRANCH_BYTES:
        raise _refuse(branch, f"the name is {size} bytes long; branch workspaces allow {MAX_BRANCH_BYTES}")
    for ch in branch:
        problem = _bad_char(ch)
        if problem:
            raise _refuse(branch, problem)
    if unicodedata.normalize("NFKC", branch) != branch:
        raise _refuse(branch, "Unicode normalisation (NFKC) changes the name")
    if ".." in branch:
        raise _refuse(branch, "'..' is not allowed")
    if "@{" in branch or branch == "@":
        raise _refuse(branch, "'@{' is not allowed")
    for seg in branch.split("/"):
        if not seg:
            raise _refuse(branch, "empty path segment (leading, trailing or double '/')")
        if seg.startswith(".") or seg.endswith(".") or seg.endswith(".lock"):
            raise _refuse(branch, f"segment {seg!r} starts or ends with '.' or ends with '.lock'")
    return branch.replace("/", "-")


def collision_key(branch: str) -> str:
    """Branches with equal keys would share a folder (names compared ignoring case)."""
    return folder_name(branch).casefold()


def user_segment(user: str) -> str:
    """The workspace user name as a folder segment (``/Users/<user>``), or BranchRefused."""
    if not user or "/" in user or user in (".", "..") or unicodedata.normalize("NFKC", user) != user \
            or len(user.encode("utf-8", "surrogatepass")) > MAX_USER_BYTES \
            or any(unicodedata.category(c)[0] in "CZ" for c in user):
        shown = user.encode("unicode_escape").decode("ascii")[:120]
        raise BranchRefused(f"workspace user {shown!r} cannot name a folder", code="invalid_owner_name")
    return user


# ------------------------------------------------------------------- the folder template
def template_problem(template: str) -> str | None:
    """Why ``template`` is not a branch folder template, or None."""
    from ..notebooks.limits import normalize_target_dir

    if not template.startswith("/"):
        return "must be an absolute workspace folder such as /Shared/branches/{branch}"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"is not a folder template ({exc})"
    unknown = sorted({f for f in fields if f not in PLACEHOLDERS})
    if unknown:
        return f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} (allowed: {{branch}}, {{author_email}})"
    if fields.count("branch") != 1 or fields.count("author_email") > 1:
        return "must hold {branch} once (and {author_email} at most once)"
    segments = template.split("/")
    if segments[-1] != "{branch}":
        return "{branch} must be the whole last segment (e.g. /Shared/branches/{branch})"
    if "{author_email}" in template and "{author_email}" not in segments:
        return "{author_email} must be a whole segment (e.g. /Users/{author_email}/branches/{branch})"
    try:
        sample = normalize_target_dir(template.format(branch="b", author_email="someone@example.com"))
    except ValueError as exc:
        return str(exc)
    if sample != template.format(branch="b", author_email="someone@example.com"):
        return "must be written normalised (no '.', '//' or trailing '/')"
    return None


def root_of(template: str, user: str | None) -> str:
    """The folder every branch folder of ``user`` sits directly in."""
    return posixpath.dirname(render(template, "x", user))


def render(template: str, name: str, user: str | None) -> str:
    if "{author_email}" in template and not user:
        raise BranchRefused("the branch folder template needs {author_email} but the pusher's workspace user "
                            "is not known", code="owner_unknown")
    return template.format(branch=name, author_email=user_segment(user) if user else "")


def branch_folder(template: str, branch: str, user: str | None) -> str:
    """The folder of ``branch`` (owned by workspace user ``user``), checked to sit directly in its root."""
    name = folder_name(branch)
    folder = render(template, name, user)
    root = root_of(template, user)
    if posixpath.normpath(folder) != folder or posixpath.dirname(folder) != root \
            or posixpath.basename(folder) != name:
        raise _refuse(branch, f"its folder {folder!r} would not be directly in {root!r}")
    return folder
