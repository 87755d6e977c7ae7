"""Where the ``adf`` deployer's template comes from: ``adf.source`` (publish | main).

``publish`` (default): the publish branch's ARM templates (``shared/adf/loader.py``).
``main``: built here from the factory JSON of the deployed commit (``adf.root_folder``,
``adf.factory``), validated first; the template, its parameter defaults and the output
files are what ADF's Publish would have written for that commit.
"""

from __future__ import annotations

import json

from ...config import AdfSource
from ...git.snapshot import CommitSnapshot
from ..loader import FactoryTemplate, load_factory
from .builder import build_factory


def load_template(snapshot: CommitSnapshot, adf: AdfSource) -> FactoryTemplate:
    """The template to deploy for this commit, from the source ``adf.source`` names."""
    if adf.source != "main":
        return load_factory(snapshot, adf.factory_dir)
    return load_built(snapshot, adf)


def load_built(snapshot: CommitSnapshot, adf: AdfSource) -> FactoryTemplate:
    """Validate and build, then load the output exactly as a publish branch holding it would be loaded.

    The publish loader decides full vs linked templates (over ARM's limits the children deploy one by one
    where the deployer supports it, else the limit is named), so both sources deploy the same way.
    """
    root = adf.root_folder.strip("/")
    result = build_factory(snapshot.files, root, adf.factory)  # raises invalid_factory, nothing deployed
    published = {rel: json.dumps(doc, ensure_ascii=False).encode() for rel, doc in result.files().items()}
    built = load_factory(CommitSnapshot(snapshot.sha, published, ref=snapshot.ref, repository=snapshot.repository),
                         "")
    built.source = (f"built from the factory JSON in {root or '/'} at {snapshot.sha[:12]} (adf.source: main): "
                    f"{built.source}")
    built.layout = f"built-{built.layout}"  # built-full | built-linked
    built.folder = root
    return built
