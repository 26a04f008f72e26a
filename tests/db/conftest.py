"""Database fixtures: a fresh database for the session on a real PostgreSQL, migrated.

The server is DATABASE_URL's, or an embedded one in .run/test-pgdata (as in
tests/e2e/conftest.py); the database is created for this session and dropped
after it. Tests make their own campaigns, so they never see each other's rows.
"""
from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from common import db
from common.config import PROJECT_ROOT
from common.postgres import embedded_database_url


@pytest.fixture(scope="session")
def database_url() -> str:
    server = os.environ.get("DATABASE_URL") or embedded_database_url(PROJECT_ROOT / ".run" / "test-pgdata")

    async def migrate(url: str) -> None:
        pool = await db.create_pool(url)
        try:
            await db.migrate(pool)
        finally:
            await pool.close()

    url = asyncio.run(db.create_database(server, "bankcc_dialer_test"))
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        asyncio.run(db.drop_database(server, url))


@pytest.fixture
async def pool(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4, command_timeout=30)
    yield pool
    await pool.close()
