"""Where the ``adf`` deployer's template comes from: ``adf.source`` (publish | main).

``publish`` (default): the publish branch's ARM templates (``shared/adf/loader.py``).
``main``: built here from the factory JSON of the deployed commit (``adf.root_folder``,
``adf.factory``), validated first; the template, its parameter defaults and the output
files are what ADF's Publish would have written for that commit.
"""

from __future__ import annotations

from ...config import AdfSource
from ...git.snapshot import CommitSnapshot
from ..loader import FactoryTemplate, check_limits, load_factory
from .builder import FULL_PARAMETERS, FULL_TEMPLATE, build_factory


def load_template(snapshot: CommitSnapshot, adf: AdfSource) -> FactoryTemplate:
    """The template to deploy for this commit, from the source ``adf.source`` names."""
    if adf.source != "main":
        return load_factory(snapshot, adf.factory_dir)
    return load_built(snapshot, adf)


def load_built(snapshot: CommitSnapshot, adf: AdfSource) -> FactoryTemplate:
    root = adf.root_folder.strip("/")
    result = build_factory(snapshot.files, root, adf.factory)  # raises invalid_factory, nothing deployed
    source = f"built from the factory JSON in {root or '/'} at {snapshot.sha[:12]} (adf.source: main)"
    values = {k: v for k, v in result.parameters["parameters"].items() if isinstance(v, dict)}
    built = FactoryTemplate(result.template, values, root, source, "built",
                            [FULL_TEMPLATE, FULL_PARAMETERS, *(f"linkedTemplates/{n}" for n in result.linked)])
    # over ARM's limits only the linked templates can deploy: refused here, naming the limit, until the
    # deployer deploys linked templates from storage
    check_limits(built.template, source)
    return built
