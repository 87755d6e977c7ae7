"""Routing a push to deployments, by the configuration and the component registry (pure: no I/O).

A push to a branch asks for a deployment of every component that deploys from
that branch (product registry: ``main_branch`` -> ``notebooks``,
``publish_branch`` -> ``adf``; with ``adf.source: main`` both from
``main_branch`` and the publish branch is not deployed), in every environment
with ``deploy_on: [push]`` that has the component's target section. When
several components deploy from the branch, each is deployed only when the push
changes its files (``ComponentSpec.owns_path``: the factory JSON under
``adf.root_folder``, the notebooks under ``databricks.source_dir``), all of them
when the payload does not list the changed files. Everything else is ignored
with the reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..config import PlatformConfig
from ..deploy.components import COMPONENTS, ComponentRegistry, ComponentSpec
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


def route_push(config: PlatformConfig, push: Push, components: ComponentRegistry = COMPONENTS) -> Route:
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
    specs = components.for_branch(config, branch)
    if not specs:
        return Route(ignored=f"no component deploys from branch {branch!r} "
                             f"({_deploy_branches(config, components)})")
    if len(specs) > 1 and push.changed_paths is not None:
        paths = [p.lstrip("/") for p in push.changed_paths]
        changed = [s for s in specs if any(s.owns_path(config, p) for p in paths)]
        if not changed:
            where = ", ".join(f"{s.name}: {' '.join(s.folders(config))}" for s in specs)
            return Route(ignored=f"the push changes nothing the components of {branch!r} deploy ({where})")
        specs = changed
    return _targets(config, specs)


def _deploy_branches(config: PlatformConfig, components: ComponentRegistry) -> str:
    """``main: notebooks; adf_publish: adf`` (which branch deploys what)."""
    by_branch: dict[str, list[str]] = {}
    for spec in components:
        for b in spec.branches(config):
            by_branch.setdefault(b, []).append(spec.name)
    return "; ".join(f"{b}: {', '.join(names)}" for b, names in by_branch.items())


def _targets(config: PlatformConfig, specs: list[ComponentSpec]) -> Route:
    targets: list[Target] = []
    skipped: list[str] = []
    for name, env in config.environments.items():
        if "push" not in env.deploy_on:
            continue
        for spec in specs:
            if spec.target_of(env) is None:
                skipped.append(f"{name}: no {spec.target} section")
            else:
                targets.append(Target(name, spec.name))
    if not targets:
        why = "; ".join(skipped) if skipped else "no environment has deploy_on: [push]"
        names = " or ".join(s.name for s in specs)
        return Route(ignored=f"no environment deploys {names} on push ({why})", skipped=tuple(skipped))
    return Route(targets=tuple(targets), skipped=tuple(skipped))
