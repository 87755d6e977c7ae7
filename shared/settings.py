"""App settings: read once from the environment (or a mapping in tests), passed down.

Settings *name* secrets; their values are read only where used and are never
logged, traced or written to the audit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import ConfigError

DEFAULT_DEPLOY_QUEUE = "dataops-deployments"
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,15}$|^$")

# The deployment queue, in ONE place. The worker's queue triggers bind these expressions
# (functions/worker.py); the Functions host resolves them from the app settings when it starts.
# The app sends to the queue it resolves from the very same setting (``StorageNames.deploy_queue``),
# so the two names cannot differ in any configuration.
DEPLOY_QUEUE_SETTING = "DATAOPS_DEPLOY_QUEUE"
DEPLOY_QUEUE_BINDING = f"%{DEPLOY_QUEUE_SETTING}%"
POISON_QUEUE_BINDING = f"{DEPLOY_QUEUE_BINDING}-poison"  # the host's own poison-queue name: <queue>-poison
# Azure Storage queue names: 3-63 characters, lowercase letters, digits and single hyphens,
# starting and ending with a letter or digit.
_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


def valid_queue_name(name: str) -> bool:
    return bool(_QUEUE_NAME.match(name))

# Every app setting the app itself reads, with a one-line description.
# local.settings.sample.json is checked against this table by a test.
KNOWN_SETTINGS: dict[str, str] = {
    "AzureWebJobsStorage": "Storage connection string of the app's own storage account (tables, queues, "
                           "blobs); in Azure prefer AzureWebJobsStorage__accountName (managed identity)",
    "AzureWebJobsStorage__accountName": "Storage account name for identity-based connections",
    "DATAOPS_CONFIG": "Path of the platform configuration YAML (default infra/environments.yaml)",
    "DATAOPS_STORAGE_PREFIX": "Optional lowercase prefix of every table and container name (not of the queue: "
                              "see DATAOPS_DEPLOY_QUEUE)",
    "DATAOPS_DEPLOY_QUEUE": "Required: the deployment request queue, exactly as the worker's trigger binds it "
                            "(%DATAOPS_DEPLOY_QUEUE%); its poison queue is <name>-poison",
    "DATAOPS_LOCK_RETRY_SECONDS": "Seconds a deployment request whose environment and component is locked "
                                  "waits in the queue before it tries again (default 15)",
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
    "DATAOPS_WEBHOOK_BUDGET_S": "Seconds a webhook may take to answer (default 8; storage that does not answer "
                                "in time is a 503)",
    "DATAOPS_WEBHOOK_REPLAY_WINDOW_S": "Seconds within which a replayed body or provider id is a duplicate "
                                       "(default 259200 = 72 h)",
}


@dataclass(frozen=True)
class StorageNames:
    """Names of the app's own tables, queues and containers (a prefix isolates tests).

    ``deploy_queue_name`` is the deployment queue as the Functions host resolves the worker's
    trigger (``%DATAOPS_DEPLOY_QUEUE%``, lowercased). ``None`` (names built in code: tests,
    benchmarks) means ``{prefix}dataops-deployments``; ``""`` means the app setting is missing:
    no trigger would listen, so sending a deployment request is a configuration error.
    """

    prefix: str = ""
    deploy_queue_name: str | None = None

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ConfigError([f"DATAOPS_STORAGE_PREFIX: {self.prefix!r} must be up to 16 lowercase "
                               "letters and digits, starting with a letter"], "app settings")
        if self.deploy_queue_name is None:
            object.__setattr__(self, "deploy_queue_name", f"{self.prefix}{DEFAULT_DEPLOY_QUEUE}")
        queue = self.deploy_queue_name
        if queue and not (valid_queue_name(queue) and valid_queue_name(f"{queue}-poison")):
            raise ConfigError([f"{DEPLOY_QUEUE_SETTING}: {queue!r} is not a valid queue name (3-57 lowercase "
                               "letters, digits and single hyphens, so that <name>-poison is valid too)"],
                              "app settings")

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
        if not self.deploy_queue_name:
            raise ConfigError([f"{DEPLOY_QUEUE_SETTING}: app setting is not set (the deployment worker's queue "
                               f"trigger binds {DEPLOY_QUEUE_BINDING}: without it nothing would run the "
                               "deployment requests)"], "app settings")
        return self.deploy_queue_name

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
        return [self.deploy_queue, self.poison_queue] if self.deploy_queue_name else []

    def app_settings(self) -> dict[str, str]:
        """The app settings that make the app (and the host's triggers) use exactly these names."""
        return {"DATAOPS_STORAGE_PREFIX": self.prefix, DEPLOY_QUEUE_SETTING: self.deploy_queue}

    def containers(self) -> list[str]:
        return [self.payload_container, self.lock_container, self.state_container]


_KEY_VAULT_REFERENCE = re.compile(r"^\s*@Microsoft\.KeyVault\(", re.IGNORECASE)


def is_unresolved(value: str) -> bool:
    """An app setting value that is empty or still an App Service Key Vault reference."""
    return not value.strip() or bool(_KEY_VAULT_REFERENCE.match(value))


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
        """The value of the app setting ``name`` (a secret: never log it); None when not set.

        A setting that is present but empty, or still holds the ``@Microsoft.KeyVault(...)`` text
        (App Service passes the reference itself when it cannot resolve it), is *unresolved*:
        503 ``secret_unresolved`` naming the setting, never its value. Accepting it would let anyone
        who knows the reference text (or nothing) authenticate with it.
        """
        raw = self.environ.get(name)
        if raw is None:
            return None
        if is_unresolved(raw):
            from .errors import Unavailable

            raise Unavailable(f"app setting {name} is {'empty' if not raw.strip() else 'an unresolved Key Vault reference'}"
                              " (check the app's access to the vault and the secret's name; App Service retries "
                              "resolving references)", code="secret_unresolved")
        return raw

    def unresolved(self, names: Iterable[str]) -> list[str]:
        """Which of the settings ``names`` are present but unresolved (empty or a Key Vault reference)."""
        return [n for n in names if n in self.environ and is_unresolved(self.environ[n])]

    def require_secret(self, name: str, purpose: str) -> str:
        value = self.secret(name)
        if not value:
            raise ConfigError([f"{name}: app setting is not set ({purpose})"], "app settings")
        return value

    @property
    def config_path(self) -> str | None:
        return self.get("DATAOPS_CONFIG")

    @property
    def lock_retry_seconds(self) -> int:
        raw = self.get("DATAOPS_LOCK_RETRY_SECONDS", "15") or "15"
        if not raw.isdigit() or not 1 <= int(raw) <= 3600:
            raise ConfigError([f"DATAOPS_LOCK_RETRY_SECONDS: {raw!r} must be whole seconds, 1-3600"], "app settings")
        return int(raw)

    @property
    def storage_connection(self) -> str | None:
        return self.get("AzureWebJobsStorage")

    @property
    def storage_account(self) -> str | None:
        return self.get("AzureWebJobsStorage__accountName")

    def binding(self, expression: str) -> str | None:
        """``%SETTING%`` expressions resolved from these settings the way the Functions host resolves
        a trigger's: each ``%name%`` replaced by the setting (names are case-insensitive, as in the
        host's configuration), ``None`` when one is missing; lowercased, as the host does for queue
        names."""
        folded = {k.casefold(): v for k, v in self.environ.items()}
        out, rest = "", expression
        while "%" in rest:
            head, _, tail = rest.partition("%")
            name, sep, rest = tail.partition("%")
            value = self.environ.get(name, folded.get(name.casefold())) if sep else None
            if value is None:
                return None
            out += head + value
        return (out + rest).lower()

    @property
    def names(self) -> StorageNames:
        return StorageNames(self.get("DATAOPS_STORAGE_PREFIX", "") or "", self.binding(DEPLOY_QUEUE_BINDING) or "")
