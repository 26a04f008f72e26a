"""`dialer …`: campaigns and call lists from the command line.

    dialer campaigns create --kind collection --name "March arrears" --caller-id 95588 \\
        --trunk PJSIP/cn-mobile --dial-mode progressive --queue collections --flow collection_outbound \\
        [--machine-policy hangup|message|flow --machine-target NAME] [--retry-rules JSON|@FILE] \\
        [--schedule JSON|@FILE] [--region CN]
    dialer campaigns list [--state running]
    dialer campaigns show ID
    dialer campaigns start|pause|resume|finish|archive ID
    dialer lists upload FILE --campaign ID [--column phone=Tel ...] [--errors-out FILE]
    dialer lists show UPLOAD_ID
    dialer lists errors UPLOAD_ID [-o FILE]
    dialer demo [--contacts 20] [--config dialer/simulator/simulator.yaml]
    dialer explain PHONE [--campaign ID] [--at 2026-03-03T20:59:00+08:00]
    dialer dnc add PHONE [--campaign ID] [--source manual|agent|refusal|opt_out_call] [--note TEXT]
    dialer dnc import FILE [--campaign ID]
    dialer dnc search PHONE
    dialer policy list | show NAME[@VERSION] | select CAMPAIGN_ID NAME[@VERSION] | audit [--limit N]
    dialer users add NAME --role ROLE | rotate-token NAME | disable NAME | enable NAME | list

The database is DATABASE_URL, else the embedded server in .run/pgdata (as the
service uses); migrations run first. --by names who acts (default user@host);
--json prints the raw record instead of the summary.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import asyncpg

from common.config import PROJECT_ROOT
from dialer import campaigns


def default_actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def _json_arg(value: str) -> Any:
    """JSON text, or @FILE holding it."""
    try:
        text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {value[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def _timestamp_arg(value: str):
    from datetime import datetime

    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("use an ISO time such as 2026-03-03T20:59:00+08:00") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time's offset too, e.g. 2026-03-03T20:59:00+08:00")
    return when


def _pack_arg(value: str) -> tuple[str, int | None]:
    name, _, version = value.partition("@")
    if version and not version.isdigit():
        raise ValueError(f"{value!r}: the version after @ must be a number")
    return name, int(version) if version else None


def _column_arg(value: str) -> tuple[str, str]:
    field, sep, header = value.partition("=")
    if not sep or not field.strip() or not header.strip():
        raise argparse.ArgumentTypeError("use FIELD=HEADER, e.g. phone=Tel")
    return field.strip(), header.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dialer", description="Outbound campaigns and call lists")
    groups = parser.add_subparsers(dest="group", required=True)

    camp = groups.add_parser("campaigns", help="create, list and run campaigns").add_subparsers(
        dest="command", required=True)
    create = camp.add_parser("create", help="create a campaign (it starts as a draft)")
    create.add_argument("--kind", required=True, choices=campaigns.KINDS)
    create.add_argument("--name", required=True)
    create.add_argument("--caller-id", required=True)
    create.add_argument("--trunk", required=True, help="dial prefix or trunk, e.g. PJSIP/cn-mobile")
    create.add_argument("--dial-mode", required=True, choices=campaigns.DIAL_MODES)
    create.add_argument("--queue", required=True, dest="agent_queue", help="agent queue answered calls go to")
    create.add_argument("--flow", required=True, help="outbound IVR flow")
    create.add_argument("--machine-policy", default="hangup", choices=campaigns.MACHINE_POLICIES)
    create.add_argument("--machine-target", default=None, help="prompt (message) or flow (flow) for machines")
    create.add_argument("--retry-rules", type=_json_arg, default=None, metavar="JSON|@FILE")
    create.add_argument("--schedule", type=_json_arg, default=None, metavar="JSON|@FILE")
    create.add_argument("--region", default="CN", help="default region for phone numbers (default CN)")
    listing = camp.add_parser("list", help="list campaigns, newest first")
    listing.add_argument("--state", choices=campaigns.STATES, default=None)
    listing.add_argument("--limit", type=int, default=100)
    show = camp.add_parser("show", help="one campaign with its contact counts and history")
    show.add_argument("id", type=int)
    for action in campaigns.ACTIONS:
        act = camp.add_parser(action, help=f"{action} a campaign")
        act.add_argument("id", type=int)

    lists = groups.add_parser("lists", help="upload call lists").add_subparsers(dest="command", required=True)
    upload = lists.add_parser("upload", help="load a CSV or XLSX file into a campaign")
    upload.add_argument("file", type=Path)
    upload.add_argument("--campaign", type=int, required=True)
    upload.add_argument("--column", type=_column_arg, action="append", default=[], metavar="FIELD=HEADER",
                        help="which header holds a field (phone, alt_phones, name, account_ref, due_amount, "
                             "due_date, time_zone); repeatable")
    upload.add_argument("--errors-out", type=Path, default=None, help="also write the error report here")
    upload.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    lshow = lists.add_parser("show", help="an upload's status and counts")
    lshow.add_argument("id", type=int)
    errors = lists.add_parser("errors", help="an upload's error report as CSV")
    errors.add_argument("id", type=int)
    errors.add_argument("-o", "--output", type=Path, default=None, help="file to write (default stdout)")

    from dialer import users_cli

    users_cli.add_parser(groups)

    demo = groups.add_parser("demo", help="run the service with a small campaign against the simulator "
                                           "(simulated customers and agents; Ctrl-C stops)")
    demo.add_argument("--contacts", type=int, default=20, help="simulated customers to call (default 20)")
    demo.add_argument("--config", type=Path, default=None, help="simulator parameters (default "
                                                                "dialer/simulator/simulator.yaml)")

    explain = groups.add_parser("explain", help="why a number was or was not called (compliance gate)")
    explain.add_argument("phone")
    explain.add_argument("--campaign", type=int, default=None)
    explain.add_argument("--at", type=_timestamp_arg, default=None, metavar="TIMESTAMP",
                         help="ISO time with its offset, e.g. 2026-03-03T20:59:00+08:00 (default now)")

    dnc = groups.add_parser("dnc", help="do-not-call lists").add_subparsers(dest="command", required=True)
    dnc_add = dnc.add_parser("add", help="put a number on the global list (or a campaign's)")
    dnc_add.add_argument("phone")
    dnc_add.add_argument("--campaign", type=int, default=None, help="the campaign's list instead of the global one")
    dnc_add.add_argument("--source", default="manual", choices=("manual", "agent", "refusal", "opt_out_call"))
    dnc_add.add_argument("--note", default="")
    dnc_import = dnc.add_parser("import", help="load a file of numbers (one a line, or CSV, number first)")
    dnc_import.add_argument("file", type=Path)
    dnc_import.add_argument("--campaign", type=int, default=None)
    dnc_import.add_argument("--region", default="CN", help="region of numbers written without +CC (default CN)")
    dnc_search = dnc.add_parser("search", help="a number's do-not-call entries")
    dnc_search.add_argument("phone")

    policy = groups.add_parser("policy", help="compliance policy packs").add_subparsers(dest="command",
                                                                                          required=True)
    policy_list = policy.add_parser("list", help="stored packs and versions")
    policy_show = policy.add_parser("show", help="a pack's YAML")
    policy_show.add_argument("pack", help="NAME or NAME@VERSION")
    policy_select = policy.add_parser("select", help="dial a campaign under a pack (NAME: its newest version)")
    policy_select.add_argument("campaign", type=int)
    policy_select.add_argument("pack", help="NAME or NAME@VERSION")
    policy_audit = policy.add_parser("audit", help="the compliance audit log, newest first")
    policy_audit.add_argument("--limit", type=int, default=50)

    acting = (create, upload, *(camp.choices[a] for a in campaigns.ACTIONS), dnc_add, dnc_import, policy_select)
    for sub in acting:
        sub.add_argument("--by", default=None, help="who is acting (default user@host)")
    for sub in (*acting, listing, show, lshow, explain, dnc_search, policy_list, policy_audit):
        sub.add_argument("--json", action="store_true", help="print the record as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.group == "demo":
        return _demo(args)
    from common.logs import setup_logging

    setup_logging(logging.WARNING)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "the embedded server"
        print(f"error: database ({where}): {exc}", file=sys.stderr)
        return 1


def _demo(args: argparse.Namespace) -> int:
    """The whole service (as `bankcc run`) plus dialer/demo.py's campaign against the simulator."""
    from common.cli import main as service_main

    os.environ["BANKCC_DIALER_DEMO"] = "1"
    os.environ["BANKCC_DIALER_DEMO_CONTACTS"] = str(max(1, args.contacts))
    if args.config is not None:
        os.environ["BANKCC_DIALER_DEMO_CONFIG"] = str(args.config.resolve())
    return service_main(["run"])


