"""The platform configuration (SPEC section 5): one YAML file, one validated model.

An invalid file is refused as a whole, with every problem listed by its key
path (``environments.prod.schedule.stop: not a valid NCRONTAB expression``).
Secrets never live here: the file names the app settings that hold them.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from . import ncrontab
from .errors import ConfigError
from .timeouts import Timeouts

DEFAULT_CONFIG_PATH = "infra/environments.yaml"
ENV_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

ScheduleResource = Literal["adf_triggers", "clusters", "warehouses", "jobs"]
NotifyEvent = Literal["waiting_approval", "failed", "succeeded", "rejected", "rolled_back", "superseded",
                      "stranded"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # the configuration's ``timeouts:`` block, handed to the repository and each target by PlatformConfig
    # (read with shared.timeouts.timeouts_of; a target built alone has the defaults)
    _timeouts: Timeouts | None = PrivateAttr(default=None)


def _check_cron(value: str) -> str:
    try:
        ncrontab.parse(value)
    except ncrontab.CronError as exc:
        raise ValueError(f"not a valid NCRONTAB expression ({exc})") from None
    return value


def _check_tz(value: str) -> str:
    try:
        ncrontab.validate_time_zone(value)
    except ncrontab.CronError:
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/London)") from None
    return value


def _check_url(value: str, *, https_only: bool = False) -> str:
    parsed = urlparse(value)
    allowed = ("https",) if https_only else ("https", "http")
    if parsed.scheme not in allowed or not parsed.hostname:
        raise ValueError(f"{value!r} is not a valid {'/'.join(allowed)} URL")
    return value.rstrip("/")


def _check_setting(value: str | None) -> str | None:
    if value is not None and not SETTING_NAME.match(value):
        raise ValueError(f"{value!r} is not an app setting name (letters, digits, underscores)")
    return value


class Repository(_Model):
    provider: Literal["github", "azure-devops", "gitlab", "local"] = "github"
    url: str
    main_branch: str = "main"
    publish_branch: str = "adf_publish"
    token_setting: str | None = None
    api_url: str | None = Field(default=None, description="Override of the provider's API base URL")

    _setting = field_validator("token_setting")(_check_setting)

    @field_validator("api_url")
    @classmethod
    def _api(cls, v: str | None) -> str | None:
        return None if v is None else _check_url(v)


class AdfSource(_Model):
    factory_dir: str | None = None
    # where ADF deploys from: "publish" = the publish branch's ARM templates (ADF's Publish button);
    # "main" = templates built from the factory JSON on the main branch (shared/adf/build)
    source: Literal["publish", "main"] = "publish"
    root_folder: str = "/"  # the repository's ADF root folder (factory JSON), for source: main
    factory: str | None = None  # which factory/<name>.json, when factory/ holds several


class DatabricksSource(_Model):
    source_dir: str = "notebooks"
    sync_files: bool = False
    branch_workspaces: BranchWorkspaces | None = Field(
        default=None, description="a Databricks folder per feature branch (docs/branches.md)")


class DataFactoryTarget(_Model):
    subscription_id: str
    resource_group: str
    factory_name: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    parameters_file: str | None = None
    stop_triggers: Literal["changed", "all"] = "changed"
    start_triggers: Literal["source", "previous"] = "source"
    delete_removed: bool = True
    arm_endpoint: str = "https://management.azure.com"
    token_setting: str | None = Field(
        default=None, description="App setting with a static ARM bearer token (local stand-ins); "
        "absent: azure-identity DefaultAzureCredential (managed identity in Azure)")
    max_parallel: int = Field(default=16, ge=1, le=64)
    deployment_timeout: float = Field(default=3600, gt=0, le=86400, description="seconds an ARM deployment may "
                                      "run; then it is cancelled, waited for, and the triggers restored")
    throttle_budget: float = Field(default=600, ge=0, le=3600, description="seconds one ARM call keeps "
                                   "retrying 429 (Retry-After) and 5xx answers")

    _setting = field_validator("token_setting")(_check_setting)

    @field_validator("subscription_id")
    @classmethod
    def _guid(cls, v: str) -> str:
        if not GUID.match(v):
            raise ValueError(f"{v!r} is not a subscription id (GUID)")
        return v

    @field_validator("arm_endpoint")
    @classmethod
    def _arm(cls, v: str) -> str:
        return _check_url(v, https_only=True)


class DatabricksTarget(_Model):
    host: str
    token_setting: str | None = None
    target_dir: str
    delete_removed: bool = True
    max_parallel: int = Field(default=16, ge=1, le=64)
    # reliability: deletes may remove at most this share of what is under target_dir (force overrides);
    # Workspace API 429s are waited out (Retry-After) for at most throttle_budget_s per operation.
    max_delete_ratio: float = Field(default=0.5, ge=0.0, le=1.0)
    throttle_budget_s: float = Field(default=600.0, gt=0, le=86400)

    _setting = field_validator("token_setting")(_check_setting)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        return _check_url(v)

    @field_validator("target_dir")
    @classmethod
    def _target(cls, v: str) -> str:
        from .notebooks.limits import normalize_target_dir

        return normalize_target_dir(v)


class Schedule(_Model):
    time_zone: str = "UTC"
    stop: str | None = None
    start: str | None = None
    skip_dates: list[date] = Field(default_factory=list)
    # pydantic copies defaults per instance, so a literal list is safe here
    resources: list[ScheduleResource] = ["adf_triggers", "clusters", "warehouses", "jobs"]
    exclude: list[str] = Field(default_factory=list)
    # On the first timer tick of a newly deployed app, apply the latest due action again.
    enforce_on_start: bool = False

    _tz = field_validator("time_zone")(_check_tz)

    @field_validator("stop", "start")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return None if v is None else _check_cron(v)

    @field_validator("exclude")
    @classmethod
    def _exclude(cls, v: list[str]) -> list[str]:
        for item in v:
            kind, _, pattern = item.partition(":")
            if kind not in ("name", "tag") or not pattern:
                raise ValueError(f"{item!r} must be 'name:<glob>' or 'tag:<key>[=<value>]'")
        return v


class Window(_Model):
    kind: Literal["allow", "deny"]
    start: str
    duration: str
    time_zone: str = "UTC"

    _cron = field_validator("start")(_check_cron)
    _tz = field_validator("time_zone")(_check_tz)

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str) -> str:
        try:
            ncrontab.parse_duration(v)
        except ncrontab.CronError as exc:
            raise ValueError(str(exc)) from None
        return v

    @property
    def length(self) -> timedelta:
        return ncrontab.parse_duration(self.duration)


class Notify(_Model):
    kind: Literal["teams", "webhook"]
    url_setting: str
    on: list[NotifyEvent] = ["waiting_approval", "failed", "succeeded", "stranded"]

    _setting = field_validator("url_setting")(_check_setting)


class Environment(_Model):
    deploy_on: list[Literal["push", "promotion", "manual"]] = ["manual"]
    requires: list[str] = Field(default_factory=list)
    approval: Literal["required", "none"] = "none"
    allow_self_approval: bool = False
    protect_deletes: bool = False
    on_failure: Literal["none", "rollback"] = "none"
    windows: list[Window] = Field(default_factory=list)
    notify: list[Notify] = Field(default_factory=list)
    data_factory: DataFactoryTarget | None = None
    databricks: DatabricksTarget | None = None
    schedule: Schedule | None = None
    verify: list[VerifyCheck] = Field(default_factory=list)

    @model_validator(mode="after")
    def _verify(self) -> Environment:
        if problems := _verify_problems(self):
            raise ValueError("; ".join(problems))
        return self


class Metrics(_Model):
    production_environment: str | None = None
    incident_attribution_days: int = Field(default=7, ge=0, le=365)
    # issue 22: which definitions the DORA keys follow and which report's tier table rates them
    definitions: Literal["dora", "fourkeys"] = Field(
        default="dora", description="dora: the 2024 Accelerate State of DevOps report's definitions; "
        "fourkeys: the Four Keys project's queries (docs/metrics.md)")
    benchmark: Literal["2023", "2024"] = Field(
        default="2024", description="the Accelerate State of DevOps report whose performance levels rate the keys")

    @field_validator("benchmark", mode="before")
    @classmethod
    def _year(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v  # benchmark: 2024 or "2024"


# --- identity and release gates (issue 15) ---------------------------------------------------
class Security(_Model):
    local_identities: bool = Field(
        default=False, description="true only for local runs: the CLI's --actor and the dev host's "
        "injected principal count as verified identities")
    emergency_roles: list[str] = Field(
        default_factory=list, description="app roles or group object ids allowed to run emergency "
        "rollbacks (--emergency --reason) past approval and windows")


# --- branch workspaces (issue 25) -----------------------------------------------------------
class BranchWorkspaces(_Model):
    branches: list[str] = Field(min_length=1, description="glob patterns of the branch names that get a "
                                "folder (feature/*: '*' also matches '/')")
    environment: str = Field(description="the environment whose Databricks workspace holds the folders")
    folder: str = Field(default="/Users/{author_email}/branches/{branch}", description="folder template: "
                        "{branch} (the branch, '/' written '-') and {author_email} (the pusher's workspace user)")
    ttl_days: float = Field(default=14, gt=0, le=3650, description="days without a push after which the "
                            "folder is removed")
    read_groups: list[str] = Field(default_factory=list, description="workspace groups given CAN_READ")
    notify: bool = Field(default=False, description="tell the pusher the folder URL through the environment's "
                         "notify channels when the folder is created")
    count_in_dora: bool = Field(default=False, description="count branch syncs in the DORA metrics")

    @field_validator("folder")
    @classmethod
    def _folder(cls, v: str) -> str:
        from .branches.names import template_problem

        problem = template_problem(v)
        if problem:
            raise ValueError(f"{v!r} {problem}")
        return v

    @field_validator("branches")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            if not p.strip() or p != p.strip() or _BAD_TEXT.search(p):
                raise ValueError(f"{p!r} is not a branch pattern")
        return v


_BAD_TEXT = re.compile(r"[\x00-\x1f\x7f]")


def _branch_problems(config: PlatformConfig) -> list[str]:
    """The branch folders' environment exists, has a workspace, and no synced folder holds them."""
    bw = config.databricks.branch_workspaces
    if bw is None:
        return []
    where = "databricks.branch_workspaces"
    env = config.environments.get(bw.environment)
    if env is None:
        return [f"{where}.environment: unknown environment {bw.environment!r}"]
    if env.databricks is None:
        return [f"{where}.environment: environment {bw.environment!r} has no databricks section"]
    root = bw.folder.split("{", 1)[0].rstrip("/").lower()
    problems = []
    for name, other in config.environments.items():
        t = other.databricks
        if t is None or t.host.rstrip("/").lower() != env.databricks.host.rstrip("/").lower():
            continue
        target = t.target_dir.lower()
        if (root + "/").startswith(target + "/"):
            problems.append(f"{where}.folder: {bw.folder!r} is inside environments.{name}.databricks.target_dir "
                            f"{t.target_dir!r} (that sync would prune the branch folders)")
    return problems


