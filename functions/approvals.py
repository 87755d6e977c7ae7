"""Blueprint: approvals handlers (see README)."""

import azure.functions as func

bp = func.Blueprint()
