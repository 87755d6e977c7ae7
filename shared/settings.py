"""App settings: read once from the environment (or a mapping in tests), passed down.

Settings *name* secrets; their values are read only where used and are never
logged, traced or written to the audit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConfigError

DEFAULT_DEPLOY_QUEUE = "dataops-deployments"
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,15}$|^$")

# Every app setting the app itself reads, with a one-line description.
# local.settings.sample.json is checked against this table by a test.
KNOWN_SETTINGS: dict[str, str] = {
    "AzureWebJobsStorage": "Storage connection string of the app's own storage account (tables, queues, "
                           "blobs); in Azure prefer AzureWebJobsStorage__accountName (managed identity)",
    "AzureWebJobsStorage__accountName": "Storage account name for identity-based connections",
    "DATAOPS_CONFIG": "Path of the platform configuration YAML (default infra/environments.yaml)",
    "DATAOPS_STORAGE_PREFIX": "Optional lowercase prefix for every table, queue and container name",
    "DATAOPS_DEPLOY_QUEUE": "Name of the deployment request queue (default dataops-deployments)",
    "GITHUB_WEBHOOK_SECRET": "Secret of the GitHub webhook (HMAC-SHA256 signature)",
    "AZDO_WEBHOOK_USER": "Basic-auth user name configured on the Azure DevOps service hook",
    "AZDO_WEBHOOK_PASSWORD": "Basic-auth password configured on the Azure DevOps service hook",
    "GITLAB_WEBHOOK_TOKEN": "Secret token configured on the GitLab webhook",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "Export telemetry to Azure Monitor when set",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "Export telemetry over OTLP/HTTP when set",
    "OTEL_SERVICE_NAME": "Service name on traces (default dataops-deployer)",
    "DATAOPS_TRACE_FILE": "Also write every span as a JSON line to this file (make run: .local/traces.jsonl)",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "Set by the platform when the Python worker configures "
                                                   "Azure Monitor itself; the app then adds no second exporter",
    "REQUESTS_CA_BUNDLE": "Extra CA bundle for HTTPS targets (the local ARM stand-in's certificate authority)",
    "DATAOPS_LOCAL_PRINCIPAL": "Dev host only: the local user its App Service Authentication stand-in signs "
                               "requests in as (needs security.local_identities: true)",
}


@dataclass(frozen=True)
class StorageNames:
    """Names of the app's own tables, queues and containers (a prefix isolates tests)."""

    prefix: str = ""
    deploy_queue_name: str = DEFAULT_DEPLOY_QUEUE

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ConfigError([f"DATAOPS_STORAGE_PREFIX: {self.prefix!r} must be up to 16 lowercase "
                               "letters and digits, starting with a letter"], "app settings")

    @property
    def deployments_table(self) -> str:
        return f"{self.prefix}dataopsdeployments"

    @property
    def details_table(self) -> str:
        return f"{self.prefix}dataopsdetails"

    @property
    def activity_table(self) -> str:
        return f"{self.prefix}dataopsactivity"

    @property
    def state_table(self) -> str:
        return f"{self.prefix}dataopsstate"

    @property
    def deploy_queue(self) -> str:
        return f"{self.prefix}{self.deploy_queue_name}" if self.prefix else self.deploy_queue_name

    @property
    def poison_queue(self) -> str:
        return f"{self.deploy_queue}-poison"

    @property
    def payload_container(self) -> str:
        return f"{self.prefix}dataops-payloads"

    @property
    def lock_container(self) -> str:
        return f"{self.prefix}dataops-locks"

    @property
    def state_container(self) -> str:
        """Sync state kept next to the targets (the notebook inventory per environment)."""
        return f"{self.prefix}dataops-state"

    def tables(self) -> list[str]:
        return [self.deployments_table, self.details_table, self.activity_table, self.state_table]

    def queues(self) -> list[str]:
        return [self.deploy_queue, self.poison_queue]

    def containers(self) -> list[str]:
        return [self.payload_container, self.lock_container, self.state_container]


@dataclass(frozen=True)
class Settings:
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def from_env(cls, overrides: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ)
        if overrides:
            env.update(overrides)
        return cls(env)

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name)
        return value if value not in (None, "") else default

    def secret(self, name: str) -> str | None:
        """The value of the app setting ``name`` (a secret: never log it)."""
        return self.get(name)

    def require_secret(self, name: str, purpose: str) -> str:
        value = self.secret(name)
        if not value:
            raise ConfigError([f"{name}: app setting is not set ({purpose})"], "app settings")
        return value

    @property
    def config_path(self) -> str | None:
        return self.get("DATAOPS_CONFIG")

    @property
    def storage_connection(self) -> str | None:
        return self.get("AzureWebJobsStorage")

    @property
    def storage_account(self) -> str | None:
        return self.get("AzureWebJobsStorage__accountName")

    @property
    def names(self) -> StorageNames:
        return StorageNames(self.get("DATAOPS_STORAGE_PREFIX", "") or "",
                            self.get("DATAOPS_DEPLOY_QUEUE", DEFAULT_DEPLOY_QUEUE) or DEFAULT_DEPLOY_QUEUE)