class Person(_Model):
    entra: str = Field(description="the Entra identity (UPN or e-mail) of this person")
    git: list[str] = Field(default_factory=list, description="their git identities: logins, Azure DevOps "
                           "unique names, commit e-mails")

    @field_validator("entra")
    @classmethod
    def _entra(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()


# --- verification gates (issue 24) --------------------------------------------------------------
CHECK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CHECK_TARGETS = ("job", "job_id", "notebook", "pipeline", "http")


class HttpCheck(_Model):
    url_setting: str = Field(description="app setting holding the URL (it may carry a key: never recorded)")
    expect_status: int = Field(default=200, ge=100, le=599)
    method: Literal["GET", "HEAD"] = "GET"

    _setting = field_validator("url_setting")(_check_setting)


class VerifyCheck(_Model):
    """One check run in the environment after a deployment applied (exactly one of job, job_id,
    notebook, pipeline, http)."""

    name: str
    job: str | None = Field(default=None, description="an existing Databricks job, by name")
    job_id: int | None = Field(default=None, ge=1, description="an existing Databricks job, by id")
    notebook: str | None = Field(default=None, description="a notebook submitted as a one-time run: a path "
                                 "relative to databricks.target_dir (the deployed folder), or absolute")
    pipeline: str | None = Field(default=None, description="a Data Factory pipeline, run and waited for")
    http: HttpCheck | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, description="job parameters, notebook base "
                                       "parameters or pipeline parameters")
    cluster: str | None = Field(default=None, description="notebook: run on this existing cluster (name)")
    cluster_policy_id: str | None = Field(default=None, description="notebook: run on a new job cluster "
                                          "created under this cluster policy")
    new_cluster: dict[str, Any] = Field(default_factory=dict, description="notebook with cluster_policy_id: "
                                        "the cluster spec (spark_version, node_type_id, num_workers ...)")
    timeout: float = Field(default=600, gt=0, le=1800, description="seconds (or 10m, 1h); then its runs are "
                           "cancelled; at most 30 minutes, the app's functionTimeout")
    on: list[Literal["adf", "notebooks"]] = ["adf", "notebooks"]
    blocking: bool = True
    data_quality: bool = Field(default=True, description="read a notebook's exit value as data-quality "
                               "results (docs/verify.md)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not CHECK_NAME.match(v):
            raise ValueError(f"{v!r} is not a check name (letters, digits, '.', '_', '-'; at most 64)")
        return v

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip().replace(".", "", 1).isdigit():
            try:
                return ncrontab.parse_duration(v).total_seconds()
            except ncrontab.CronError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _one_target(self) -> VerifyCheck:
        given = [k for k in CHECK_TARGETS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"check {self.name}: exactly one of {', '.join(CHECK_TARGETS)} "
                             f"(got {', '.join(given) or 'none'})")
        if (self.cluster or self.cluster_policy_id or self.new_cluster) and self.notebook is None:
            raise ValueError(f"check {self.name}: cluster, cluster_policy_id and new_cluster are for notebooks")
        if self.cluster and (self.cluster_policy_id or self.new_cluster):
            raise ValueError(f"check {self.name}: cluster (existing) or cluster_policy_id/new_cluster, not both")
        if self.new_cluster and not self.cluster_policy_id:
            raise ValueError(f"check {self.name}: new_cluster needs cluster_policy_id")
        return self

    @property
    def kind(self) -> str:
        """databricks_job | databricks_notebook | adf_pipeline | http"""
        if self.job is not None or self.job_id is not None:
            return "databricks_job"
        if self.notebook is not None:
            return "databricks_notebook"
        return "adf_pipeline" if self.pipeline is not None else "http"


def _verify_problems(env: Environment) -> list[str]:
    names = [c.name for c in env.verify]
    problems = [f"verify: check name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for c in env.verify:
        if c.kind.startswith("databricks") and env.databricks is None:
            problems.append(f"verify: check {c.name} runs on Databricks but the environment has no databricks")
        if c.kind == "adf_pipeline" and env.data_factory is None:
            problems.append(f"verify: check {c.name} runs a pipeline but the environment has no data_factory")
    return problems


class VerificationSettings(_Model):
    poll_interval: float = Field(default=5.0, gt=0, le=60, description="seconds between two looks at a "
                                 "running check (tests make it small)")


class PlatformConfig(_Model):
    repository: Repository
    adf: AdfSource = Field(default_factory=AdfSource)
    databricks: DatabricksSource = Field(default_factory=DatabricksSource)
    environments: dict[str, Environment]
    metrics: Metrics = Field(default_factory=Metrics)
    security: Security = Field(default_factory=Security)
    people: list[Person] = Field(default_factory=list)
    verification: VerificationSettings = Field(default_factory=VerificationSettings)
    timeouts: Timeouts = Field(default_factory=Timeouts, description="connect/read timeouts (seconds) of every "
                               "call to an external service (docs/timeouts.md)")

    def model_post_init(self, context: Any) -> None:
        for part in (self.repository, *(t for e in self.environments.values()
                                        for t in (e.data_factory, e.databricks) if t is not None)):
            part._timeouts = self.timeouts

    def environment(self, name: str) -> Environment:
        from .errors import NotFound

        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise NotFound(f"unknown environment {name!r} (configured: {known})",
                           code="unknown_environment") from None

    def push_environments(self) -> list[str]:
        return [n for n, e in self.environments.items() if "push" in e.deploy_on]

    @property
    def production_environment(self) -> str:
        if self.metrics.production_environment:
            return self.metrics.production_environment
        if "prod" in self.environments:
            return "prod"
        return list(self.environments)[-1]


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def _semantic_problems(raw: dict[str, Any]) -> list[str]:
    """Checks across keys, done on the raw mapping so they run even when fields are invalid."""
    problems: list[str] = []
    envs = raw.get("environments")
    if not isinstance(envs, dict):
        return problems
    if not envs:
        problems.append("environments: at least one environment is required")
    graph: dict[str, list[str]] = {}
    for name, env in envs.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            problems.append(f"environments.{name}: environment names are lowercase letters, digits and "
                            "underscores, starting with a letter")
        env = env if isinstance(env, dict) else {}
        requires = env.get("requires") or []
        if not isinstance(requires, list):
            continue
        graph[str(name)] = [str(r) for r in requires]
        for i, req in enumerate(requires):
            if req not in envs:
                problems.append(f"environments.{name}.requires.{i}: unknown environment {req!r}")
            elif req == name:
                problems.append(f"environments.{name}.requires.{i}: an environment cannot require itself")
        deploy_on = env.get("deploy_on") or []
        if isinstance(deploy_on, list) and "promotion" in deploy_on and not requires:
            problems.append(f"environments.{name}.deploy_on: 'promotion' needs 'requires' "
                            "(the environments a commit must pass first)")
    # cycles
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt] if nxt in path else [node, nxt]
                problems.append(f"environments.{node}.requires: cycle {' -> '.join(cycle)}")
            elif state.get(nxt) is None:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    metrics = raw.get("metrics") or {}
    prod = metrics.get("production_environment") if isinstance(metrics, dict) else None
    if prod is not None and prod not in envs:
        problems.append(f"metrics.production_environment: unknown environment {prod!r}")
    return problems


def parse_config(raw: Any, source: str = "configuration") -> PlatformConfig:
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping with repository and environments"], source)
    problems: list[str] = []
    model: PlatformConfig | None = None
    try:
        model = PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            where = _loc(err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{where}: {msg}")
    problems.extend(_semantic_problems(raw))
    if model is not None:
        problems.extend(_branch_problems(model))
    if problems:
        raise ConfigError(problems, source)
    assert model is not None
    return model


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. (YAML 1.1 reads the ``on:`` key of ``notify`` as True.)"""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def load_config(path: str | os.PathLike[str] | None = None) -> PlatformConfig:
    """Load and validate the configuration file (default: ``DATAOPS_CONFIG``, else infra/environments.yaml)."""
    p = Path(path or os.environ.get("DATAOPS_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"], str(p)) from None
    except OSError as exc:
        raise ConfigError([f"{p}: cannot be read ({exc.strerror})"], str(p)) from None
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise ConfigError([f"{where}: {getattr(exc, 'problem', None) or exc}"], str(p)) from None
    return parse_config(raw, str(p))