async def _pool():
    from common import db
    from common.postgres import embedded_database_url

    dsn = os.environ.get("DATABASE_URL") or await asyncio.to_thread(
        embedded_database_url, Path(os.environ.get("BANKCC_RUN_DIR", PROJECT_ROOT / ".run")) / "pgdata")
    pool = await db.create_pool(dsn)
    await db.migrate(pool)
    return pool


async def _run(args: argparse.Namespace) -> int:
    pool = await _pool()
    try:
        if args.group == "campaigns":
            return await _campaigns(pool, args)
        if args.group in ("explain", "dnc", "policy"):
            return await _compliance(pool, args)
        if args.group == "users":
            from dialer import users_cli

            return await users_cli.run(pool, args, getattr(args, "by", None) or default_actor())
        return await _lists(pool, args)
    except campaigns.CampaignNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()


def _out(args: argparse.Namespace, record: Any, text: str) -> None:
    print(json.dumps(record, ensure_ascii=False, indent=2) if getattr(args, "json", False) else text)


async def _campaigns(pool, args: argparse.Namespace) -> int:
    by = getattr(args, "by", None) or default_actor()
    if args.command == "create":
        payload = {"kind": args.kind, "name": args.name, "caller_id": args.caller_id, "trunk": args.trunk,
                   "dial_mode": args.dial_mode, "agent_queue": args.agent_queue, "flow": args.flow,
                   "machine_policy": args.machine_policy, "machine_target": args.machine_target,
                   "retry_rules": args.retry_rules, "schedule": args.schedule, "default_region": args.region}
        try:
            spec = campaigns.validate_campaign(payload)
        except campaigns.CampaignError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        campaign = await campaigns.create_campaign(pool, spec, by=by)
        _out(args, campaign, f"campaign {campaign['id']} created: {campaign['name']} ({campaign['kind']}, draft)")
        return 0
    if args.command == "list":
        rows = await campaigns.list_campaigns(pool, state=args.state, limit=args.limit)
        _out(args, rows, "\n".join(_campaign_line(c) for c in rows) if rows else "no campaigns")
        return 0
    if args.command == "show":
        campaign = await campaigns.get_campaign(pool, args.id)
        _out(args, campaign, _campaign_details(campaign))
        return 0
    try:
        campaign = await campaigns.apply_action(pool, args.id, args.command, by=by)
    except campaigns.IllegalTransition as exc:
        print(f"error: campaign {args.id}: {exc}", file=sys.stderr)
        return 1
    _out(args, campaign, f"campaign {campaign['id']} is now {campaign['state']}")
    return 0


