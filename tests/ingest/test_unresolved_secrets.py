"""A secret App Service could not resolve (the literal ``@Microsoft.KeyVault(...)`` text, or empty) is
never accepted as the secret: 503 ``secret_unresolved`` naming the setting, nothing recorded."""

from __future__ import annotations

import logging

import pytest

from shared.app import log_unresolved_secrets
from shared.deploy.queue import DeploymentQueue

from .helpers import (
    ADO,
    GH,
    GL,
    azure_devops,
    azure_devops_push,
    config_for,
    context,
    github,
    github_push,
    gitlab,
    gitlab_push,
    post,
    serving,
)

REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv-dataops.vault.azure.net/secrets/github-webhook/)"


@pytest.mark.parametrize("value", [REFERENCE, "  @microsoft.keyvault(VaultName=kv;SecretName=gh)", "", "   "])
def test_an_unresolved_webhook_secret_is_503_and_accepts_nothing(storage, clock, value):
    with serving(storage, clock, settings={"GITHUB_WEBHOOK_SECRET": value}) as ctx:
        # Signed with the reference text itself: what anyone who read the app settings could do.
        headers, body = github(github_push(), secret=value or "x")
        status, answer = post("github", headers, body)
        assert status == 503 and answer["error"] == "secret_unresolved"
        assert "GITHUB_WEBHOOK_SECRET" in answer["message"]
        assert (value.strip() or "@@") not in answer["message"]  # never the value
        assert DeploymentQueue(storage).peek() == [] and ctx.ledger.list_deployments("dev").items == []


def test_every_source_checks_its_secrets(storage, clock):
    for provider, url, setting, delivery in (
            ("azure-devops", ADO, "AZDO_WEBHOOK_PASSWORD",
             azure_devops(azure_devops_push(), password=REFERENCE)),
            ("gitlab", GL, "GITLAB_WEBHOOK_TOKEN",
             gitlab(gitlab_push(), token=REFERENCE))):
        with serving(storage, clock, provider, url, {setting: REFERENCE}):
            status, answer = post(provider, *delivery)
            assert status == 503 and answer["error"] == "secret_unresolved" and setting in answer["message"]


def test_the_startup_check_logs_every_unresolved_secret_by_name(storage, clock, caplog):
    ctx = context(storage, config_for("github", GH), clock,
                  {"GITHUB_WEBHOOK_SECRET": REFERENCE, "GITLAB_WEBHOOK_TOKEN": ""})
    with caplog.at_level(logging.ERROR, logger="shared.app"):
        assert sorted(log_unresolved_secrets(ctx)) == ["GITHUB_WEBHOOK_SECRET", "GITLAB_WEBHOOK_TOKEN"]
    text = caplog.text
    assert "GITHUB_WEBHOOK_SECRET" in text and "GITLAB_WEBHOOK_TOKEN" in text and "vault.azure.net" not in text
