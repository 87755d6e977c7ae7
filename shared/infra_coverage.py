"""Does a deployer instance's role assignments cover every environment its configuration names?

infra/main.json grants the instance's managed identity Data Factory Contributor on each factory of
its ``dataFactories`` parameter and the ARM deployment role on each factory's resource group. The
configuration it runs with (``configPath``, packaged with the app) must not name a factory outside
that list: the deployment would fail in Azure with 403 on the first ARM call. Run before
``az deployment group create``::

    python -m shared.infra_coverage infra/parameters.prod.json

Exit 0: covered. Exit 1: every uncovered environment, and what to add to the parameter file (or
which instance should own the environment instead; docs/deploy-azure.md, "One instance or several").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import PlatformConfig, load_config


def _key(subscription: str, group: str, factory: str) -> tuple[str, str, str]:
    # Resource group and factory names are case-insensitive in Azure; subscription ids are GUIDs.
    return subscription.casefold(), group.casefold(), factory.casefold()


def uncovered(config: PlatformConfig, data_factories: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per configured environment whose factory the parameters grant no role on."""
    granted = {_key(str(f.get("subscriptionId", "")), str(f.get("resourceGroup", "")),
                    str(f.get("factoryName", ""))) for f in data_factories}
    out: list[str] = []
    for name, env in config.environments.items():
        target = env.data_factory
        if target is None:
            continue
        if _key(target.subscription_id, target.resource_group, target.factory_name) not in granted:
            out.append(f"environment {name}: factory {target.factory_name} (resource group "
                       f"{target.resource_group}, subscription {target.subscription_id}) is not in "
                       f"dataFactories: add {{\"subscriptionId\": \"{target.subscription_id}\", "
                       f"\"resourceGroup\": \"{target.resource_group}\", \"factoryName\": "
                       f"\"{target.factory_name}\"}} or deploy this environment from another instance")
    return out


def check_parameter_file(path: str | Path, *, root: str | Path | None = None) -> list[str]:
    """Problems of one parameter file against the configuration its ``configPath`` names."""
    p = Path(path)
    values = {k: v.get("value") for k, v in json.loads(p.read_text(encoding="utf-8"))["parameters"].items()}
    base = Path(root) if root is not None else p.resolve().parent.parent
    config_path = base / str(values.get("configPath") or "infra/environments.yaml")
    return uncovered(load_config(config_path), values.get("dataFactories") or [])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m shared.infra_coverage PARAMETERS.json [...]", file=sys.stderr)
        return 2
    problems = [f"{a}: {line}" for a in args for line in check_parameter_file(a)]
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print("every configured environment's factory and resource group gets the deployer's roles")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
