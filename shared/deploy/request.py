"""The deployment request: the queue message that asks a worker to run one deployment.

It names the deployment record (created before the message is queued, so
nothing is lost) and carries the W3C trace context, so the webhook and the
deployment it caused are one trace.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BadRequest

SCHEMA = 1


@dataclass(frozen=True)
class DeploymentRequest:
    deployment_id: str
    environment: str
    component: str
    commit: str
    ref: str = ""
    trigger: str = "push"
    trace: dict[str, str] = field(default_factory=dict)  # traceparent / tracestate
    force: bool = False
    attempt: int = 1  # grows each time the request is put back (lock busy, waiting)

    def to_bytes(self) -> bytes:
        return json.dumps({"schema": SCHEMA, **asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> DeploymentRequest:
        """Parse a queue message; a message that is not a request raises BadRequest."""
        try:
            d: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("queue message is not JSON", code="invalid_request") from None
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise BadRequest("queue message is not a deployment request (schema 1)", code="invalid_request")
        try:
            trace = d.get("trace") or {}
            return cls(deployment_id=str(d["deployment_id"]), environment=str(d["environment"]),
                       component=str(d["component"]), commit=str(d["commit"]), ref=str(d.get("ref") or ""),
                       trigger=str(d.get("trigger") or "push"),
                       trace={str(k): str(v) for k, v in trace.items()} if isinstance(trace, dict) else {},
                       force=bool(d.get("force")), attempt=int(d.get("attempt") or 1))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"queue message lacks {exc}", code="invalid_request") from None

    def again(self) -> DeploymentRequest:
        """The same request, put back once more."""
        return DeploymentRequest(**{**asdict(self), "attempt": self.attempt + 1})
