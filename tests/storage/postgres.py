"""Helpers for tests about several processes on one PostgreSQL database."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL, _truncate

SKIP_REASON = "PostgreSQL tests need LEUMUND_TEST_POSTGRES_URL (set by .ci/run)"


async def empty_postgres(request: pytest.FixtureRequest) -> str:
    """The session's PostgreSQL test database, emptied; skips the test without PostgreSQL."""
    if not POSTGRES_URL:
        pytest.skip(SKIP_REASON)
    url: str = request.getfixturevalue("shared_postgres")
    await _truncate(url)
    return url


def plain_url(url: str) -> str:
    """The URL as asyncpg takes it (without the SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def terminate_backends(url: str, application_name: str | None = None) -> int:
    """End every other session on the URL's database (or only those of an application)."""
    import asyncpg

    conn = await asyncpg.connect(plain_url(url))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid() "
            "AND ($2::text IS NULL OR application_name = $2::text)",
            make_url(url).database,
            application_name,
        )
    finally:
        await conn.close()
    return sum(1 for row in rows if row[0])
