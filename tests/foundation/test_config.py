"""The configuration file is validated as a whole, every problem named by key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import load_config, parse_config, parse_yaml
from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

VALID = """
repository: {provider: github, url: "https://github.com/contoso/data-platform"}
environments:
  dev:
    deploy_on: [push]
    schedule: {time_zone: Europe/London, stop: "0 0 19 * * 1-5", start: "0 0 7 * * 1-5"}
  prod:
    deploy_on: [promotion]
    requires: [dev]
    notify:
      - {kind: teams, url_setting: TEAMS_WEBHOOK_URL, on: [failed]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(parse_yaml(text))
    return info.value.problems


def test_shipped_configurations_are_valid() -> None:
    for name in ("environments.yaml", "environments.local.yaml"):
        cfg = load_config(ROOT / "infra" / name)
        assert set(cfg.environments) == {"dev", "test", "prod"}


def test_valid_file_loads_with_defaults() -> None:
    cfg = parse_config(parse_yaml(VALID))
    assert cfg.repository.main_branch == "main"
    assert cfg.repository.publish_branch == "adf_publish"
    assert cfg.push_environments() == ["dev"]
    assert cfg.environments["prod"].notify[0].on == ["failed"]  # YAML 1.1 would read `on` as True
    assert cfg.production_environment == "prod"


def test_every_problem_is_listed_by_key_path() -> None:
    found = problems("""
repository: {provider: gitlub, url: x}
environments:
  dev:
    deploy_on: [pushed]
    requires: [nope]
    schedule: {stop: "0 0 19 * * 1-7", time_zone: Mars/Base}
  prod:
    databricks: {host: "ftp://x", target_dir: rel}
""")
    assert "repository.provider: Input should be 'github', 'azure-devops', 'gitlab' or 'local'" in found
    assert any(p.startswith("environments.dev.deploy_on.0:") for p in found)
    assert any(p.startswith("environments.dev.schedule.stop: not a valid NCRONTAB expression") for p in found)
    assert any(p.startswith("environments.dev.schedule.time_zone:") for p in found)
    assert any(p.startswith("environments.prod.databricks.host:") for p in found)
    assert any(p.startswith("environments.prod.databricks.target_dir:") for p in found)
    assert "environments.dev.requires.0: unknown environment 'nope'" in found


def test_requires_cycles_are_refused() -> None:
    found = problems("""
repository: {url: x}
environments:
  a: {requires: [b]}
  b: {requires: [c]}
  c: {requires: [a]}
""")
    assert any("cycle" in p for p in found)


def test_unknown_keys_are_refused() -> None:
    assert "environments.dev.colour: unknown key" in problems(
        "repository: {url: x}\nenvironments:\n  dev: {colour: blue}\n")


def test_promotion_without_requires_is_refused() -> None:
    assert any("needs 'requires'" in p for p in problems(
        "repository: {url: x}\nenvironments:\n  dev: {deploy_on: [promotion]}\n"))


def test_secret_settings_must_be_names_not_values() -> None:
    assert any(p.startswith("environments.dev.databricks.token_setting:") for p in problems("""
repository: {url: x}
environments:
  dev: {databricks: {host: "https://adb-1.azuredatabricks.net", target_dir: /Shared/x, token_setting: "dapi-123 456"}}
"""))


def test_arm_endpoint_must_be_https() -> None:
    assert any("arm_endpoint" in p for p in problems("""
repository: {url: x}
environments:
  dev:
    data_factory: {subscription_id: 00000000-0000-0000-0000-000000000000, resource_group: rg,
                   factory_name: f, arm_endpoint: "http://127.0.0.1:1"}
"""))


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("repository: {url: x\nenvironments: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert "line" in info.value.problems[0]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml")
    assert "file not found" in info.value.problems[0]


def test_cli_validate_exits_non_zero_with_problems(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("repository: {url: x}\nenvironments:\n  dev: {deploy_on: [sometimes]}\n")
    out = subprocess.run([sys.executable, "-m", "shared.cli", "--config", str(p), "config", "validate"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "environments.dev.deploy_on.0" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    ok = subprocess.run([sys.executable, "-m", "shared.cli", "--config", "infra/environments.yaml",
                         "config", "validate"], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
