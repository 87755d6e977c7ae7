"""``dataops adf build | validate``: ADF's Publish without the button (shared/adf/build).

``build`` reads the factory JSON at a commit (or a plain folder) and writes what ADF's
Publish writes to ``--out``; it prints a one-line summary. ``validate`` runs the checks
alone (like ADF's "Validate all") and exits 1 when there is a problem, printing each with
its file and JSON path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..adf.build import FactoryValidationError, build_factory, validate_factory
from ..errors import BadRequest, ConfigError
from ._common import add_json, context, print_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    adf = sub.add_parser("adf", help="build or validate Data Factory ARM templates from the factory JSON")
    cmds = adf.add_subparsers(dest="adf_command", metavar="ADF_COMMAND", required=True)
    for name, helptext in (("build", "write ARMTemplateForFactory.json, parameters, linkedTemplates/, "
                                     "globalParameters/ as ADF's Publish does"),
                           ("validate", "check the factory JSON (references, names, JSON, folders, "
                                        "parameter definition); exit 1 on a problem")):
        p = cmds.add_parser(name, help=helptext)
        p.add_argument("--repo", metavar="PATH_OR_URL",
                       help="a local git repository, a plain folder, or the configured remote (default)")
        p.add_argument("--ref", help="branch, tag or commit (default: the main branch; ignored for a folder)")
        p.add_argument("--root", metavar="FOLDER", help="the repository's ADF root folder (default: adf.root_folder "
                                                        "from the configuration, else the repository root)")
        p.add_argument("--factory", metavar="NAME", help="the factory when factory/ holds several; also the "
                                                         "factoryName default")
        add_json(p)
        if name == "build":
            p.add_argument("--out", required=True, metavar="DIR", help="folder to write the publish output to")
            p.add_argument("--compare", metavar="PUBLISH_DIR",
                           help="compare with what ADF's Publish wrote (its factory folder of the publish branch), "
                                "resource by resource; exit 1 on a difference")
            p.set_defaults(handler=_build)
        else:
            p.set_defaults(handler=_validate)


def _files(args: argparse.Namespace) -> tuple[dict[str, bytes], str, str, str | None]:
    """(files, commit or '', root, factory) from the arguments and, when needed, the configuration."""
    repo, root, factory = args.repo, args.root, args.factory
    local = repo is not None and "://" not in repo and os.path.isdir(repo)
    cfg = None
    if not local or root is None or args.ref is None:
        try:
            cfg = context(args).config
        except ConfigError:
            if not local:
                raise
    if root is None:
        root = cfg.adf.root_folder if cfg else "/"
    if factory is None and cfg is not None:
        factory = cfg.adf.factory
    if local and not os.path.isdir(os.path.join(repo, ".git")) and args.ref is None:
        base = Path(repo)
        files = {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*")
                 if p.is_file() and ".git" not in p.parts}
        return files, "", root, factory
    from ..git.hosts import GitSource, LocalGitSource, source_for

    source: GitSource
    if local:
        source = LocalGitSource(repo)
    else:
        if cfg is None:
            raise BadRequest("no configuration: pass --repo PATH or --config", code="no_repository")
        source = source_for(cfg.repository, context(args).settings, url=repo)
    ref = args.ref or (cfg.repository.main_branch if cfg else "HEAD")
    snap = source.snapshot(ref)
    return dict(snap.files), snap.sha, root, factory


def _build(args: argparse.Namespace) -> int:
    files, sha, root, factory = _files(args)
    result = build_factory(files, root, factory)
    out = Path(args.out)
    for rel, doc in result.files().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent="\t", ensure_ascii=False) + "\n", encoding="utf-8")
    if args.json:
        print_json({"factory": result.factory_name, "commit": sha or None, "objects": result.counts,
                    "parameters": len(result.template["parameters"]),
                    "resources": len(result.template["resources"]), "linked_templates": len(result.linked) - 2,
                    "linked_needed": result.needs_linked, "files": sorted(result.files()),
                    "warnings": [w.to_json() for w in result.warnings]})
    else:
        print(result.summary() + (f" (commit {sha[:12]})" if sha else ""))
    for w in result.warnings:
        print(f"warning: {w} [{w.code}]", file=sys.stderr)
    if args.compare:
        diffs = _compare(result.template, Path(args.compare))
        for d in diffs:
            print(f"differs: {d}")
        print(f"{len(diffs)} difference{'s' if len(diffs) != 1 else ''} from {args.compare}" if diffs
              else f"same as {args.compare}")
        return 1 if diffs else 0
    return 0


def _compare(template: dict[str, object], publish_dir: Path) -> list[str]:
    from ..adf.build.compare import compare_templates

    path = publish_dir / "ARMTemplateForFactory.json"
    try:
        expected = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"{path}: cannot read ADF's template ({exc})", code="invalid_compare") from None
    if not isinstance(expected, dict):
        raise BadRequest(f"{path}: not an ARM template", code="invalid_compare")
    return compare_templates(template, expected)


def _validate(args: argparse.Namespace) -> int:
    files, sha, root, factory = _files(args)
    problems = validate_factory(files, root, factory)
    if args.json:
        print_json({"commit": sha or None, "valid": not problems, "problems": [p.to_json() for p in problems]})
    else:
        for p in problems:
            print(f"{p.file}: {p.path}: {p.message} [{p.code}]")
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}" if problems else "valid")
    return 1 if problems else 0


__all__ = ["FactoryValidationError", "register"]
