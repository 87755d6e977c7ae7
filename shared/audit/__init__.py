"""The audit ledger: append-only, idempotent records of everything the app does."""

from .ledger import AuditLedger, Page
from .records import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    Activity,
    CommitInfo,
    DeploymentRecord,
    ObjectResult,
    StepRecord,
)

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "Activity",
    "AuditLedger",
    "CommitInfo",
    "DeploymentRecord",
    "ObjectResult",
    "Page",
    "StepRecord",
]
