"""Flow versions in PostgreSQL: what went live, when, by whom; and rollback targets."""
from __future__ import annotations

import getpass
import socket

import asyncpg

from ivr.flow import Flow


def default_actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


async def current_version(conn: asyncpg.Pool | asyncpg.Connection, flow_name: str) -> str | None:
    """The version most recently deployed or rolled back to."""
    return await conn.fetchval(
        "SELECT version FROM flow_deployments WHERE flow_name = $1 AND action <> 'rejected'"
        " ORDER BY id DESC LIMIT 1", flow_name)


async def record_live(pool: asyncpg.Pool, flow: Flow, *, by: str, action: str = "deploy") -> bool:
    """Store `flow` as live; True if this is a change from the last recorded live version."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO flow_versions (flow_name, version, content, source) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING", flow.name, flow.version, flow.text, flow.source)
        if action == "deploy" and await current_version(conn, flow.name) == flow.version:
            return False
        await conn.execute("INSERT INTO flow_deployments (flow_name, version, action, deployed_by)"
                           " VALUES ($1, $2, $3, $4)", flow.name, flow.version, action, by)
        return True


async def record_rejected(pool: asyncpg.Pool, flow_name: str, version: str, error: str, *, by: str) -> None:
    await pool.execute("INSERT INTO flow_deployments (flow_name, version, action, deployed_by, detail)"
                       " VALUES ($1, $2, 'rejected', $3, $4)", flow_name, version, by, error)


async def history(pool: asyncpg.Pool, flow_name: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, version, action, deployed_by, deployed_at, detail FROM flow_deployments"
        " WHERE flow_name = $1 ORDER BY id", flow_name)


async def content(pool: asyncpg.Pool, flow_name: str, version: str) -> str | None:
    return await pool.fetchval("SELECT content FROM flow_versions WHERE flow_name = $1 AND version = $2",
                               flow_name, version)


async def rollback_target(pool: asyncpg.Pool, flow_name: str) -> str | None:
    """The live version before the current one."""
    rows = await pool.fetch(
        "SELECT version FROM flow_deployments WHERE flow_name = $1 AND action <> 'rejected' ORDER BY id DESC",
        flow_name)
    versions = [r["version"] for r in rows]
    current = versions[0] if versions else None
    return next((v for v in versions if v != current), None)
