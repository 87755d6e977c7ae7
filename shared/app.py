"""The app's wiring: settings, configuration, storage and ledger, built once and passed down.

The Functions handlers and the CLI both build one :class:`AppContext`, so both
behave the same.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property

from .audit.ledger import AuditLedger
from .clock import Clock, SystemClock
from .config import PlatformConfig, load_config
from .deploy.components import COMPONENTS, ComponentRegistry
from .settings import Settings
from .storage import StorageAccount


@dataclass
class AppContext:
    settings: Settings = field(default_factory=Settings.from_env)
    clock: Clock = field(default_factory=SystemClock)
    config_path: str | None = None
    components: ComponentRegistry = COMPONENTS  # what can be deployed (tests pass their own)
    _config: PlatformConfig | None = None
    _storage: StorageAccount | None = None

    @cached_property
    def config(self) -> PlatformConfig:
        if self._config is not None:
            return self._config
        return load_config(self.config_path or self.settings.config_path)

    @cached_property
    def storage(self) -> StorageAccount:
        if self._storage is not None:
            return self._storage
        try:  # timeouts.storage of the configuration; the defaults when it cannot be read (reported elsewhere)
            timeouts: tuple[float, float] | None = self.config.timeouts.of("storage")
        except Exception:
            timeouts = None
        return StorageAccount.from_settings(self.settings, timeouts)

    @cached_property
    def ledger(self) -> AuditLedger:
        return AuditLedger(self.storage, self.clock)


log = logging.getLogger(__name__)
_lock = threading.Lock()
_current: AppContext | None = None


def current() -> AppContext:
    """The process-wide context of the Functions app (built on first use, not at import)."""
    global _current
    with _lock:
        if _current is None:
            _current = AppContext()
            try:
                _current.storage.ensure()
            except Exception:
                # Storage may come up later (local start-up order); handlers answer 503 meanwhile.
                _current = None
                raise
            log_unresolved_secrets(_current)
        return _current


# The secrets every deployment of the app may use (the configuration names the others).
WEBHOOK_SECRETS = ("GITHUB_WEBHOOK_SECRET", "AZDO_WEBHOOK_USER", "AZDO_WEBHOOK_PASSWORD", "GITLAB_WEBHOOK_TOKEN")


def secret_settings(config: PlatformConfig) -> list[str]:
    """Every app setting holding a secret: the webhook ones and those the configuration names."""
    names = list(WEBHOOK_SECRETS)
    if config.repository.token_setting:
        names.append(config.repository.token_setting)
    for env in config.environments.values():
        for target in (env.data_factory, env.databricks):
            if target is not None and target.token_setting:
                names.append(target.token_setting)
        names.extend(n.url_setting for n in env.notify)
        names.extend(c.http.url_setting for c in env.verify if c.http is not None)  # URLs may carry keys
    return list(dict.fromkeys(names))


def log_unresolved_secrets(ctx: AppContext) -> list[str]:
    """Start-up check: log every secret setting that is empty or an unresolved Key Vault reference
    (by name, never its value); the routes that need one answer 503 ``secret_unresolved``."""
    try:
        names = ctx.settings.unresolved(secret_settings(ctx.config))
    except Exception:  # an invalid configuration is reported where it is used
        return []
    for name in names:
        log.error("app setting %s is unresolved (empty or a Key Vault reference App Service could not "
                  "resolve): what needs it answers 503 secret_unresolved", name)
    return names


def peek() -> AppContext | None:
    """The context if one is built (never builds one)."""
    with _lock:
        return _current


def set_current(ctx: AppContext | None) -> None:
    """Install a context (tests and the local stack)."""
    global _current
    with _lock:
        _current = ctx
