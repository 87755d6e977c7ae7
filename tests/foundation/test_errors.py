"""Errors by kind: HTTP statuses are mapped only at the HTTP edge, exit codes only in the CLI."""

from __future__ import annotations

import json

import pytest

from functions._http import error_response, http_status
from shared import errors
from shared.adf.client import FactoryObjectNotFound, FactoryOperationError
from shared.cli import exit_code
from shared.deploy.lock import LockBusy


@pytest.mark.parametrize(("err", "status", "exit", "code"), [
    (errors.InvalidInput("x"), 400, 2, "bad_request"),
    (errors.BadRequest("x", code="invalid_limit"), 400, 2, "invalid_limit"),
    (errors.ConfigError(["a: b"]), 400, 2, "invalid_config"),
    (errors.TooLarge("x"), 413, 2, "payload_too_large"),
    (errors.Unauthorized("x"), 401, 2, "unauthorized"),
    (errors.Forbidden("x"), 403, 2, "forbidden"),
    (errors.NotFound("x"), 404, 2, "not_found"),
    (errors.Conflict("x"), 409, 2, "conflict"),
    (LockBusy("x"), 409, 2, "locked"),
    (FactoryOperationError("x"), 502, 3, "factory_operation_failed"),
    (FactoryObjectNotFound("x", code="not_found"), 404, 2, "not_found"),
    (errors.Unavailable("x"), 503, 3, "unavailable"),
    (errors.Throttled("x"), 429, 3, "throttled"),
    (errors.DataOpsError("x"), 400, 2, "error"),
])
def test_each_kind_has_one_status_and_one_exit_code(err: errors.DataOpsError, status: int, exit: int, code: str):
    assert http_status(err) == status and exit_code(err) == exit
    resp = error_response(err)
    assert resp.status_code == status and json.loads(resp.get_body())["error"] == code


def test_only_dependency_failures_are_retryable():
    assert errors.Unavailable("x").retryable and errors.Throttled("x").retryable
    for kind in (errors.InvalidInput, errors.NotFound, errors.Conflict, errors.Forbidden, errors.TargetFailed):
        assert not kind("x").retryable


def test_a_throttled_answer_says_when_to_come_back():
    resp = error_response(errors.Throttled("slow down", retry_after=2.2))
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert "Retry-After" not in error_response(errors.Unavailable("down")).headers


def test_errors_know_nothing_of_http():
    for name in dir(errors):
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.DataOpsError):
            assert not hasattr(cls, "status"), name
