"""Who owns a branch folder and who may read it: the workspace's users (SCIM) and permissions API.

Over ``databricks-sdk`` through the notebook sync's :class:`~shared.notebooks.workspace.Workspace`
(the same pacing, retries and error classification): ``users.list(filter='userName eq "..."')``
resolves an e-mail to the workspace user; ``workspace.set_permissions("directories", id, ...)``
replaces the folder's direct permissions with CAN_MANAGE for the owner and CAN_READ for the
configured groups (``admins`` keep CAN_MANAGE on everything, and a folder under ``/Shared``
also inherits what ``/Shared`` grants).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..notebooks.throttle import WorkspaceCallError
from ..notebooks.workspace import Workspace


@dataclass(frozen=True)
class WorkspaceUser:
    user_name: str
    display_name: str | None = None
    id: str | None = None


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def find_user(ws: Workspace, candidates: Iterable[str]) -> WorkspaceUser | None:
    """The first workspace user whose ``userName`` is one of ``candidates`` (e-mails / UPNs), or None."""
    for email in dict.fromkeys(c.strip() for c in candidates if c and "@" in c):
        found = ws._call("scim-users", lambda e=email: list(  # type: ignore[misc]
            ws.client.users.list(filter=f"userName eq {_quoted(e)}", attributes="id,userName,displayName",
                                 count=10)))
        for u in found:
            if u.user_name and u.user_name.lower() == email.lower():
                return WorkspaceUser(u.user_name, u.display_name, u.id)
    return None


def grant_folder(ws: Workspace, object_id: int | str, owner: str | None, readers: Sequence[str]) -> None:
    """Set the folder's direct permissions: CAN_MANAGE for ``owner``, CAN_READ for each group of ``readers``."""
    from databricks.sdk.service.workspace import WorkspaceObjectAccessControlRequest as Entry
    from databricks.sdk.service.workspace import WorkspaceObjectPermissionLevel as Level

    acl = [Entry(user_name=owner, permission_level=Level.CAN_MANAGE)] if owner else []
    acl += [Entry(group_name=g, permission_level=Level.CAN_READ) for g in dict.fromkeys(readers)]
    ws._call("permissions", lambda: ws.client.workspace.set_permissions(
        "directories", str(object_id), access_control_list=acl))


def folder_permissions(ws: Workspace, object_id: int | str) -> dict[str, Any]:
    """The folder's access control list as the workspace reports it (direct and inherited)."""
    res = ws._call("permissions", lambda: ws.client.workspace.get_permissions("directories", str(object_id)))
    return res.as_dict()  # type: ignore[no-any-return]


__all__ = ["WorkspaceCallError", "WorkspaceUser", "find_user", "folder_permissions", "grant_folder"]
