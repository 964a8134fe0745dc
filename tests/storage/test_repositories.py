"""Repositories: member upserts keep what is known when older or poorer data arrives."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.db import Database
from storage.repositories import Store

LIVE = datetime(2026, 11, 20, 10, tzinfo=UTC)
IMPORTED = datetime(2025, 3, 1, 8, tzinfo=UTC)


async def test_import_after_live_keeps_username_and_moves_first_seen_back(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.prepare()
        async with db.session() as session:
            await Store(session).members.ensure("telegram:7", "Bob", "bob", False, LIVE)
        async with db.session() as session:
            # An export of older history: no username, an earlier first sighting.
            await Store(session).members.ensure("telegram:7", "Bob B.", None, False, IMPORTED)
        async with db.session() as session:
            member = await Store(session).members.get("telegram:7")
            assert member is not None
            assert (member.name, member.username) == ("Bob B.", "bob")
            assert member.first_seen == IMPORTED
        async with db.session() as session:
            # A later live sighting does not make the member newer again.
            await Store(session).members.ensure("telegram:7", "Bob", "bobby", False, LIVE)
        async with db.session() as session:
            member = await Store(session).members.get("telegram:7")
            assert member is not None
            assert (member.name, member.username, member.first_seen) == ("Bob", "bobby", IMPORTED)
    finally:
        await db.dispose()
