"""`ivr flow …`: the flow designers' tools.

    ivr flow lint [FILE…]         parse, schema and graph checks (exit 1 on errors)
    ivr flow test [SCENARIO…]     run flows/tests/*.yaml against the engine, offline
    ivr flow simulate FILE        play a flow in the terminal (keys typed on stdin)
    ivr flow graph FILE           Mermaid diagram of a flow
    ivr flow schema               JSON Schema for flow files (editors)
    ivr flow versions NAME        deploy / rollback history from PostgreSQL
    ivr flow rollback NAME [--to VERSION]   make an earlier version live again
    ivr prompts build [--force] [--only ID…]  render prompt audio (prompts/<lang>/<id>.wav and .sln16)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from common.config import PROJECT_ROOT, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivr", description="IVR flow tools")
    groups = parser.add_subparsers(dest="group", required=True)
    flow = groups.add_parser("flow", help="flow designer tools").add_subparsers(dest="command", required=True)
    lint = flow.add_parser("lint", help="check flows before they go live")
    lint.add_argument("files", nargs="*", type=Path)
    test = flow.add_parser("test", help="run flow test scenarios offline")
    test.add_argument("files", nargs="*", type=Path)
    simulate = flow.add_parser("simulate", help="play a flow in the terminal")
    simulate.add_argument("file", type=Path)
    simulate.add_argument("--language", default=None)
    graph = flow.add_parser("graph", help="Mermaid diagram of a flow")
    graph.add_argument("file", type=Path)
    flow.add_parser("schema", help="print the JSON Schema for flow files")
    versions = flow.add_parser("versions", help="deploy history of a flow")
    versions.add_argument("name")
    rollback = flow.add_parser("rollback", help="make an earlier version live again")
    rollback.add_argument("name")
    rollback.add_argument("--to", dest="version", default=None, help="version (default: the one before)")
    rollback.add_argument("--by", default=None, help="who is rolling back (default: user@host)")
    prompts = groups.add_parser("prompts", help="prompt audio").add_subparsers(dest="command", required=True)
    from ivr.tts.build import add_arguments as build_arguments

    build_arguments(prompts.add_parser("build", help="render the prompt catalogue with the TTS engines"), None)
    args = parser.parse_args(argv)
    settings = Settings.from_env()

    if args.group == "prompts":
        from ivr.tts.build import run as build_prompts

        args.catalog = args.catalog or settings.prompts_dir / "catalog.yaml"
        return build_prompts(args)

    if args.command == "lint":
        return lint_command(args.files, settings)
    if args.command == "schema":
        from ivr.schema import schema_json

        sys.stdout.write(schema_json())
        return 0
    if args.command == "graph":
        from ivr.graph import mermaid

        flow_obj = _load_or_report(args.file, settings)
        if flow_obj is None:
            return 1
        sys.stdout.write(mermaid(flow_obj))
        return 0
    if args.command == "test":
        from ivr.flow_tests import main as tests_main

        return tests_main(args.files, settings)
    if args.command == "simulate":
        from ivr.simulate import main as simulate_main

        return simulate_main(args.file, settings, args.language)
    if args.command == "versions":
        return asyncio.run(versions_command(args.name, settings))
    return asyncio.run(rollback_command(args.name, args.version, args.by, settings))


def _catalogue(settings: Settings):
    from ivr.prompts import PromptCatalog

    return PromptCatalog.load(settings.prompts_dir / "catalog.yaml")


def _load_or_report(path: Path, settings: Settings):
    from ivr.flow import load_flow
    from ivr.nodes import FlowError

    try:
        return load_flow(path, _catalogue(settings))
    except (FlowError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def lint_command(files: list[Path], settings: Settings) -> int:
    from ivr.lint import lint_files

    paths = files or sorted(settings.flows_dir.glob("*.yaml"))
    findings = lint_files(paths, _catalogue(settings), settings.flows_dir,
                          PROJECT_ROOT / "asterisk" / "conf" / "queues.conf")
    for finding in findings:
        print(finding, file=sys.stderr)
    errors = sum(f.severity == "error" for f in findings)
    print(f"{len(paths)} flow file(s) checked, {errors} error(s)")
    return 1 if errors else 0


async def _pool(settings: Settings):
    from common import db
    from common.postgres import embedded_database_url

    dsn = settings.database_url or await asyncio.to_thread(embedded_database_url, settings.run_dir / "pgdata")
    pool = await db.create_pool(dsn)
    await db.migrate(pool)
    return pool


async def versions_command(name: str, settings: Settings) -> int:
    from ivr import flow_store

    pool = await _pool(settings)
    try:
        rows = await flow_store.history(pool, name)
    finally:
        await pool.close()
    if not rows:
        print(f"no recorded versions of flow {name!r}", file=sys.stderr)
        return 1
    for r in rows:
        detail = f"  {r['detail'].splitlines()[0]}" if r["detail"] else ""
        print(f"{r['deployed_at']:%Y-%m-%d %H:%M:%S}  {r['action']:<8}  {r['version']}  {r['deployed_by']}{detail}")
    return 0


async def rollback_command(name: str, version: str | None, by: str | None, settings: Settings) -> int:
    """Write the stored text of an earlier version back to flows/NAME.yaml.

    The file stays the single source of what is live: the running service's
    watcher validates and loads it like any other change.
    """
    from ivr import flow_store
    from ivr.flow import parse_flow
    from ivr.nodes import FlowError

    pool = await _pool(settings)
    try:
        version = version or await flow_store.rollback_target(pool, name)
        if version is None:
            print(f"flow {name!r} has no earlier version to roll back to", file=sys.stderr)
            return 1
        text = await flow_store.content(pool, name, version)
        if text is None:
            print(f"flow {name!r} has no stored version {version!r} (see: ivr flow versions {name})", file=sys.stderr)
            return 1
        path = settings.flows_dir / f"{name}.yaml"
        try:
            flow = parse_flow(text, str(path), _catalogue(settings))
        except FlowError as exc:
            print(f"error: version {version} no longer validates: {exc}", file=sys.stderr)
            return 1
        tmp = path.with_suffix(".yaml.rollback")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # atomic: the watcher never sees half a file
        await flow_store.record_live(pool, flow, by=by or flow_store.default_actor(), action="rollback")
    finally:
        await pool.close()
    print(f"flow {name} rolled back to version {version}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
