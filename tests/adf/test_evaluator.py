"""#17.10: ARM expressions as ARM evaluates them (the product's evaluator; the stand-in's is the oracle)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from devhost.standins.armtemplate import TemplateContext, evaluate
from shared.adf.template import Evaluator, TemplateError

from .helpers import base_resources, res, snapshot_of, template
from .test_deploy import _ctx, _deploy

SUB, RG = "00000000-0000-0000-0000-0000000000aa", "rg-x"
PARAMS = {"factoryName": "f1", "obj": {"Name": "n1", "nested": {"Key": 3}}, "n": 7}

# (expression, expected): ARM's answers (uniqueString vectors verified against ARM/Bicep)
CASES: list[tuple[str, Any]] = [
    ("[uniqueString('test')]", "rbgf3xv4ufgzg"),
    ("[uniqueString('hello', 'world')]", "a7wkljktk6wne"),
    ("[uniqueString('/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg')]",
     "bmg7c6xu4tw46"),
    ("[uniqueString('foo', 'bar', 'baz')]", "xzi4ioaxtmth4"),
    ("[if(equals(parameters('n'), 7), 'seven', parameters('missing'))]", "seven"),
    ("[if(false(), parameters('missing'), 'other')]", "other"),
    ("[parameters('obj').name]", "n1"),
    ("[parameters('OBJ').NESTED.key]", 3),
    ("[parameters('obj')['NAME']]", "n1"),
    ("[format('{0:D3}-{1:N2}-{2,5}|{3,-4}|{{x}}', 7, 1234.5, 'ab', 'c')]", "007-1,234.50-   ab|c   |{x}"),
    ("[format('{0:X4} {0:x} {1:F1} {2:P0}', 255, 2.25, 0.5)]", "00FF ff 2.2 50 %"),
    ("[resourceId('Microsoft.Storage/storageAccounts', 'sa')]",
     f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/sa"),
    ("[resourceId('other-rg', 'Microsoft.Storage/storageAccounts', 'sa')]",
     f"/subscriptions/{SUB}/resourceGroups/other-rg/providers/Microsoft.Storage/storageAccounts/sa"),
    ("[resourceId('11111111-1111-1111-1111-111111111111', 'rg2', 'Microsoft.DataFactory/factories/pipelines', "
     "'f', 'p')]", "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg2/providers/"
                   "Microsoft.DataFactory/factories/f/pipelines/p"),
    ("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r1')]",
     f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/r1"),
    ("[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]",
     "/providers/Microsoft.Management/managementGroups/mg"),
    ("[extensionResourceId('/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/sa', "
     "'Microsoft.Authorization/locks', 'l1')]",
     "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/sa/providers/"
     "Microsoft.Authorization/locks/l1"),
]


@pytest.mark.parametrize(("expression", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_product_evaluator_answers_as_arm(expression: str, expected: Any) -> None:
    ev = Evaluator(PARAMS, subscription_id=SUB, resource_group=RG)
    assert ev.value(expression) == expected


@pytest.mark.parametrize(("expression", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_stand_in_oracle_agrees(expression: str, expected: Any) -> None:
    declared = {k: {"type": "object" if isinstance(v, dict) else "int" if isinstance(v, int) else "string"}
                for k, v in PARAMS.items()}
    ctx = TemplateContext.from_template({"parameters": declared}, PARAMS, subscription_id=SUB, resource_group=RG)
    assert evaluate(expression, ctx) == expected


def test_unique_string_is_the_same_in_every_process() -> None:
    code = ("from shared.adf.template import Evaluator; "
            "print(Evaluator({}).value(\"[uniqueString('a', 'b')]\"))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert len(outs) == 1 and len(outs.pop()) == 13


def test_escaped_property_names_are_unescaped() -> None:
    ev = Evaluator(PARAMS)
    mapping = {"translator": {"mappings": {"[[Order Id]": "order_id", "plain": "[[literal]"}}}
    assert ev.render(mapping) == {"translator": {"mappings": {"[Order Id]": "order_id", "plain": "[literal]"}}}
    with pytest.raises(TemplateError):
        ev.value("[format('{0:Q}', 1)]")


def test_escaped_names_deploy_and_replan_as_no_op(arm_standin: Any, arm_factory_name: str) -> None:
    """ADF exports copy-activity schema mappings with "[[" in property names: they deploy unescaped, and
    the product renders them the same way, so the re-plan is a no-op."""
    arm_standin.create_factory(arm_factory_name)
    copy = {"activities": [{"name": "copy", "type": "Copy", "typeProperties": {
        "source": {"type": "DelimitedTextSource"}, "sink": {"type": "DelimitedTextSink"},
        "translator": {"type": "TabularTranslator", "mappings": {"[[Order Id]": "order_id"}}}}],
        "annotations": []}
    resources = [*base_resources(), res("pipelines", "pl_copy", copy)]
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(resources))))
    assert r1.status == "succeeded", (r1.error, r1.error_details)
    live = arm_standin.get_object(arm_factory_name, "pipelines", "pl_copy")
    assert json.dumps(live["properties"]).count('"[Order Id]"') == 1
    again, _ = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(resources), sha="2" * 40)))
    assert not again.has_changes, again.to_json()["actions"]
