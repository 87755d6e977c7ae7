"""Running an environment's checks for a component: in parallel, each in its own span.

The verification lasts as long as its slowest check (each bounded by its ``timeout``). A check
runs for a component when the component is in its ``on`` list; with no component (``dataops
verify --env ENV``) every check runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import telemetry
from .checks import VerifyRuntime, run_check
from .model import CheckResult

if TYPE_CHECKING:
    from ..config import Environment, PlatformConfig, VerifyCheck
    from ..settings import Settings

MAX_PARALLEL = 8
CHECK = "dataops.verify.check"


def checks_for(env: Environment, component: str | None) -> list[VerifyCheck]:
    """The checks a deployment of ``component`` runs (all of them for None)."""
    return [c for c in env.verify if component is None or component in c.on]


@dataclass
class Verification:
    """The results of one verification of an environment (for a component, or all checks)."""

    environment: str
    component: str | None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocking and not r.passed]

    @property
    def passed(self) -> bool:
        return not self.blocking_failures

    def summary(self) -> str:
        passed = sum(r.passed for r in self.results)
        return f"{passed} of {len(self.results)} checks passed"

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "component": self.component,
                "status": "passed" if self.passed else "failed", "summary": self.summary(),
                "checks": [r.to_json() for r in self.results]}


@dataclass
class Verifier:
    """Runs checks; ``runtime`` builds the clocks, poll interval and clients of one verification."""

    runtime: Callable[[PlatformConfig], VerifyRuntime] | None = None

    def new_runtime(self, config: PlatformConfig) -> VerifyRuntime:
        if self.runtime is not None:
            return self.runtime(config)
        return VerifyRuntime(poll_interval=config.verification.poll_interval)

    def run(self, config: PlatformConfig, environment: str, component: str | None, settings: Settings, *,
            run_name: str, checks: list[VerifyCheck] | None = None) -> Verification:
        env = config.environment(environment)
        chosen = checks_for(env, component) if checks is None else checks
        out = Verification(environment, component)
        if not chosen:
            return out
        rt = self.new_runtime(config)

        def one(check: VerifyCheck) -> CheckResult:
            attrs = {CHECK: check.name, "dataops.verify.kind": check.kind, "dataops.verify.blocking": check.blocking,
                     telemetry.ENVIRONMENT: environment}
            with telemetry.span(f"dataops.verify {check.name}", attrs) as s:
                r = run_check(check, env, settings, rt, run_name=f"{run_name} {check.name}")
                s.set_attributes({k: v for k, v in {
                    "dataops.verify.state": r.state, "dataops.verify.run_id": r.run_id,
                    "dataops.verify.run_url": r.run_url, "dataops.verify.run_state": r.run_state,
                    "dataops.verify.duration_s": round(r.duration_s, 3)}.items() if v is not None})
                if not r.passed:
                    s.set_attribute(telemetry.ERROR_TYPE, f"check_{r.state}")
                    from opentelemetry.trace import Status, StatusCode

                    s.set_status(Status(StatusCode.ERROR, f"check {r.state}"))
                return r

        with telemetry.ContextPool(max_workers=min(MAX_PARALLEL, len(chosen)),
                                   thread_name_prefix="verify") as pool:
            out.results = list(pool.map(one, chosen))
        return out
