"""Branch names -> branch folders: hostile names are refused before anything is written."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.branches.names import (
    BranchRefused,
    branch_folder,
    collision_key,
    folder_name,
    template_problem,
)
from shared.config import parse_config
from shared.errors import ConfigError

USERS = "/Users/{author_email}/branches/{branch}"


@pytest.mark.parametrize(("branch", "name"), [
    ("feature/login", "feature-login"),
    ("users/ada/spike", "users-ada-spike"),
    ("feature/JIRA-12_fix+v2", "feature-JIRA-12_fix+v2"),
    ("feature/café", "feature-café"),
    ("feature/日本語", "feature-日本語"),
])
def test_ordinary_branch_names_become_one_folder_segment(branch: str, name: str) -> None:
    assert folder_name(branch) == name
    assert branch_folder(USERS, branch, "ada@contoso.com") == f"/Users/ada@contoso.com/branches/{name}"
    assert branch_folder("/Shared/branches/{branch}", branch, None) == f"/Shared/branches/{name}"


@pytest.mark.parametrize("branch", [
    "feature/../../../Shared/prod",  # climbs out of the root
    "feature/..",
    "../x",
    "/feature/x",  # leading, trailing, double slash
    "feature/x/",
    "feature//x",
    "feature/.hidden",
    "feature/x.lock",
    "feature/x\x00y",  # control characters
    "feature/x\ny",
    "feature/x\x7f",
    "feature/x\u0085",  # C1 control
    "feature/a b",  # blanks and what git refuses
    "feature/a~1",
    "feature/a:b",
    "feature/a\\b",
    "feature/@{u}",
    "feature/\u2215etc",  # DIVISION SLASH, a look-alike '/'
    "feature/\u2044etc",  # FRACTION SLASH
    "feature/\uff0f..\uff0fx",  # FULLWIDTH SOLIDUS (NFKC turns it into '/')
    "feature/\u2024\u2024",  # ONE DOT LEADER
    "feature/x\u200by",  # ZERO WIDTH SPACE
    "feature/\u202egnp.exe",  # RIGHT-TO-LEFT OVERRIDE
    "feature/x\u00a0y",  # NO-BREAK SPACE
    "feature/\ufb01x",  # LATIN SMALL LIGATURE FI (NFKC changes it)
    "feature/" + "a" * 200,  # too long
    "feature/" + "é" * 100,  # 200 characters, 200+ bytes
    "",
])
def test_hostile_branch_names_are_refused_with_the_reason(branch: str) -> None:
    with pytest.raises(BranchRefused) as info:
        branch_folder(USERS, branch, "ada@contoso.com")
    assert info.value.code == "invalid_branch_name"
    assert "cannot have a branch workspace" in info.value.message


def test_names_that_normalise_to_the_same_folder_collide() -> None:
    assert collision_key("feature/a-b") == collision_key("feature-a/b") == collision_key("Feature/A-B")
    assert collision_key("feature/a") != collision_key("feature/b")


def test_an_owner_name_that_is_not_one_segment_is_refused() -> None:
    for user in ("../../Shared", "a/b", "", "a\x00b"):
        with pytest.raises(BranchRefused):
            branch_folder(USERS, "feature/x", user)


@pytest.mark.parametrize(("template", "problem"), [
    ("Shared/{branch}", "absolute"),
    ("/Shared/{branch}/notebooks", "last segment"),
    ("/Shared/{team}/{branch}", "unknown placeholder"),
    ("/Shared/x{branch}", "last segment"),
    ("/Users/a{author_email}/{branch}", "whole segment"),
    ("/Shared/{branch}/{branch}", "once"),
    ("/Users/{branch}", "home"),
    ("/Shared/./b/{branch}", "normalised"),
    ("/Shared/b/{branch", "template"),
])
def test_folder_templates_that_could_escape_are_refused(template: str, problem: str) -> None:
    found = template_problem(template)
    assert found is not None and problem in found, found


BASE: dict[str, Any] = {"repository": {"url": "https://github.com/contoso/platform"},
                        "environments": {"dev": {"databricks": {"host": "https://adb-1.azuredatabricks.net",
                                                                "target_dir": "/Shared/dev"}},
                                         "prod": {}}}


def _config(**bw: Any) -> Any:
    raw = copy.deepcopy(BASE)
    raw["databricks"] = {"branch_workspaces": {"branches": ["feature/*"], "environment": "dev", **bw}}
    return parse_config(raw)


def test_configuration_defaults() -> None:
    bw = _config().databricks.branch_workspaces
    assert bw.folder == USERS and bw.ttl_days == 14 and bw.read_groups == [] and not bw.count_in_dora


@pytest.mark.parametrize(("bw", "message"), [
    ({"environment": "qa"}, "unknown environment 'qa'"),
    ({"environment": "prod"}, "has no databricks section"),
    ({"folder": "/Shared/dev/branches/{branch}"}, "inside environments.dev.databricks.target_dir"),
    ({"ttl_days": 0}, "ttl_days"),
    ({"branches": []}, "branches"),
    ({"folder": "/Shared/{x}/{branch}"}, "unknown placeholder"),
])
def test_invalid_branch_workspace_configuration_is_refused(bw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(**bw)
    assert message in str(info.value)
