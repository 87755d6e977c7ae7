"""The deployment queue (an Azure Storage queue of :class:`DeploymentRequest` messages)."""

from __future__ import annotations

from ..errors import Unavailable
from ..storage import StorageAccount
from .request import DeploymentRequest

# A queue message may be invisible for at most 7 days.
MAX_VISIBILITY = 7 * 24 * 3600


class DeploymentQueue:
    def __init__(self, storage: StorageAccount, queue_name: str | None = None) -> None:
        self.storage = storage
        self.name = queue_name or storage.names.deploy_queue

    def send(self, request: DeploymentRequest, *, delay_seconds: int = 0) -> str:
        """Durably queue ``request`` (visible after ``delay_seconds``); returns the message id."""
        from azure.core.exceptions import AzureError

        try:
            msg = self.storage.queue(self.name).send_message(
                request.to_bytes(), visibility_timeout=max(0, min(int(delay_seconds), MAX_VISIBILITY)) or None)
        except AzureError as exc:
            raise Unavailable(f"deployment queue is unreachable: {type(exc).__name__}") from exc
        return str(msg.id)

    def peek(self, max_messages: int = 32) -> list[DeploymentRequest]:
        """The visible requests, without taking them (tests, the CLI)."""
        msgs = self.storage.queue(self.name).peek_messages(max_messages=max_messages)
        return [DeploymentRequest.from_bytes(m.content) for m in msgs]

    def count(self) -> int:
        return int(self.storage.queue(self.name).get_queue_properties().approximate_message_count or 0)
