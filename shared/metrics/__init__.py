"""DataOps metrics: the DORA keys over the audit ledger, and incidents."""

from .dora import DoraReport, Window, compute_dora
from .incidents import Incident, IncidentBook

__all__ = ["DoraReport", "Incident", "IncidentBook", "Window", "compute_dora"]
