"""The clients of one environment's targets, built once per action and shared by its resource types."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..settings import Settings

if TYPE_CHECKING:
    from ..adf.client import FactoryClient
    from ..config import Environment
    from ..databricks.compute import WorkspaceCompute


class EnvironmentTargets:
    """Lazily built adapters (the SDKs are imported only when a resource type needs them)."""

    def __init__(self, name: str, environment: Environment, settings: Settings, *,
                 databricks_config: dict[str, Any] | None = None,
                 factory_options: dict[str, Any] | None = None) -> None:
        self.name = name
        self.environment = environment
        self.settings = settings
        self._databricks_config = databricks_config or {}
        self._factory_options = factory_options or {}

    @cached_property
    def compute(self) -> WorkspaceCompute | None:
        if self.environment.databricks is None:
            return None
        from ..databricks.compute import WorkspaceCompute

        return WorkspaceCompute.for_target(self.environment.databricks, self.settings, **self._databricks_config)

    @cached_property
    def factory(self) -> FactoryClient | None:
        if self.environment.data_factory is None:
            return None
        from ..adf.client import FactoryClient

        return FactoryClient(self.environment.data_factory, self.settings, **self._factory_options)
