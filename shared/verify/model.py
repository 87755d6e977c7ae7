"""What a check produced: :class:`CheckResult`, and the data-quality results a notebook returns.

Data-quality output (docs/verify.md): a notebook ends with
``dbutils.notebook.exit(json.dumps(results))`` where ``results`` is a JSON list of objects::

    [{"expectation": "orders_amount_not_null", "passed": false, "table": "sales.orders",
      "severity": "error", "observed": 12, "message": "12 rows with a null amount"}]

``expectation`` (text) and ``passed`` (boolean) are required; ``severity`` is ``error``
(default: a failed one fails the check) or ``warn`` (recorded, the check still passes). An
output that is not such a list is kept as the check's output summary and read no further.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..audit.records import ObjectResult

MAX_OUTPUT = 1000
MAX_EXPECTATIONS = 200
PASSED, FAILED, TIMED_OUT, NOT_STARTED = "passed", "failed", "timed_out", "not_started"


@dataclass(frozen=True)
class Expectation:
    """One data-quality result of a notebook's output."""

    expectation: str
    passed: bool
    severity: str = "error"  # error | warn
    table: str | None = None
    message: str | None = None
    observed: Any = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_expectations(output: str | None) -> list[Expectation] | None:
    """The data-quality results of a notebook's exit value (None: it is not that shape)."""
    if not output or not output.lstrip().startswith("["):
        return None
    try:
        items = json.loads(output)
    except ValueError:
        return None
    if not isinstance(items, list) or not items:
        return None
    out: list[Expectation] = []
    for item in items[:MAX_EXPECTATIONS]:
        if not (isinstance(item, dict) and isinstance(item.get("expectation"), str)
                and isinstance(item.get("passed"), bool)):
            return None
        severity = "warn" if item.get("severity") == "warn" else "error"
        table, message = item.get("table"), item.get("message")
        out.append(Expectation(item["expectation"].strip()[:150] or "unnamed", item["passed"], severity,
                               str(table)[:200] if table is not None else None,
                               str(message)[:500] if message is not None else None,
                               item.get("observed") if isinstance(item.get("observed"), int | float | str) else None))
    return out


@dataclass
class CheckResult:
    """One check's outcome, as the audit, the trace, the CLI and the HTTP answer show it."""

    name: str
    kind: str  # databricks_job | databricks_notebook | adf_pipeline | http
    blocking: bool
    state: str = NOT_STARTED  # passed | failed | timed_out | not_started
    duration_s: float = 0.0
    run_id: str | None = None
    run_url: str | None = None
    run_state: str | None = None  # the service's own final state (SUCCESS, Failed, 503 ...)
    error: str | None = None
    output: str | None = None  # summary of the run's output (exit value, answer)
    failed_activities: list[dict[str, Any]] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # run ids cancelled at the timeout

    @property
    def passed(self) -> bool:
        return self.state == PASSED

    @property
    def failed_expectations(self) -> list[Expectation]:
        return [e for e in self.expectations if not e.passed]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "blocking": self.blocking,
                             "state": self.state, "duration_s": round(self.duration_s, 3),
                             "run_id": self.run_id, "run_url": self.run_url, "run_state": self.run_state,
                             "error": self.error, "output": self.output}
        if self.failed_activities:
            d["failed_activities"] = self.failed_activities
        if self.expectations:
            d["expectations"] = {"total": len(self.expectations), "failed": [e.to_json() for e in
                                                                             self.failed_expectations]}
        if self.cancelled:
            d["cancelled"] = self.cancelled
        return d

    def object_result(self) -> ObjectResult:
        """The audit row of this check (object type ``check``, action ``verify``)."""
        details = {k: v for k, v in self.to_json().items() if k not in ("name", "error") and v not in (None, [])}
        return ObjectResult("check", self.name, "verify", "succeeded" if self.passed else "failed",
                            self.error, details)

    def summary(self) -> str:
        """``smoke (databricks_notebook): failed, FAILED: boom``"""
        head = f"{self.name} ({self.kind}): {self.state}"
        return f"{head}, {self.error}" if self.error else head


def clip(text: Any, limit: int = MAX_OUTPUT) -> str | None:
    if text is None:
        return None
    s = str(text).strip()
    return s if len(s) <= limit else s[:limit - 1] + "…"
