"""Key design of the audit tables (the log-tail pattern).

Deployment ids carry their creation time, environment and component:
``20261122T101500123Z-dev-adf-3f9a2c1d``. RowKeys are zero-padded *inverted*
milliseconds, so a partition reads newest first and a time window is a
RowKey range inside one partition, never a table scan.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from urllib.parse import quote, unquote

MAX_MS = 10**15 - 1  # year 33658: far enough
_ID = re.compile(r"^(\d{8}T\d{9}Z)-([a-z][a-z0-9_]{0,31})-([a-z_]+)-([0-9a-f]{8})$")
_FORBIDDEN = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f]")


def to_ms(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return int(when.timestamp() * 1000)


def inverted(when: datetime) -> str:
    return f"{MAX_MS - to_ms(when):015d}"


def from_inverted(text: str) -> datetime:
    return datetime.fromtimestamp((MAX_MS - int(text[:15])) / 1000, tz=UTC)


def short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def stamp(when: datetime) -> str:
    w = when.astimezone(UTC)
    return w.strftime("%Y%m%dT%H%M%S") + f"{w.microsecond // 1000:03d}Z"


def parse_stamp(text: str) -> datetime:
    """The time of a :func:`stamp` (``YYYYMMDDTHHMMSSmmmZ``), by slicing: ``strptime`` cost a tenth of
    reading a year of deployments from the rollup."""
    if text[8:9] != "T" or not (text[:8] + text[9:18]).isdigit():
        raise ValueError(f"{text!r} is not a time stamp")
    return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[11:13]),
                    int(text[13:15]), int(text[15:18]) * 1000, UTC)


def deployment_id(environment: str, component: str, when: datetime, seed: str) -> str:
    """Deterministic for a given (environment, component, time, seed): a retried create is a no-op."""
    return f"{stamp(when)}-{environment}-{component}-{short_hash(environment, component, seed)}"


class DeploymentKey:
    __slots__ = ("component", "created", "environment", "id", "suffix")

    def __init__(self, deployment_id: str) -> None:
        m = _ID.match(deployment_id)
        if not m:
            raise ValueError(f"{deployment_id!r} is not a deployment id")
        self.id = deployment_id
        self.created = parse_stamp(m.group(1))
        self.environment = m.group(2)
        self.component = m.group(3)
        self.suffix = m.group(4)

    @property
    def partition(self) -> str:
        return self.environment

    @property
    def row(self) -> str:
        return f"{inverted(self.created)}-{self.component}-{self.suffix}"


def is_deployment_id(text: str) -> bool:
    return bool(_ID.match(text))


def safe_key(text: str) -> str:
    """Escape characters Table storage refuses in keys (/, \\, #, ?, control chars); reversible."""
    return _FORBIDDEN.sub(lambda m: quote(m.group(0), safe=""), text)


MAX_KEY = 512  # Table storage: PartitionKey and RowKey are at most 1 KiB (512 UTF-16 characters)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit_key(text: str, limit: int = MAX_KEY) -> str:
    """``safe_key(text)``, or when that is longer than ``limit`` (UTF-16 units, as Table storage counts):
    its start + ``~`` + a sha256 of the text.

    Distinct texts stay distinct keys (the hash), and a long key keeps a readable prefix that
    sorts where the text would. Not reversible once hashed.
    """
    key = safe_key(text)
    if _utf16_len(key) <= limit:
        return key
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    head = key[:limit - len(digest) - 1]
    while _utf16_len(head) > limit - len(digest) - 1:
        head = head[:-1]
    return head + "~" + digest


def unsafe_key(text: str) -> str:
    return unquote(text)
