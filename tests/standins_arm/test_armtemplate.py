"""The stand-in's ARM template expression evaluator (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from devhost.standins.armtemplate import TemplateContext, TemplateError, evaluate

TEMPLATE: dict[str, Any] = {
    "parameters": {"factoryName": {"type": "string"},
                   "count": {"type": "int", "defaultValue": 2},
                   "derived": {"type": "string", "defaultValue": "[concat(parameters('factoryName'), '-x')]"},
                   "env": {"type": "string", "defaultValue": "dev", "allowedValues": ["dev", "prd"]}},
    "variables": {"factoryId": "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]",
                  "nested": "[concat(variables('factoryId'), '/pipelines')]",
                  "obj": {"a": {"b": ["zero", "one"]}}},
}


def _ctx(**params: Any) -> TemplateContext:
    return TemplateContext.from_template(TEMPLATE, {"factoryName": "adf1", **params},
                                         subscription_id="sub", resource_group="rg")


@pytest.mark.parametrize(("expr", "expected"), [
    ("[parameters('factoryName')]", "adf1"),
    ("[concat(parameters('factoryName'), '/default/pe-1')]", "adf1/default/pe-1"),
    ("[variables('nested')]", "Microsoft.DataFactory/factories/adf1/pipelines"),
    ("[parameters('derived')]", "adf1-x"),
    ("[parameters('count')]", 2),
    ("[[':@computed_region']", "[':@computed_region']"),
    ("[[not an expression", "[[not an expression"),
    ("plain [text]", "plain [text]"),
    ("[concat('it''s', ' ', 'ok')]", "it's ok"),
    ("[resourceId('Microsoft.Resources/deployments', 'd0')]",
     "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Resources/deployments/d0"),
    ("[variables('obj').a.b[1]]", "one"),
    ("[toLower(concat('A', 'B'))]", "ab"),
    ("[if(equals(parameters('env'), 'dev'), 'small', 'large')]", "small"),
    ("[format('{0}-{1}', 'a', 1)]", "a-1"),
    ("[concat(createArray(1), createArray(2))]", [1, 2]),
    ("[length(variables('obj').a.b)]", 2),
])
def test_expressions(expr: str, expected: Any) -> None:
    assert evaluate(expr, _ctx()) == expected


def test_nested_values_are_evaluated_keys_are_not() -> None:
    value = {"[parameters('factoryName')]": ["[parameters('factoryName')]", {"x": "[variables('factoryId')]"}]}
    assert evaluate(value, _ctx()) == {"[parameters('factoryName')]": [
        "adf1", {"x": "Microsoft.DataFactory/factories/adf1"}]}


def test_parameter_names_are_case_insensitive_and_typed() -> None:
    ctx = TemplateContext.from_template(TEMPLATE, {"FACTORYNAME": "adf2", "count": "7"})
    assert evaluate("[parameters('factoryname')]", ctx) == "adf2"
    assert evaluate("[parameters('count')]", ctx) == 7


@pytest.mark.parametrize(("supplied", "fragment"), [
    ({}, "'factoryName' is not provided"),
    ({"factoryName": "a", "bogus": 1}, "'bogus'"),
    ({"factoryName": "a", "env": "tst"}, "allowed value"),
    ({"factoryName": "a", "count": "many"}, "of type 'int'"),
])
def test_parameter_errors(supplied: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TemplateError) as err:
        TemplateContext.from_template(TEMPLATE, supplied)
    assert err.value.code == "InvalidTemplate"
    assert fragment in err.value.message


@pytest.mark.parametrize("expr", ["[parameters('nope')]", "[variables('nope')]", "[noSuchFunction(1)]",
                                  "[concat('a',]", "[concat('a') extra]", "[variables('obj').missing]"])
def test_expression_errors(expr: str) -> None:
    with pytest.raises(TemplateError):
        evaluate(expr, _ctx())


def test_variable_cycle_is_an_error() -> None:
    ctx = TemplateContext.from_template({"variables": {"a": "[variables('b')]", "b": "[variables('a')]"}}, {})
    with pytest.raises(TemplateError, match="circular"):
        evaluate("[variables('a')]", ctx)
