"""Atomic claims with a conditional insert: the first writer wins, everyone else sees it taken.

Used to recognise a webhook delivered twice, and a schedule tick claimed by
two timer runs at once. Rows live in the state table.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .audit.keys import fit_key, safe_key
from .errors import Unavailable
from .storage import StorageAccount, sdk_options
from .storage_writes import create_or_get


class Claims:
    def __init__(self, storage: StorageAccount) -> None:
        self.table = storage.table(storage.names.state_table)

    def claim(self, scope: str, key: str, data: dict[str, Any] | None = None,
              at: datetime | None = None) -> tuple[bool, dict[str, Any]]:
        """Claim ``key`` in ``scope``; returns (won, the stored claim data)."""
        from azure.core.exceptions import (
            ResourceExistsError,
            ServiceRequestError,
            ServiceResponseError,
        )

        entity = {"PartitionKey": f"claim-{safe_key(scope)}", "RowKey": fit_key(key),
                  "data": json.dumps(data or {}, default=str)}
        if at is not None:
            entity["at"] = at.isoformat()
        try:
            # won also when a retry after a reset finds our own claim (its write id)
            won, existing = create_or_get(self.table, entity)
            if won:
                return True, data or {}
            return False, json.loads(existing.get("data") or "{}")
        except ResourceExistsError:  # taken and released again meanwhile
            existing = self.table.get_entity(entity["PartitionKey"], entity["RowKey"], **sdk_options())
            return False, json.loads(existing.get("data") or "{}")
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise Unavailable("state storage is unreachable") from exc

    def get(self, scope: str, key: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            e = self.table.get_entity(f"claim-{safe_key(scope)}", fit_key(key), **sdk_options())
        except ResourceNotFoundError:
            return None
        return json.loads(e.get("data") or "{}")

    def put(self, scope: str, key: str, data: dict[str, Any]) -> None:
        """Replace the claim's data (the claim stays taken): progress that later readers must see."""
        from azure.data.tables import UpdateMode

        self.table.upsert_entity({"PartitionKey": f"claim-{safe_key(scope)}", "RowKey": fit_key(key),
                                  "data": json.dumps(data, default=str)}, mode=UpdateMode.REPLACE,
                                 **sdk_options())

    def release(self, scope: str, key: str) -> None:
        self.table.delete_entity(f"claim-{safe_key(scope)}", fit_key(key), **sdk_options())
