"""Command line: `bankcc run | provision-asterisk | check-flows FILE...`."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from common.config import Settings, SettingsError
from common.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bankcc", description="Star River Bank contact-centre backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the whole service in the foreground")
    sub.add_parser("provision-asterisk", help="install a real Asterisk if none is found")
    check = sub.add_parser("check-flows", help="validate flow files against the prompt catalogue")
    check.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)

    setup_logging()
    try:
        if args.command == "run":
            from common.service import serve

            return asyncio.run(serve(Settings.from_env()))
        if args.command == "provision-asterisk":
            from common.asterisk_provision import main as provision_main

            return provision_main()
        return check_flows(args.files, Settings.from_env())
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def check_flows(files: list[Path], settings: Settings) -> int:
    from ivr.flow import load_flow
    from ivr.nodes import FlowError
    from ivr.prompts import PromptCatalog

    catalogue = PromptCatalog.load(settings.prompts_dir / "catalog.yaml")
    failed = 0
    for path in files or sorted(settings.flows_dir.glob("*.yaml")):
        try:
            flow = load_flow(path, catalogue)
        except (FlowError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
        else:
            print(f"ok: {path}: flow {flow.name} version {flow.version}, {len(flow.nodes)} nodes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
