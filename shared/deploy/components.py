"""Components: what a deployment deploys, registered by name in one registry.

A :class:`ComponentSpec` says everything the rest of the product needs to know
about a component: the environment section it targets (``databricks``,
``data_factory``), the branch(es) a push to which deploys it, the folders of
the commit it reads, its deployer (imported on first use) and its help text.
Routing (:mod:`shared.ingest.routing`), the CLI's ``--component`` choices,
audit query validation, the environment locks and the orchestrator all derive
from the registry they are given (default: :data:`COMPONENTS`, the product's).

Adding a component is one :meth:`ComponentRegistry.register` call below plus
its package (its deployer). Tests build their own registry with
:meth:`~shared.registry.Registry.with_` / :meth:`~ComponentRegistry.replacing`
and pass it in; nothing patches this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..registry import Registry

if TYPE_CHECKING:
    from ..config import Environment, PlatformConfig
    from .model import Deployer

DeployerFactory = Callable[[], "Deployer"]
ConfigValues = Callable[["PlatformConfig"], Sequence[str]]


def _whole_commit(config: PlatformConfig) -> Sequence[str]:
    return ("",)


def under(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` when it is inside it (every path is inside "" and "/"), else None."""
    folder = folder.strip("/")
    if not folder or folder == ".":
        return path
    return path[len(folder) + 1:] if path.startswith(folder + "/") else None


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    target: str  # the Environment field holding this component's target section
    deployer: str | DeployerFactory  # "module:attribute" (imported on first use) or a factory
    branches: ConfigValues  # the branches a push to which deploys it; the first is the default ref
    folders: ConfigValues = _whole_commit  # the commit folders its deployer reads ("" = all)
    help: str = ""
    owns: Callable[[PlatformConfig, str], bool] | None = None  # a changed path is ours (default: in folders)

    def make_deployer(self) -> Deployer:
        if not isinstance(self.deployer, str):
            return self.deployer()
        module, _, attribute = self.deployer.partition(":")
        return getattr(importlib.import_module(module), attribute)()  # type: ignore[no-any-return]

    def target_of(self, env: Environment) -> Any | None:
        """This component's target section of ``env`` (None: the environment does not have it)."""
        return getattr(env, self.target, None)

    def owns_path(self, config: PlatformConfig, path: str) -> bool:
        """Whether a push changing ``path`` changes this component (routing when a branch feeds several)."""
        if self.owns is not None:
            return self.owns(config, path)
        return any(under(path, folder) is not None for folder in self.folders(config))

    def deploys_from(self, config: PlatformConfig, branch: str) -> bool:
        return branch in self.branches(config)

    def default_ref(self, config: PlatformConfig) -> str:
        return self.branches(config)[0]


class ComponentRegistry(Registry[ComponentSpec]):
    """Component specs by name; derived views for routing, the CLI, the audit and locks."""

    def __init__(self, items: dict[str, ComponentSpec] | None = None) -> None:
        super().__init__("component", items)

    def add(self, spec: ComponentSpec) -> ComponentSpec:
        return self.register(spec.name, spec)

    def plus(self, spec: ComponentSpec) -> ComponentRegistry:
        """A copy with ``spec`` added."""
        return self.with_(spec.name, spec)

    def replacing_deployer(self, name: str, deployer: str | DeployerFactory) -> ComponentRegistry:
        """A copy where component ``name`` is deployed by ``deployer`` (everything else unchanged)."""
        return self.replacing(name, replace(self.get(name), deployer=deployer))

    def deployer(self, name: str) -> Deployer:
        return self.get(name).make_deployer()

    def for_branch(self, config: PlatformConfig, branch: str) -> list[ComponentSpec]:
        """The components a push to ``branch`` deploys (several may deploy from one branch)."""
        return [c for c in self if c.deploys_from(config, branch)]

    def present_in(self, env: Environment, names: Sequence[str] | None = None) -> list[ComponentSpec]:
        """The components (of ``names``, default all) that ``env`` has a target for."""
        wanted = [self.get(n) for n in names] if names is not None else list(self)
        return [c for c in wanted if c.target_of(env) is not None]


# Files of the ADF root folder besides the object folders that change what is deployed.
ADF_ROOT_FILES = ("publish_config.json", "arm-template-parameters-definition.json")


def _adf_from_main(config: PlatformConfig) -> bool:
    return config.adf.source == "main"


def _adf_owns(config: PlatformConfig, path: str) -> bool:
    """With ``adf.source: main``: factory JSON (an object folder's file) or a root file under ``adf.root_folder``."""
    from ..adf.build.source import FOLDERS, OTHER_FOLDERS

    rel = under(path, config.adf.root_folder)
    return rel is not None and (rel in ADF_ROOT_FILES or
                                ("/" in rel and rel.split("/", 1)[0] in {*FOLDERS, *OTHER_FOLDERS}))


COMPONENTS = ComponentRegistry()
COMPONENTS.add(ComponentSpec(
    "adf", target="data_factory", deployer="shared.adf.deployer:DataFactoryDeployer",
    branches=lambda config: (config.repository.main_branch if _adf_from_main(config)
                             else config.repository.publish_branch,),
    folders=lambda config: (config.adf.root_folder if _adf_from_main(config) else config.adf.factory_dir or "",),
    owns=_adf_owns,
    help="Data Factory: the publish branch's ARM templates, or built from main's factory JSON (adf.source: main)"))
COMPONENTS.add(ComponentSpec(
    "notebooks", target="databricks", deployer="shared.notebooks.deployer:NotebookDeployer",
    branches=lambda config: (config.repository.main_branch,),
    folders=lambda config: (config.databricks.source_dir,),
    help="Databricks notebooks of the main branch"))
