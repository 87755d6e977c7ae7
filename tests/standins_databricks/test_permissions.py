"""The stand-in's SCIM users and permissions API, through databricks-sdk over HTTP, shaped as the real ones."""

from __future__ import annotations

import pytest
from databricks.sdk.errors import DatabricksError, NotFound
from databricks.sdk.service.workspace import WorkspaceObjectAccessControlRequest as Entry
from databricks.sdk.service.workspace import WorkspaceObjectPermissionLevel as Level

from devhost.standins.databricks import DatabricksStandIn


def test_users_are_found_by_user_name_ignoring_case(databricks_standin: DatabricksStandIn) -> None:
    s = databricks_standin
    s.add_user("ada@contoso.com", "Ada Lovelace")
    s.add_user("bob@contoso.com")
    w = s.client()
    found = list(w.users.list(filter='userName eq "ADA@contoso.com"'))
    assert [u.user_name for u in found] == ["ada@contoso.com"]
    assert found[0].display_name == "Ada Lovelace" and found[0].emails[0].value == "ada@contoso.com"
    assert list(w.users.list(filter='userName eq "nobody@contoso.com"')) == []
    assert {u.user_name for u in w.users.list()} == {"ada@contoso.com", "bob@contoso.com"}
    assert {u.user_name for u in w.users.list(filter='userName sw "b" or displayName co "love"')} == {
        "ada@contoso.com", "bob@contoso.com"}
    # paging: the SDK asks page after page until one is empty
    assert len(list(w.users.list(count=1))) == 2
    assert s.exists("/Users/ada@contoso.com")  # a user has a home folder


def test_an_unsupported_filter_is_a_400(databricks_standin: DatabricksStandIn) -> None:
    with pytest.raises(DatabricksError) as info:
        list(databricks_standin.client().users.list(filter="userName eq ada"))
    assert "Invalid filter" in str(info.value)


def _folder(s: DatabricksStandIn, path: str) -> str:
    s.seed_folder(path)
    return str(s.object(path).object_id)


def test_set_permissions_replaces_the_direct_entries_and_reports_inherited_ones(
        databricks_standin: DatabricksStandIn) -> None:
    s = databricks_standin
    s.add_user("ada@contoso.com")
    s.add_group("data-readers")
    oid = _folder(s, "/Users/ada@contoso.com/branches/feature-x")
    w = s.client()
    res = w.workspace.set_permissions("directories", oid, access_control_list=[
        Entry(user_name="ada@contoso.com", permission_level=Level.CAN_MANAGE),
        Entry(group_name="data-readers", permission_level=Level.CAN_READ)])
    assert res.object_id == f"/directories/{oid}" and res.object_type == "directory"
    by = {(a.user_name or a.group_name): a for a in res.access_control_list}
    assert [(p.permission_level, p.inherited) for p in by["data-readers"].all_permissions] == [(Level.CAN_READ, False)]
    ada = [(p.permission_level, p.inherited) for p in by["ada@contoso.com"].all_permissions]
    assert (Level.CAN_MANAGE, False) in ada and (Level.CAN_MANAGE, True) in ada  # also inherited from her home
    assert by["admins"].all_permissions[0].inherited is True
    # PUT again: the old direct entries are gone
    w.workspace.set_permissions("directories", oid, access_control_list=[
        Entry(group_name="data-readers", permission_level=Level.CAN_RUN)])
    assert s.permissions("/Users/ada@contoso.com/branches/feature-x") == {("group_name", "data-readers"): "CAN_RUN"}
    # PATCH adds
    w.workspace.update_permissions("directories", oid, access_control_list=[
        Entry(user_name="ada@contoso.com", permission_level=Level.CAN_EDIT)])
    assert s.permissions("/Users/ada@contoso.com/branches/feature-x") == {
        ("group_name", "data-readers"): "CAN_RUN", ("user_name", "ada@contoso.com"): "CAN_EDIT"}
    got = w.workspace.get_permissions("directories", oid)
    assert {a.group_name or a.user_name for a in got.access_control_list} == {"data-readers", "ada@contoso.com",
                                                                              "admins"}


@pytest.mark.parametrize(("entry", "message"), [
    (Entry(user_name="nobody@contoso.com", permission_level=Level.CAN_MANAGE),
     "Principal: UserName(nobody@contoso.com) does not exist"),
    (Entry(group_name="ghosts", permission_level=Level.CAN_READ), "Principal: GroupName(ghosts) does not exist"),
    (Entry(group_name="admins", permission_level=Level.CAN_READ), "Cannot remove admins's CAN_MANAGE"),
    (Entry(permission_level=Level.CAN_READ), "Exactly one of"),
])
def test_permission_mistakes_are_refused_and_change_nothing(databricks_standin: DatabricksStandIn, entry: Entry,
                                                             message: str) -> None:
    s = databricks_standin
    oid = _folder(s, "/Shared/branches/feature-x")
    with pytest.raises(DatabricksError) as info:
        s.client().workspace.set_permissions("directories", oid, access_control_list=[entry])
    assert message in str(info.value)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert s.permissions("/Shared/branches/feature-x") == {}


def test_unknown_or_deleted_folders_and_protected_roots(databricks_standin: DatabricksStandIn) -> None:
    s = databricks_standin
    w = s.client()
    with pytest.raises(NotFound):
        w.workspace.get_permissions("directories", "424242")
    oid = _folder(s, "/Shared/branches/gone")
    w.workspace.delete("/Shared/branches/gone", recursive=True)
    with pytest.raises(NotFound):
        w.workspace.get_permissions("directories", oid)
    s.seed_notebook("/Shared/nb", "# Databricks notebook source\nx = 1\n")
    with pytest.raises(NotFound):  # a notebook is not a directory
        w.workspace.get_permissions("directories", str(s.object("/Shared/nb").object_id))
    with pytest.raises(DatabricksError) as info:
        w.workspace.set_permissions("directories", str(s.object("/Shared").object_id), access_control_list=[])
    assert "Cannot modify permissions of directory" in str(info.value)
    # a folder under /Shared inherits what /Shared grants every user
    inherited = w.workspace.get_permissions("directories", _folder(s, "/Shared/branches/feature-y"))
    users = next(a for a in inherited.access_control_list if a.group_name == "users")
    assert users.all_permissions[0].inherited and users.all_permissions[0].permission_level == Level.CAN_MANAGE
