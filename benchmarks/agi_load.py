"""Benchmark: the FastAGI server under load, against a bare asyncio FastAGI echo server in the same run.

    .venv/bin/python benchmarks/agi_load.py [--sessions 2000] [--seconds 60] [--ramp 20] [--db embedded|none]

A load generator speaks AGI the way Asterisk does (so Asterisk's own capacity is not
what is measured): it opens one TCP connection per call, sends the AGI environment,
and answers each command: STREAM FILE after holding the "prompt" 1-3 s, WAIT FOR DIGIT
with the next key of the caller's script (a person pressing keys 0.2-0.6 s apart) or,
when the script is done, after the command's own timeout; everything else at once.
`--sessions` callers run at once; each calls again as soon as its call ends, for
`--seconds` after the ramp-up.

Servers, each its own process so that its CPU time can be read from /proc:
  ivr   the real IVR (ivr.service.IvrService) running flows/hotline.yaml: a caller who
        picks Mandarin, asks for the bill, keys a card number and ID digits (an `http`
        node against the bank back-end stub, examples/bank_backend.py, in a third
        process), hears the amounts (`say`), and lets the last menu time out.
        Every call and step is written to PostgreSQL (--db embedded) or kept in memory.
  echo  baseline: a bare asyncio server that reads the environment, then sends the same
        number of commands the IVR sent per call (ANSWER, STREAM FILE ..., HANGUP) and
        reads each answer; no flow, no database.

Printed per server: calls completed, peak concurrent sessions, AGI commands per server
CPU-second, server-added latency (generator's answer sent -> next command received)
p50/p99, server RSS; then the IVR's figures as ratios of the baseline's. Targets
(issue #9): >= 2,000 concurrent sessions, >= 10,000 commands per CPU-second, p99 <= 5 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CARD, ID_LAST4 = "6258070000088087", "8808"  # demo customer C1004 (examples/bank_backend.py)
SCRIPT = ["1", "3", *CARD, "#", *ID_LAST4]   # Mandarin, bill, card number, ID digits; then nothing


# --- the load generator (Asterisk's side) --------------------------------------------------------

class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.commands = 0
        self.calls = 0
        self.failed = 0
        self.active = 0
        self.peak = 0
        self.commands_per_call: list[int] = []
        self.peak_in_window = 0


async def one_call(host: str, port: int, script: str, stats: Stats, rng: random.Random, window,
                   hold_scale: float = 1.0) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=65536)
    stats.active += 1
    stats.peak = max(stats.peak, stats.active)
    keys = list(SCRIPT)
    commands = 0
    try:
        env = {"agi_network": "yes", "agi_network_script": script, "agi_request": f"agi://{host}:{port}/{script}",
               "agi_channel": f"PJSIP/load-{id(writer):x}", "agi_language": "en", "agi_type": "PJSIP",
               "agi_uniqueid": f"{time.time():.6f}", "agi_version": "22.0.0", "agi_callerid": "13800000001",
               "agi_calleridname": "load", "agi_dnid": "4000", "agi_context": "inbound", "agi_extension": "4000",
               "agi_priority": "2", "agi_enhanced": "0.0", "agi_accountcode": "", "agi_threadid": "1",
               "agi_arg_1": "zh-CN"}
        writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
        await writer.drain()
        sent_at = time.perf_counter()
        while True:
            line = await reader.readline()
            if not line:
                break
            got_at = time.perf_counter()
            commands += 1
            if window[0] <= time.monotonic() < window[1]:  # only what happens inside the measured window
                stats.latencies.append(got_at - sent_at)
                stats.commands += 1
            command = line.decode(errors="replace").strip()
            verb = command.split(" ", 2)
            if command.startswith("STREAM FILE"):
                await asyncio.sleep(rng.uniform(1.0, 3.0) * hold_scale)
                answer = "200 result=0 endpos=8000"
            elif command.startswith("WAIT FOR DIGIT"):
                if keys:
                    await asyncio.sleep(rng.uniform(0.2, 0.6) * hold_scale)
                    answer = f"200 result={ord(keys.pop(0))}"
                else:
                    timeout_ms = int(verb[-1]) if verb[-1].lstrip("-").isdigit() else 1000
                    await asyncio.sleep(max(0, timeout_ms) / 1000 * hold_scale)
                    answer = "200 result=0"
            elif command.startswith("HANGUP"):
                writer.write(b"200 result=1\n")
                await writer.drain()
                break
            elif command.startswith("GET VARIABLE"):
                answer = "200 result=0"
            else:
                answer = "200 result=1"
            writer.write(answer.encode() + b"\n")
            await writer.drain()
            sent_at = time.perf_counter()
        if window[0] <= time.monotonic() < window[1]:
            stats.calls += 1
        stats.commands_per_call.append(commands)
    except (ConnectionError, OSError):
        stats.failed += 1
    finally:
        stats.active -= 1
        writer.close()


async def caller(host, port, script, stats, rng, start_delay, window):
    await asyncio.sleep(start_delay)
    while True:
        await one_call(host, port, script, stats, rng, window)


async def generate(host: str, port: int, script: str, sessions: int, ramp_s: float, seconds: float,
                   on_window=lambda edge: None, seed: int = 7) -> Stats:
    """`sessions` callers for ramp + seconds; `on_window("start"/"end")` marks the measured window."""
    stats = Stats()
    start = time.monotonic()
    window = (start + ramp_s, start + ramp_s + seconds)
    rng = random.Random(seed)
    tasks = [asyncio.create_task(caller(host, port, script, stats, random.Random(rng.random()),
                                        ramp_s * i / sessions, window)) for i in range(sessions)]
    await asyncio.sleep(ramp_s)
    on_window("start")
    await asyncio.sleep(seconds)
    on_window("end")
    stats.peak_in_window = stats.active
    for task in tasks:  # every caller hangs up
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return stats


# --- the servers under test -----------------------------------------------------------------------

async def serve_echo(port: int, commands: int) -> None:
    """Baseline: read the environment, send `commands` commands, read each answer."""
    script = ["ANSWER"] + ['STREAM FILE "x" ""'] * max(0, commands - 2) + ["HANGUP"]

    async def handle(reader, writer):
        try:
            while (await reader.readline()).strip():
                pass
            for command in script:
                writer.write(command.encode() + b"\n")
                await writer.drain()
                if not await reader.readline():
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


async def serve_ivr(port: int, bank_url: str, db: str) -> None:
    import logging

    from common import db as database
    from common.config import Settings
    from ivr.backend import BackendClient, BackendConfig
    from ivr.call import Services
    from ivr.call_log import MemoryCallLog, PgCallLog
    from ivr.service import IvrService, default_flow_registry

    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    flows = default_flow_registry(settings.flows_dir, settings.prompts_dir)
    backend = BackendClient(BackendConfig.load(settings.backends_file, env={**os.environ, "BANK_API_URL": bank_url}))
    pool = None
    if db == "embedded":
        from common.postgres import embedded_database_url

        server_url = embedded_database_url(ROOT / ".run" / "bench-pgdata")
        url = await database.create_database(server_url, "bankcc_bench")
        pool = await database.create_pool(url)
        await database.migrate(pool)
        call_log = PgCallLog(pool)
    else:
        call_log = MemoryCallLog()
    ivr = IvrService(flows, call_log, str(settings.prompts_dir), Services(http=backend), pool=None)
    await ivr.start("127.0.0.1", port, watch_interval_s=3600)
    print("ready", flush=True)
    await asyncio.Event().wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(*args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True, text=True)
    return process


def wait_ready(process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == "ready":
            return
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read()}")
    raise RuntimeError("server not ready")


def commands_per_call(port: int, script: str) -> int:
    """One call with no waiting: how many AGI commands the flow sends per call."""
    stats = Stats()
    asyncio.run(one_call("127.0.0.1", port, script, stats, random.Random(1), (0, float("inf")), hold_scale=0))
    if not stats.commands_per_call:
        raise RuntimeError("the calibration call failed")
    return stats.commands_per_call[0]


def measure(name: str, process: subprocess.Popen, port: int, script: str, args) -> dict:
    marks: dict[str, float] = {}

    def on_window(edge: str) -> None:
        marks[edge] = cpu_seconds(process.pid)
        marks[edge + "_rss"] = rss_mb(process.pid)

    started = time.monotonic()
    stats = asyncio.run(generate("127.0.0.1", port, script, args.sessions, args.ramp, args.seconds, on_window))
    wall = time.monotonic() - started
    cpu = marks["end"] - marks["start"]
    lat = sorted(stats.latencies)
    pick = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    return {"server": name, "calls": stats.calls, "failed": stats.failed, "peak_sessions": stats.peak,
            "sessions_at_end": stats.peak_in_window, "rss_start_mb": marks["start_rss"],
            "commands": stats.commands, "cpu_s": cpu, "wall_s": wall,
            "commands_per_cpu_s": stats.commands / cpu if cpu else float("inf"),
            "p50_ms": pick(0.5), "p99_ms": pick(0.99), "rss_mb": marks["end_rss"],
            "commands_per_call": statistics.median(stats.commands_per_call) if stats.commands_per_call else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode")
    echo = sub.add_parser("serve-echo")
    echo.add_argument("--port", type=int, required=True)
    echo.add_argument("--commands", type=int, required=True)
    ivr = sub.add_parser("serve-ivr")
    ivr.add_argument("--port", type=int, required=True)
    ivr.add_argument("--bank", required=True)
    ivr.add_argument("--db", default="embedded")
    bank = sub.add_parser("serve-bank")
    bank.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--ramp", type=float, default=20)
    parser.add_argument("--db", choices=("embedded", "none"), default="embedded")
    args = parser.parse_args()
    if args.mode == "serve-echo":
        print("ready", flush=True)
        asyncio.run(serve_echo(args.port, args.commands))
        return
    if args.mode == "serve-ivr":
        asyncio.run(serve_ivr(args.port, args.bank, args.db))
        return
    if args.mode == "serve-bank":
        from aiohttp import web

        from examples.bank_backend import create_app

        print("ready", flush=True)
        web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)
        return

    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    bank_port, ivr_port, echo_port = free_port(), free_port(), free_port()
    bank = spawn("serve-bank", "--port", str(bank_port))
    ivr_server = spawn("serve-ivr", "--port", str(ivr_port), "--bank", f"http://127.0.0.1:{bank_port}",
                       "--db", args.db)
    echo_server = None
    try:
        wait_ready(bank)
        wait_ready(ivr_server)
        print(f"{args.sessions} concurrent callers, {args.ramp:g} s ramp-up, {args.seconds:g} s measured; "
              f"database: {args.db}", flush=True)
        per_call = commands_per_call(ivr_port, "hotline")
        print(f"the hotline flow sends {per_call} AGI commands per call on this caller's path", flush=True)
        ours = measure("ivr (hotline flow)", ivr_server, ivr_port, "hotline", args)
        echo_server = spawn("serve-echo", "--port", str(echo_port), "--commands", str(per_call))
        wait_ready(echo_server)
        base = measure("echo (baseline)", echo_server, echo_port, "echo", args)
    finally:
        for process in (bank, ivr_server, echo_server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
    print()
    print(f"{'server':<22}{'calls done':>11}{'failed':>8}{'sessions':>10}{'commands':>10}{'cmds/CPU-s':>12}"
          f"{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>9}{'KB/session':>11}")
    for r in (ours, base):
        per_session = (r["rss_mb"] - r["rss_start_mb"]) * 1024 / max(1, r["sessions_at_end"])
        print(f"{r['server']:<22}{r['calls']:>11}{r['failed']:>8}{r['sessions_at_end']:>10}{r['commands']:>10}"
              f"{r['commands_per_cpu_s']:>12.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['rss_mb']:>9.0f}"
              f"{per_session:>11.1f}")
    print()
    print(f"ratios ivr/baseline: commands per CPU-second {ours['commands_per_cpu_s'] / base['commands_per_cpu_s']:.2f}, "
          f"p99 latency {ours['p99_ms'] / base['p99_ms']:.2f}x")
    print(f"targets: >= 2000 concurrent ({'met' if ours['sessions_at_end'] >= 2000 else 'NOT met'}: "
          f"{ours['sessions_at_end']}), >= 10000 commands/CPU-s ({ours['commands_per_cpu_s']:.0f}), "
          f"p99 <= 5 ms ({ours['p99_ms']:.2f} ms)")
    print(json.dumps({"ivr": ours, "baseline": base}), file=sys.stderr)


if __name__ == "__main__":
    main()
