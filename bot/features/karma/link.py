"""Linked accounts: one person's Discord and Telegram accounts share karma (``/link``).

``/link`` shows a one-time code of 6 characters (sent privately where the platform allows;
it expires after 10 minutes and never works twice); ``/link CODE`` entered by an account
on another platform gives both ``members`` rows the same ``person``. From then on totals,
``/karma``, the caps and the self rule use every account of the person. ``/unlink``
clears ``person`` on all of the caller's accounts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import col

from bot.actions import Action, DirectMessage, Reply
from bot.events import CommandIssued
from bot.features.base import Context, Decision, Outcome
from bot.text import defuse_mentions
from storage import models
from storage.repositories import Query, Store

FEATURE = "karma"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by hand
CODE_LENGTH = 6
CODE_TTL = timedelta(minutes=10)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Profile:
    """What the karma rules need to know about a member, with all their linked accounts."""

    key: str
    name: str
    is_bot: bool = False
    person: str | None = None
    first_seen: datetime | None = None
    opted_out: bool = False
    accounts: tuple[str, ...] = ()

    @property
    def identity(self) -> str:
        """One key for the person: their ``person`` value, else the account key."""
        return self.person or self.key

    @property
    def all_keys(self) -> tuple[str, ...]:
        """Every account of the person (at least the key itself)."""
        return self.accounts or (self.key,)


def platform_of(key: str) -> str:
    """The platform part of a member or chat key."""
    return key.partition(":")[0]


# Built once: profiles are read for every thanks and reaction.
_M = models.Member
_MEMBERS = Query(
    select(
        col(_M.key),
        col(_M.name),
        col(_M.is_bot),
        col(_M.person),
        col(_M.first_seen),
        col(_M.opted_out),
    ).where(col(_M.key).in_(bindparam("keys", expanding=True)))
)
_ACCOUNTS = Query(
    select(col(_M.key), col(_M.person)).where(
        col(_M.person).in_(bindparam("persons", expanding=True))
    )
)


async def profiles(store: Store, keys: Iterable[str]) -> dict[str, Profile]:
    """Profiles of members by key (unknown keys get a plain profile); at most two queries."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    rows = await _MEMBERS.all(store.session, {"keys": wanted})
    persons = {person for _key, _name, _bot, person, _first, _out in rows if person}
    linked: dict[str, list[str]] = {}
    if persons:
        for key, person in await _ACCOUNTS.all(store.session, {"persons": sorted(persons)}):
            linked.setdefault(str(person), []).append(key)
    found = {
        key: Profile(
            key=key,
            # Names are shown in chat: a member called "@everyone" must ping nobody.
            name=defuse_mentions(name),
            is_bot=bool(is_bot),
            person=person,
            first_seen=first_seen,
            opted_out=bool(opted_out),
            accounts=tuple(sorted(linked.get(person, [key]))) if person else (key,),
        )
        for key, name, is_bot, person, first_seen, opted_out in rows
    }
    return {key: found.get(key) or Profile(key=key, name=key, accounts=(key,)) for key in wanted}


async def accounts_of(store: Store, member_key: str) -> list[str]:
    """Every account key of the person behind ``member_key`` (the key itself if unlinked)."""
    return list((await profiles(store, [member_key]))[member_key].all_keys)


async def person_map(store: Store) -> dict[str, str]:
    """Linked account key -> person, for merging totals (unlinked accounts are left out)."""
    stmt = select(col(models.Member.key), col(models.Member.person)).where(
        col(models.Member.person).is_not(None)
    )
    return {key: str(person) for key, person in (await store.session.execute(stmt)).all()}


def _reply(event: CommandIssued, text: str) -> Reply:
    return Reply(chat=event.chat, text=text, reply_to=event.message_id)


async def _new_code(ctx: Context[Any]) -> str:
    community = ctx.community.name
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if await ctx.store.state.get(FEATURE, community, f"link:{code}") is None:
            return code


async def link(event: CommandIssued, ctx: Context[Any]) -> Outcome:
    """``/link``: show a code; ``/link CODE``: join this account with the code's creator."""
    if not event.args:
        return await _offer(event, ctx)
    return await _redeem(event, ctx, event.args[0].strip().upper())


