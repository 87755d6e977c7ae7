"""Issue 23 item 5: the conventions of az / databricks / argocd, on the installed console script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from .helpers import DATAOPS, ROOT, dataops


def test_global_options_work_before_and_after_the_subcommand(cli_env, cli_config: Path, tmp_path: Path):
    env = {k: v for k, v in cli_env.items() if k != "DATAOPS_CONFIG"}
    for args in (["--config", str(cli_config), "config", "validate", "--json"],
                 ["config", "validate", "--config", str(cli_config), "-o", "json"],
                 ["config", "--config", str(cli_config), "validate", "--output", "json"]):
        run = dataops(args, env)
        assert run.code == 0, (args, run.err)
        assert json.loads(run.out) == {"valid": True, "environments": ["dev", "prod"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("environments: {dev: {deploy_on: [sometimes]}}\n")
    run = dataops(["config", "validate", "--config", str(bad)], env)  # after the subcommand it is honoured
    assert run.code == 2 and "deploy_on" in run.out
    run = dataops(["config", "validate", "-o", "yaml", "--config", str(cli_config)], env)
    assert run.code == 0 and yaml.safe_load(run.out) == {"valid": True, "environments": ["dev", "prod"]}
    run = dataops(["config", "validate", "-o", "xml"], env)
    assert run.code == 2 and "invalid choice" in run.err


def test_version_and_shell_completion():
    run = dataops(["--version"])
    assert run.code == 0 and run.out.startswith("dataops ") and run.out.split()[1][0].isdigit()
    bash = dataops(["completion", "bash"])
    assert bash.code == 0 and "complete" in bash.out and "storage" in bash.out and "--output" in bash.out
    checked = subprocess.run(["bash", "-n"], input=bash.out, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr  # a script bash can source
    zsh = dataops(["completion", "zsh"])
    assert zsh.code == 0 and zsh.out.startswith("#compdef dataops") and "audit" in zsh.out


def test_since_takes_ages_and_iso_times(cli_env):
    assert dataops(["storage", "init"], cli_env).code == 0
    for since in ("2d", "3h", "45m", "1w", "2026-01-05T10:00:00Z"):
        run = dataops(["audit", "list", "--since", since, "--json"], cli_env)
        assert run.code == 0, (since, run.err)
    run = dataops(["audit", "list", "--since", "yesterday-ish"], cli_env)
    assert run.code == 2 and "since" in run.err and "Traceback" not in run.err


def test_plan_exit_code_and_verbosity(cli_env):
    assert dataops(["storage", "init"], cli_env).code == 0
    plain = dataops(["plan", "--env", "dev"], cli_env)
    assert plain.code == 0, plain.err  # without --exit-code changes are not a failure
    changes = dataops(["plan", "--env", "dev", "--exit-code", "-v"], cli_env)
    assert changes.code == 1, changes.err
    assert "/Shared/dev/a" in changes.out
    # -v: the product's own progress only, never the SDKs' request/response headers
    logged = [line for line in changes.err.splitlines() if line.strip()]
    assert logged and all(line.startswith(("INFO shared.", "INFO dataops.")) for line in logged), logged
    assert "Request URL" not in changes.err and "urllib3" not in changes.err and "databricks.sdk" not in changes.err
    debug = dataops(["plan", "--env", "dev", "--debug"], cli_env)
    assert debug.code == 0 and ("urllib3" in debug.err or "databricks.sdk" in debug.err)
    assert dataops(["deploy", "--env", "dev", "--actor", "ada"], cli_env).code == 0
    done = dataops(["plan", "--env", "dev", "--exit-code"], cli_env)
    assert done.code == 0, (done.out, done.err)  # deployed: nothing to change


def test_a_closed_pipe_is_not_an_error(cli_env):
    """``dataops plan --json | head -1``: the reader goes away before the output is written."""
    proc = subprocess.Popen([str(DATAOPS), "plan", "--env", "dev", "--json"], cwd=ROOT, env={**_env(), **cli_env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like head -1 that already has its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""
    shell = subprocess.run(f"'{DATAOPS}' plan --env dev --json | head -c 1 >/dev/null; echo \"rc=${{PIPESTATUS[0]}}\"",
                           shell=True, executable="/bin/bash", cwd=ROOT, env={**_env(), **cli_env},
                           capture_output=True, text=True, timeout=120)
    assert shell.stdout.strip() == "rc=0" and shell.stderr == ""


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
