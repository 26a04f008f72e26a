"""Command line: `bankcc run | provision-asterisk` (flow tools are `ivr flow …`)."""
from __future__ import annotations

import argparse
import asyncio
import sys

from common.config import Settings, SettingsError
from common.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bankcc", description="Star River Bank contact-centre backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the whole service in the foreground")
    sub.add_parser("provision-asterisk", help="install a real Asterisk if none is found")
    args = parser.parse_args(argv)

    setup_logging()
    try:
        if args.command == "run":
            from common.service import serve

            return asyncio.run(serve(Settings.from_env()))
        from common.asterisk_provision import main as provision_main

        return provision_main()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
