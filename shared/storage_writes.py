"""Table writes that are safe to retry after a connection reset.

azure-core retries a request that failed in transport (connection reset, dropped, refused, timed out)
only for the methods on its allowlist (HEAD, GET, PUT, DELETE, OPTIONS, TRACE): a Table insert (POST),
merge (PATCH) or entity-group transaction (POST ``$batch``) whose connection is reset fails at once.
Azure Storage does reset connections (a load balancer dropping a keep-alive connection idle for about
4 minutes, a front end restarting; Azurite closes keep-alive connections idle for 5 s), and a client
cannot tell whether the server carried the request out before the reset.

These helpers retry such writes with the SDK's own retry policy (the per-call ``retry_on_methods``
option: the same count and back-off as every other storage request, ``retry_total`` of
:mod:`shared.storage`, all within a :func:`shared.storage.deadline`) and resolve what the retry answers
when the first attempt *was* carried out:

* an insert answers 409 ``EntityAlreadyExists``; an update with ``If-Match`` answers 412
  ``UpdateConditionNotSatisfied`` (the first attempt changed the ETag). Each write stamps the entity
  with a fresh write id (:data:`WRITE_ID`); on 409/412 the stored entity is read back, and the write
  succeeded when it carries *our* write id. Another writer's entity (a lost race, a claim taken by
  someone else) still raises the SDK's ``ResourceExistsError`` / ``ResourceModifiedError``. Content is
  not compared: two writers with the same content (two increments of one counter) must not both win.
* upserts (PUT or PATCH without a condition) and deletes are idempotent: retried as they are (a
  retried delete answers 404, which the SDK's ``delete_entity`` ignores).

Queue sends and blob writes go through the storage SDKs' ``StorageRetryPolicy``, which retries every
method after a transport error (see :mod:`shared.storage` for its bounded back-off); a retried queue
send may leave a second copy of a message, which the consumers ignore (docs/timeouts.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from .storage import sdk_options

WRITE_ID = "dataops_write_id"  # a property of every entity written here: who wrote the stored version
# azure-core's allowlist plus the writes made safe here (a per-call option of its RetryPolicy).
RETRY_ON_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST", "PATCH", "MERGE"})


def _stamped(entity: dict[str, Any]) -> dict[str, Any]:
    return {**entity, WRITE_ID: uuid.uuid4().hex}


def _stored(table: Any, entity: dict[str, Any]) -> Any:
    """The stored entity at ``entity``'s keys (None when there is none)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return table.get_entity(entity["PartitionKey"], entity["RowKey"], **sdk_options())
    except ResourceNotFoundError:
        return None


def _ours(table: Any, entity: dict[str, Any]) -> dict[str, Any] | None:
    """The stored entity's metadata when it is the version ``entity`` wrote (else None)."""
    stored = _stored(table, entity)
    if stored is None or stored.get(WRITE_ID) != entity[WRITE_ID]:
        return None
    return dict(stored.metadata)


def create_or_get(table: Any, entity: dict[str, Any]) -> tuple[bool, Any]:
    """Insert ``entity``, retried after a reset: ``(True, metadata)`` when our row is stored, ``(False,
    the stored entity)`` when another writer's row is there (read once: a claim's loser reads the winner)."""
    from azure.core.exceptions import ResourceExistsError

    mine = _stamped(entity)
    try:
        return True, dict(table.create_entity(mine, retry_on_methods=RETRY_ON_METHODS, **sdk_options()))
    except ResourceExistsError:
        stored = _stored(table, mine)
        if stored is not None and stored.get(WRITE_ID) == mine[WRITE_ID]:
            return True, dict(stored.metadata)
        if stored is None:  # deleted meanwhile (a released claim): the caller sees a lost race
            raise
        return False, stored


def create_entity(table: Any, entity: dict[str, Any]) -> dict[str, Any]:
    """``TableClient.create_entity``, retried after a reset: returns the metadata (``etag``) of our row;
    ``ResourceExistsError`` only when the row is another writer's."""
    from azure.core.exceptions import ResourceExistsError

    created, found = create_or_get(table, entity)
    if not created:
        raise ResourceExistsError(f"entity {entity['PartitionKey']!r}/{entity['RowKey']!r} exists")
    return dict(found)


def update_entity(table: Any, entity: dict[str, Any], *, etag: str | None, mode: Any = None) -> dict[str, Any]:
    """``TableClient.update_entity`` if the row still has ``etag`` (``If-Match``), retried after a reset:
    returns the metadata of our version; ``ResourceModifiedError`` only when another writer changed the
    row first (``ResourceNotFoundError`` when it was deleted)."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError
    from azure.data.tables import UpdateMode

    mine = _stamped(entity)
    try:
        return dict(table.update_entity(mine, mode=mode or UpdateMode.REPLACE, etag=etag,
                                        match_condition=MatchConditions.IfNotModified,
                                        retry_on_methods=RETRY_ON_METHODS, **sdk_options()))
    except ResourceModifiedError:
        meta = _ours(table, mine)
        if meta is None:
            raise
        return meta


def upsert_entity(table: Any, entity: dict[str, Any], mode: Any = None) -> dict[str, Any]:
    """``TableClient.upsert_entity`` (idempotent: retried after a reset as it is, a merge too)."""
    from azure.data.tables import UpdateMode

    return dict(table.upsert_entity(entity, mode=mode or UpdateMode.MERGE, retry_on_methods=RETRY_ON_METHODS,
                                  **sdk_options()))


def upsert_batch(table: Any, entities: Iterable[dict[str, Any]]) -> None:
    """One entity-group transaction of upserts (idempotent: retried after a reset as it is)."""
    table.submit_transaction([("upsert", e) for e in entities], retry_on_methods=RETRY_ON_METHODS,
                             **sdk_options())


def upload_blob(blob: Any, data: bytes, *, etag: str | None) -> dict[str, Any]:
    """Write a blob if it still has ``etag`` (``If-Match``), or only if it does not exist (``etag`` None),
    retried after a reset by the SDK: a retry of a write that was carried out answers 412 (or 409
    ``BlobAlreadyExists``), and the blob read back carries our write id in its metadata, so the write is
    ours. Returns the blob's ``etag``; ``ResourceModifiedError`` / ``ResourceExistsError`` when another
    writer's blob is there."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

    wid = uuid.uuid4().hex
    kw: dict[str, Any] = ({"overwrite": True, "etag": etag, "match_condition": MatchConditions.IfNotModified}
                          if etag else {"overwrite": False})
    try:
        result = blob.upload_blob(data, metadata={WRITE_ID: wid}, **kw, **sdk_options())
        return {"etag": result.get("etag")}
    except (ResourceModifiedError, ResourceExistsError):
        props = blob.get_blob_properties(**sdk_options())
        if (props.metadata or {}).get(WRITE_ID) != wid:
            raise
        return {"etag": props.etag}
