"""Repositories: member upserts keep what is known when older or poorer data arrives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from storage import models
from storage.db import Database
from storage.repositories import AMBIGUOUS, Ambiguous, Store

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


async def test_case_evidence_is_read_and_written_consistently_with_the_orm(db_url: str) -> None:
    """The raw read sees ORM changes made earlier in the transaction, and an ORM copy
    loaded before a raw write shows the write."""
    db = Database(db_url)
    try:
        await db.prepare()
        async with db.session() as session:
            cases = Store(session).cases
            opened = await cases.open(
                models.Case(
                    community="demo",
                    kind="promo",
                    subject="chat:ads",
                    evidence={"messages": [{"chat": "c", "message_id": "1"}]},
                    score=0.6,
                    opened_at=LIVE,
                )
            )
            found = await cases.open_evidence("demo", "promo", "chat:ads")
            assert found is not None and found.id == opened.id
            assert found.evidence == {"messages": [{"chat": "c", "message_id": "1"}]}
            loaded = await cases.get("demo", found.id)
            assert loaded is opened  # the ORM's copy of this transaction
            new = {"messages": [{"chat": "c", "message_id": "2"}], "signals": ["link"]}
            await cases.add_evidence(
                found, evidence=new, score=0.9, summary="0.90: link", note="c#2", at=LIVE
            )
            again = await cases.get("demo", found.id)
            assert again is not None
            assert (again.evidence, again.score, again.summary) == (new, 0.9, "0.90: link")
            # A moderator closes it through the ORM; the change is not flushed yet.
            again.status = "dismissed"
            assert await cases.open_evidence("demo", "promo", "chat:ads") is None
        async with db.session() as session:
            history = (
                (
                    await session.execute(
                        select(models.CaseEvent.action).order_by(models.CaseEvent.id)  # type: ignore[arg-type]
                    )
                )
                .scalars()
                .all()
            )
            assert history == ["opened", "evidence"]
    finally:
        await db.dispose()


async def test_an_opened_case_is_in_the_session_and_later_changes_are_written(
    db_url: str,
) -> None:
    db = Database(db_url)
    try:
        await db.prepare()
        async with db.session() as session:
            cases = Store(session).cases
            case = await cases.open(
                models.Case(community="demo", kind="complaint", subject="chat:c", opened_at=LIVE),
                actor="chat:mod",
            )
            assert case.id is not None and case in session
            case.evidence = {"severity": "high"}  # as the complaints feature does later
            case.due_at = LIVE
        async with db.session() as session:
            stored = await Store(session).cases.get("demo", case.id)
            assert stored is not None
            assert (stored.status, stored.evidence, stored.due_at) == (
                "open",
                {"severity": "high"},
                LIVE,
            )
            history = (
                await session.execute(select(models.CaseEvent.actor, models.CaseEvent.action))  # type: ignore[call-overload]
            ).all()
            assert [tuple(row) for row in history] == [("chat:mod", "opened")]
    finally:
        await db.dispose()


@pytest.mark.parametrize("impostor_first", [True, False])
async def test_a_name_means_its_username_else_the_only_display_name(
    db_url: str, impostor_first: bool
) -> None:
    db = Database(db_url)
    try:
        await db.prepare()
        real = ("telegram:1", "Alice Real", "alice")
        impostor = ("telegram:2", "alice", "mallory")  # copied alice's name
        async with db.session() as session:
            members = Store(session).members
            for key, name, username in (impostor, real) if impostor_first else (real, impostor):
                await members.ensure(key, name, username, False, LIVE)
            await members.ensure("telegram:3", "Anna", None, False, LIVE)
            await members.ensure("telegram:4", "anna", None, False, LIVE)
            await members.ensure("telegram:5", "Bob B.", None, False, LIVE)
            await members.ensure("discord:6", "Alice Real", "Real", False, LIVE)

        async def found(name: str, platform: str = "telegram") -> str | Ambiguous | None:
            async with db.session() as session:
                member = await Store(session).members.by_name(platform, name)
                return member.key if isinstance(member, models.Member) else member

        assert await found("ALICE") == "telegram:1"
        assert await found("mallory") == "telegram:2"
        assert await found("bob b.") == "telegram:5"
        assert await found("Alice Real") == "telegram:1"  # not the discord account
        assert await found("Anna") is AMBIGUOUS
        assert await found("nobody") is None
        async with db.session() as session:
            # A username wins over display names, even several.
            await Store(session).members.ensure("telegram:7", "Anna K.", "anna", False, LIVE)
        assert await found("anna") == "telegram:7"
        async with db.session() as session:
            # An old account still holding a username is not guessed between either.
            await Store(session).members.ensure("telegram:8", "Al", "alice", False, LIVE)
        assert await found("alice") is AMBIGUOUS
    finally:
        await db.dispose()
