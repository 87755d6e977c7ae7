"""The ``verify:`` configuration: every problem refused by key path, nothing half-accepted."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import parse_config
from shared.errors import ConfigError

DBX = {"host": "https://adb-1.azuredatabricks.net", "target_dir": "/Shared/p"}


def _parse(env: dict[str, Any]) -> Any:
    return parse_config({"repository": {"url": "https://example.invalid/p"}, "environments": {"test": env}})


def test_a_valid_list_parses_with_defaults_and_durations() -> None:
    config = _parse({"databricks": DBX, "verify": [
        {"name": "smoke", "notebook": "verify/smoke", "timeout": "10m"},
        {"name": "api", "http": {"url_setting": "API_URL"}, "blocking": False, "on": ["adf"]}]})
    smoke, api = config.environments["test"].verify
    assert (smoke.kind, smoke.timeout, smoke.on, smoke.blocking) == ("databricks_notebook", 600.0,
                                                                     ["adf", "notebooks"], True)
    assert (api.kind, api.http.expect_status, api.blocking) == ("http", 200, False)
    assert config.verification.poll_interval == 5.0


@pytest.mark.parametrize(("checks", "problem"), [
    ([{"name": "x"}], "exactly one of job, job_id, notebook, pipeline, http (got none)"),
    ([{"name": "x", "job": "a", "notebook": "b"}], "(got job, notebook)"),
    ([{"name": "x", "job": "a", "cluster": "c"}], "cluster, cluster_policy_id and new_cluster are for notebooks"),
    ([{"name": "x", "notebook": "a", "cluster": "c", "cluster_policy_id": "p"}], "not both"),
    ([{"name": "x", "notebook": "a", "new_cluster": {"num_workers": 1}}], "new_cluster needs cluster_policy_id"),
    ([{"name": "x", "notebook": "a"}, {"name": "x", "job_id": 3}], "check name 'x' is used twice"),
    ([{"name": "p", "pipeline": "pl"}], "check p runs a pipeline but the environment has no data_factory"),
    ([{"name": "bad name!", "notebook": "a"}], "is not a check name"),
    ([{"name": "x", "notebook": "a", "timeout": 3600}], "less than or equal to 1800"),
    ([{"name": "x", "notebook": "a", "timeout": "soon"}], "timeout"),
    ([{"name": "x", "notebook": "a", "on": ["spark"]}], "verify.0.on.0"),
    ([{"name": "x", "http": {"url_setting": "has-dash"}}], "is not an app setting name"),
])
def test_invalid_checks_are_refused_by_key_path(checks: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse({"databricks": DBX, "verify": checks})
    text = "\n".join(info.value.problems)
    assert problem in text and "environments.test" in text


def test_databricks_checks_need_the_databricks_section() -> None:
    with pytest.raises(ConfigError) as info:
        _parse({"verify": [{"name": "j", "job": "nightly"}]})
    assert "check j runs on Databricks but the environment has no databricks" in "\n".join(info.value.problems)


def test_http_check_url_settings_are_secret_settings() -> None:
    from shared.app import secret_settings

    config = _parse({"verify": [{"name": "api", "http": {"url_setting": "API_HEALTH_URL"}}]})
    assert "API_HEALTH_URL" in secret_settings(config)