async def _compliance(pool, args: argparse.Namespace) -> int:
    from dialer.compliance import explain, store
    from dialer.compliance.policy import PolicyError, shipped_packs
    from dialer.phones import PhoneError

    by = getattr(args, "by", None) or default_actor()
    try:
        await store.sync_packs(pool, shipped_packs(), by=f"cli:{by}")
    except PolicyError as exc:
        print(f"warning: {exc}", file=sys.stderr)
    try:
        if args.group == "explain":
            report = await explain.explain(pool, args.phone, campaign_id=args.campaign, at=args.at)
            _out(args, report, explain.render(report))
            return 0
        if args.group == "dnc":
            if args.command == "import":
                if not args.file.is_file():
                    print(f"error: no such file: {args.file}", file=sys.stderr)
                    return 2
                scope = "campaign" if args.campaign else "global"
                result = await store.import_dnc(pool, args.file, scope=scope, campaign_id=args.campaign, by=by,
                                                region=args.region)
                print(f"import {result.import_id}: {result.rows_read:,} rows, {result.rows_added:,} added, "
                      f"{result.rows_invalid:,} not valid numbers ({result.seconds:.1f} s, "
                      f"{result.rows_read / max(result.seconds, 1e-9):,.0f} rows/s)")
                return 0
            phone = store.e164(args.phone)
            if args.command == "add":
                scope = "campaign" if args.campaign else "global"
                added = await store.add_dnc(pool, phone, scope=scope, campaign_id=args.campaign, source=args.source,
                                            by=by, note=args.note)
                where = f"campaign {args.campaign}'s list" if args.campaign else "the global list"
                print(f"{phone} {'added to' if added else 'was already on'} {where}")
                return 0
            entries = await store.search_dnc(pool, phone)
            _out(args, entries, "\n".join(f"{e['scope']:<8} {e['campaign_id'] or '-':>6}  {e['source']:<12} "
                                          f"{e['added_at'][:19]}  by {e['added_by']}" for e in entries)
                 or f"{phone} is on no do-not-call list")
            return 0
        if args.command == "list":
            rows = await pool.fetch("SELECT name, version, title, sha256, loaded_by, loaded_at FROM policy_packs"
                                    " ORDER BY name, version")
            records = [{**dict(r), "loaded_at": r["loaded_at"].isoformat()} for r in rows]
            _out(args, records, "\n".join(f"{r['name']}@{r['version']:<4} {r['title']}  (loaded {r['loaded_at'][:19]}"
                                            f" by {r['loaded_by']})" for r in records))
            return 0
        if args.command == "show":
            name, version = _pack_arg(args.pack)
            book = await store.PolicyBook.load(pool)
            pack = book.get(name, version)
            if pack is None:
                print(f"error: no policy pack {args.pack}", file=sys.stderr)
                return 1
            print(pack.text, end="")
            return 0
        if args.command == "select":
            name, version = _pack_arg(args.pack)
            await campaigns.get_campaign(pool, args.campaign, details=False)
            await store.select_pack(pool, args.campaign, name, version, by=by)
            print(f"campaign {args.campaign} is dialled under {name}{'@' + str(version) if version else ' (newest)'}")
            return 0
        records = await store.audit(pool, limit=args.limit)
        _out(args, records, "\n".join(f"{r['at'][:19]}  {r['actor']:<24} {r['action']:<10} {r['object']}"
                                        f" {r['object_id'] or ''}" for r in records))
        return 0
    except PhoneError as exc:
        print(f"error: phone: {exc}", file=sys.stderr)
        return 2
    except (ValueError, store.NoPolicy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _campaign_line(c: dict[str, Any]) -> str:
    return (f"{c['id']:>6}  {c['state']:<9} {c['kind']:<13} {c['dial_mode']:<12} {c['name']}"
            f"  (queue {c['agent_queue']}, flow {c['flow']})")


def _campaign_details(c: dict[str, Any]) -> str:
    lines = [_campaign_line(c),
             f"  caller id {c['caller_id']}, trunk {c['trunk']}, region {c['default_region']}, "
             f"answering machines: {c['machine_policy']}" + (f" {c['machine_target']}" if c['machine_target'] else ""),
             f"  schedule {json.dumps(c['schedule'], ensure_ascii=False)}",
             f"  retry {json.dumps(c['retry_rules'])}",
             f"  contacts {c['contacts']['total']:,} {json.dumps(c['contacts']['by_status'])}",
             f"  next: {', '.join(c['allowed_actions']) or 'nothing'}"]
    lines += [f"  {e['at'][:19]}  {e['action']:<8} {e['from'] or '-':>8} -> {e['to']:<9} by {e['by']}"
              for e in c["events"]]
    return "\n".join(lines)


class ProgressBar:
    """rows/s progress on a terminal (redrawn in place), or a line every few seconds in logs."""

    def __init__(self, stream: TextIO, label: str, *, interval_s: float | None = None):
        self.stream, self.label = stream, label
        self.tty = stream.isatty()
        self.interval = interval_s if interval_s is not None else (0.2 if self.tty else 5.0)
        self.start = self.last = time.monotonic()
        self.drawn = False

    def update(self, p, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.interval:
            return
        self.last = now
        self.stream.write(("\r" if self.tty else "") + self.render(p, now - self.start)
                          + ("\033[K" if self.tty else "\n"))
        self.stream.flush()
        self.drawn = True

    def render(self, p, elapsed: float) -> str:
        rate = p.rows / elapsed if elapsed > 0 else 0.0
        if p.fraction is not None:
            filled = int(p.fraction * 24)
            bar = f"[{'#' * filled}{'.' * (24 - filled)}] {p.fraction * 100:3.0f}%"
        else:
            bar = "[rows]"
        return (f"{self.label} {bar} {p.rows:,} rows  {rate:,.0f} rows/s  accepted {p.accepted:,}"
                f"  rejected {p.rejected:,}  duplicates {p.duplicates:,}")

    def close(self) -> None:
        if self.drawn and self.tty:
            self.stream.write("\n")
            self.stream.flush()


async def _lists(pool, args: argparse.Namespace) -> int:
    from dialer.lists import loader
    from dialer.lists.columns import validate_overrides

    if args.command == "show":
        upload = await loader.get_upload(pool, args.id)
        if upload is None:
            print(f"error: no upload {args.id}", file=sys.stderr)
            return 1
        _out(args, upload, _upload_summary(upload))
        return 0
    if args.command == "errors":
        if await loader.get_upload(pool, args.id) is None:
            print(f"error: no upload {args.id}", file=sys.stderr)
            return 1
        await _write_report(pool, args.id, args.output)
        return 0

    if not args.file.is_file():
        print(f"error: no such file: {args.file}", file=sys.stderr)
        return 2
    overrides: dict[str, list[str]] = {}
    for field, header in args.column:
        overrides.setdefault(field, []).append(header)
    try:
        columns = validate_overrides(overrides)
    except ValueError as exc:
        print(f"error: --column: {exc}", file=sys.stderr)
        return 2
    bar = None if args.no_progress else ProgressBar(sys.stderr, args.file.name)
    last = None

    def progress(p) -> None:
        nonlocal last
        last = p
        if bar is not None:
            bar.update(p)

    try:
        result = await loader.upload_list(pool, args.campaign, args.file, filename=args.file.name,
                                          by=args.by or default_actor(), columns=columns, progress=progress)
    except loader.UploadRefused as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            if last is not None:
                bar.update(last, final=True)
            bar.close()
    upload = result.upload
    note = ""
    if result.in_progress:
        note = " (this file is being loaded by another upload right now)"
    elif result.repeat:
        note = " (this file was uploaded to this campaign before: its earlier result)"
    _out(args, {**upload, "repeat": result.repeat}, _upload_summary(upload) + note)
    if args.errors_out is not None and upload["rows"]["rejected"]:
        await _write_report(pool, upload["id"], args.errors_out)
        print(f"error report written to {args.errors_out}", file=sys.stderr)
    elif upload["rows"]["rejected"] and not args.json:
        print(f"rejected rows: dialer lists errors {upload['id']} -o errors.csv", file=sys.stderr)
    return 1 if upload["status"] == "failed" else 0


def _upload_summary(u: dict[str, Any]) -> str:
    r = u["rows"]
    text = (f"upload {u['id']} ({u['filename']}, {u['format']}{', ' + u['encoding'] if u['encoding'] else ''}) "
            f"to campaign {u['campaign_id']}: {u['status']}; {r['total']:,} rows, {r['accepted']:,} accepted, "
            f"{r['rejected']:,} rejected, {r['duplicate_in_file']:,} repeated in the file, "
            f"{r['duplicate_in_campaign']:,} already in the campaign")
    if u["error"]:
        text += f"\nerror ({u['error']['code']}): {u['error']['message']}"
    return text


async def _write_report(pool, upload_id: int, output: Path | None) -> None:
    from dialer.lists import loader

    stream = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        async for chunk in loader.error_report(pool, upload_id):
            stream.write(chunk)
    finally:
        if output:
            stream.close()
        else:
            stream.flush()


if __name__ == "__main__":
    sys.exit(main())