async def _offer(event: CommandIssued, ctx: Context[Any]) -> Outcome:
    code = await _new_code(ctx)
    member = event.author.key
    await ctx.store.state.set(
        FEATURE,
        ctx.community.name,
        f"link:{code}",
        {
            "member": member,
            "platform": platform_of(member),
            "expires": (ctx.now + CODE_TTL).isoformat(),
            "used": False,
        },
        ctx.now,
    )
    text = ctx.locale.t("karma.link_code", code=code)
    actions: list[Action]
    if event.private:
        actions = [_reply(event, text)]
    else:
        # Whoever sees the code could link their own account to this one: send it privately.
        actions = [
            DirectMessage(chat=event.chat, member=member, text=text),
            _reply(event, ctx.locale.t("karma.link_sent_private")),
        ]
    decision = Decision("karma_link_offered", event.message_id, {"member": member})
    return Outcome(actions=actions, decisions=[decision])


async def _too_many_failures(ctx: Context[Any], member: str, failed: bool) -> bool:
    key = f"link_failures:{member}"
    record = await ctx.store.state.get(FEATURE, ctx.community.name, key) or {}
    since = datetime.fromisoformat(record["since"]) if record.get("since") else None
    count = int(record.get("count", 0))
    if since is None or ctx.now - since > FAILURE_WINDOW:
        since, count = ctx.now, 0
    if failed:
        count += 1
        await ctx.store.state.set(
            FEATURE,
            ctx.community.name,
            key,
            {"since": since.isoformat(), "count": count},
            ctx.now,
        )
    return count >= MAX_FAILURES


async def _redeem(event: CommandIssued, ctx: Context[Any], code: str) -> Outcome:
    member = event.author.key
    community = ctx.community.name

    def refuse(text_key: str, reason: str, **values: object) -> Outcome:
        return Outcome(
            actions=[_reply(event, ctx.locale.t(text_key, **values))],
            decisions=[
                Decision(
                    "karma_link_refused", event.message_id, {"member": member, "reason": reason}
                )
            ],
        )

    if await _too_many_failures(ctx, member, failed=False):
        return refuse("karma.link_too_many", "too_many_failures")
    state_key = f"link:{code}"
    offer = await ctx.store.state.get(FEATURE, community, state_key)
    valid = (
        isinstance(offer, dict)
        and not offer.get("used")
        and ctx.now < datetime.fromisoformat(str(offer.get("expires")))
    )
    if not valid or not isinstance(offer, dict):
        await _too_many_failures(ctx, member, failed=True)
        return refuse("karma.link_bad_code", "bad_code")
    creator = str(offer["member"])
    if platform_of(creator) == platform_of(member):
        return refuse("karma.link_same_platform", "same_platform", platform=platform_of(member))
    await ctx.store.state.set(FEATURE, community, state_key, {**offer, "used": True}, ctx.now)
    found = await profiles(ctx.store, [creator, member])
    person = found[creator].person or found[member].person or f"person:{creator}"
    for other in (found[creator].person, found[member].person):
        if other and other != person:  # merge an earlier link of the other side
            await ctx.store.session.execute(
                update(models.Member)
                .where(col(models.Member.person) == other)
                .values(person=person)
            )
    await ctx.store.session.execute(
        update(models.Member)
        .where(col(models.Member.key).in_([creator, member]))
        .values(person=person)
    )
    accounts = await accounts_of(ctx.store, member)
    return Outcome(
        actions=[_reply(event, ctx.locale.t("karma.link_done", accounts=", ".join(accounts)))],
        decisions=[
            Decision(
                "karma_linked",
                event.message_id,
                {"member": member, "with": creator, "person": person, "accounts": accounts},
            )
        ],
    )


async def unlink(event: CommandIssued, ctx: Context[Any]) -> Outcome:
    """``/unlink``: the caller's accounts stop sharing karma."""
    member = event.author.key
    profile = (await profiles(ctx.store, [member]))[member]
    if profile.person is None:
        return Outcome(actions=[_reply(event, ctx.locale.t("karma.unlink_nothing"))])
    await ctx.store.session.execute(
        update(models.Member).where(col(models.Member.person) == profile.person).values(person=None)
    )
    accounts = list(profile.all_keys)
    return Outcome(
        actions=[_reply(event, ctx.locale.t("karma.unlink_done", accounts=", ".join(accounts)))],
        decisions=[
            Decision("karma_unlinked", event.message_id, {"member": member, "accounts": accounts})
        ],
    )
