"""Routing a push to deployments, by the configuration (pure: no I/O).

A push to ``main_branch`` asks for a ``notebooks`` deployment, a push to
``publish_branch`` an ``adf`` deployment, for every environment with
``deploy_on: [push]``. With ``adf.source: main`` a push to ``main_branch`` asks
for ``adf`` when it changes the factory JSON under ``adf.root_folder`` and for
``notebooks`` when it changes ``databricks.source_dir`` (both when the payload does
not list the changed files); the publish branch is then not deployed.
Everything else is ignored with the reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..config import PlatformConfig
from .push import Push


@dataclass(frozen=True)
class Target:
    environment: str
    component: str


@dataclass(frozen=True)
class Route:
    targets: tuple[Target, ...] = ()
    ignored: str | None = None  # the reason, when nothing is deployed
    skipped: tuple[str, ...] = field(default_factory=tuple)  # environments passed over, with why


def normalize_repository(url: str) -> str:
    """``https://user@Host/Org/Repo.git/`` and ``git@host:org/repo.git`` -> ``host/org/repo``."""
    text = url.strip()
    m = re.match(r"^[\w.-]+@([\w.-]+):(.+)$", text)  # scp-like ssh
    if m and "://" not in text:
        host, path = m.group(1), m.group(2)
    elif "://" in text:
        parts = urlsplit(text)
        host, path = (parts.hostname or ""), parts.path
    else:
        host, path = "", text
    path = path.strip("/")
    # Azure DevOps ssh: ssh.dev.azure.com:v3/org/project/repo
    if host.lower() == "ssh.dev.azure.com" and path.startswith("v3/"):
        org, project, repo = ([*path[3:].split("/"), "", "", ""])[:3]
        host, path = "dev.azure.com", f"{org}/{project}/_git/{repo}"
    path = path[:-4] if path.endswith(".git") else path
    return f"{host.lower()}/{path.lower()}".strip("/")


def same_repository(config_url: str, provider: str, push: Push) -> bool:
    """Whether the push comes from the configured repository."""
    if provider == "local":
        # A local repository has no canonical URL: its folder name is what a push can name.
        want = os.path.basename(os.path.normpath(config_url)).lower().removesuffix(".git")
        names = [push.repository, *push.repository_aliases]
        return any(os.path.basename(n.rstrip("/")).lower().removesuffix(".git") == want for n in names) or \
            any(os.path.normpath(n) == os.path.normpath(config_url) for n in names)
    want = normalize_repository(config_url)
    for name in (push.repository, *push.repository_aliases):
        got = normalize_repository(name)
        if got == want or (got.count("/") == 1 and want.endswith("/" + got)):  # GitHub full_name
            return True
    return False


def route_push(config: PlatformConfig, push: Push) -> Route:
    """The deployments a push asks for, or why it asks for none."""
    repo = config.repository
    if not same_repository(repo.url, repo.provider, push):
        return Route(ignored=f"push to {push.repository}, not the configured repository {repo.url}")
    if push.deleted:
        return Route(ignored=f"{push.ref} was deleted")
    branch = push.branch
    if branch is None:
        kind = "tag" if push.ref.startswith("refs/tags/") else "ref"
        return Route(ignored=f"{kind} {push.ref} is not a branch")
    from_main = config.adf.source == "main"
    if branch == repo.main_branch and from_main:
        components = changed_components(config, push.changed_paths)
        if not components:
            return Route(ignored=f"the push changes neither the ADF root ({config.adf.root_folder}) nor the "
                                 f"notebooks ({config.databricks.source_dir})")
    elif branch == repo.main_branch:
        components = ["notebooks"]
    elif branch == repo.publish_branch and not from_main:
        components = ["adf"]
    elif branch == repo.publish_branch:
        return Route(ignored=f"adf.source is main: the publish branch ({repo.publish_branch}) is not deployed")
    else:
        return Route(ignored=f"branch {branch!r} is neither the main branch ({repo.main_branch}) "
                             f"nor the publish branch ({repo.publish_branch})")
    targets: list[Target] = []
    skipped: list[str] = []
    for component in components:
        for name, env in config.environments.items():
            if "push" not in env.deploy_on:
                continue
            target_section = env.databricks if component == "notebooks" else env.data_factory
            if target_section is None:
                skipped.append(f"{name}: no {'databricks' if component == 'notebooks' else 'data_factory'} section")
                continue
            targets.append(Target(name, component))
    if not targets:
        why = "; ".join(skipped) if skipped else "no environment has deploy_on: [push]"
        return Route(ignored=f"no environment deploys {' or '.join(components)} on push ({why})",
                     skipped=tuple(skipped))
    return Route(targets=tuple(targets), skipped=tuple(skipped))


ADF_ROOT_FILES = ("publish_config.json", "arm-template-parameters-definition.json")


def _under(path: str, folder: str) -> str | None:
    folder = folder.strip("/")
    if not folder or folder == ".":
        return path
    return path[len(folder) + 1:] if path.startswith(folder + "/") else None


def changed_components(config: PlatformConfig, paths: tuple[str, ...] | None) -> list[str]:
    """With ``adf.source: main``: the components a push to main changes (both when the paths are unknown)."""
    if paths is None:
        return ["notebooks", "adf"]
    from ..adf.build.source import FOLDERS, OTHER_FOLDERS

    adf_dirs = set(FOLDERS) | set(OTHER_FOLDERS)
    out = []
    if any(_under(p.lstrip("/"), config.databricks.source_dir) is not None for p in paths):
        out.append("notebooks")
    for p in paths:
        rel = _under(p.lstrip("/"), config.adf.root_folder)
        if rel is not None and (rel in ADF_ROOT_FILES or (rel.split("/", 1)[0] in adf_dirs and "/" in rel)):
            out.append("adf")
            break
    return out
