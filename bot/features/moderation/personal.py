"""A member's personal data: collected for ``/mydata``, erased for ``/forgetme``.

Erasure works in two passes. First the member's own things go: their messages (rows and
texts), flags, complaints, feature state keyed by them, training samples made from their
texts; their ``members`` row becomes ``forgotten:<random hex>`` named "deleted member".
Then every other table is swept for what is left: a member key anywhere becomes the
anonymous key (so the karma ledger keeps others' totals right while the member's own
total leaves every board), and in free text (message texts of others, the bot's logged
replies, case summaries, mod-log details) their name, username and platform id become
"deleted member". Event keys that carry their platform user id (reactions, joins) get the
anonymous id instead; event keys otherwise hold only chat and message ids, which stay so
that a redelivered message is still recognised.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    String,
    Table,
    TypeDecorator,
    cast,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from storage import models

DELETED_NAME = "deleted member"
ANONYMOUS = "forgotten"
# Longer string columns hold free text (summaries, notes, details); shorter ones hold keys
# and ids, where a name must not be replaced (another member may be called the same).
FREE_TEXT_LENGTH = 512
EVENT_KEY_COLUMNS = frozenset(
    {
        ("processed_events", "key"),
        ("decisions", "event_key"),
        ("karma_ledger", "event_key"),
        ("outbox", "event_key"),
    }
)
# Handled on their own before the sweep.
OWN_TABLES = frozenset({"members"})
MIN_WORD = 3
PLATFORMS = ("console", "telegram", "discord")


@dataclass(frozen=True, slots=True)
class Identity:
    """One account being forgotten: its key, its anonymous key and the words that name it."""

    key: str
    anonymous: str
    words: tuple[str, ...]

    @property
    def platform_id(self) -> str:
        """The platform's id of the account (the part after "platform:")."""
        return self.key.partition(":")[2]

    @property
    def anonymous_id(self) -> str:
        """The anonymous key's id part, used inside event keys."""
        return self.anonymous.replace(":", "-")


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Scrubber:
    """Replaces member keys, names and ids of the forgotten accounts in text and JSON."""

    def __init__(self, identities: Sequence[Identity]) -> None:
        self.identities = identities
        # A key right after "<platform>:" is the tail of another member's key (the console
        # member "console:x" is "console:console:x"), not this member.
        longer = "".join(f"(?<!{p}:)" for p in PLATFORMS)
        self._keys = [
            (re.compile(rf"(?<![\w-]){longer}{re.escape(i.key)}(?![\w-])"), i.anonymous)
            for i in identities
        ]
        words = sorted({w for i in identities for w in i.words}, key=len, reverse=True)
        self._words = (
            re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)", re.I)
            if words
            else None
        )
        self._events = [
            (re.compile(rf"(?<=:)(reaction|join):{re.escape(i.platform_id)}(?=:|$)"), i)
            for i in identities
        ]

    def text(self, value: str, *, free: bool) -> str:
        """Keys become anonymous keys; in free text, names become "deleted member"."""
        for pattern, anonymous in self._keys:
            value = pattern.sub(anonymous, value)
        if free and self._words is not None:
            value = self._words.sub(DELETED_NAME, value)
        return value

    def event_key(self, value: str) -> str:
        """A platform user id inside an event key becomes the anonymous id."""
        for pattern, identity in self._events:
            value = pattern.sub(rf"\1:{identity.anonymous_id}", value)
        return value

    def json(self, value: Any) -> Any:
        """The same for every string inside a JSON value."""
        if isinstance(value, str):
            return self.text(value, free=True)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k), free=True): self.json(v) for k, v in value.items()}
        return value

    def mentions(self, value: str) -> bool:
        """Whether a text still names one of the accounts by key."""
        return any(pattern.search(value) for pattern, _ in self._keys)

    def patterns(self, *, free: bool, event_key: bool, is_json: bool) -> list[str]:
        """LIKE patterns that find candidate rows for a column (refined in Python)."""
        found = [_like(i.key) for i in self.identities]
        if event_key:
            for i in self.identities:
                found += [_like(f":reaction:{i.platform_id}"), _like(f":join:{i.platform_id}")]
        if free:
            words = {w for i in self.identities for w in i.words}
            if is_json:  # JSON text may hold non-ASCII letters as \\u escapes
                words |= {json.dumps(w)[1:-1] for w in words}
            found += [_like(w) for w in words]
        return found


def _identity(member: models.Member) -> Identity:
    words = {member.name, member.username or "", member.key.partition(":")[2]}
    usable = tuple(sorted(w for w in words if len(w) >= MIN_WORD and w.lower() != DELETED_NAME))
    return Identity(member.key, f"{ANONYMOUS}:{secrets.token_hex(8)}", usable)


async def _members(session: AsyncSession, keys: Iterable[str]) -> list[models.Member]:
    stmt = select(models.Member).where(col(models.Member.key).in_(sorted(set(keys))))
    return list((await session.execute(stmt)).scalars())


async def forget(session: AsyncSession, keys: Sequence[str]) -> list[Identity]:
    """Erase and anonymise everything about these accounts; returns what each became."""
    await session.flush()  # pending rows must be written before the sweep sees the tables
    members = await _members(session, keys)
    identities = [_identity(m) for m in members]
    if not identities:
        return []
    account_keys = [i.key for i in identities]
    scrub = Scrubber(identities)
    message = models.Message
    texts: set[str] = {
        text
        for text in (
            await session.execute(
                select(col(message.text)).where(
                    col(message.author).in_(account_keys), col(message.text).is_not(None)
                )
            )
        ).scalars()
        if text is not None
    }
    mention = models.Mention
    # Whom their messages mentioned goes with the messages.
    await session.execute(
        delete(mention).where(
            exists().where(
                col(message.chat) == col(mention.chat),
                col(message.message_id) == col(mention.message_id),
                col(message.author).in_(account_keys),
            )
        )
    )
    await session.execute(delete(message).where(col(message.author).in_(account_keys)))
    await session.execute(delete(models.Flag).where(col(models.Flag.member).in_(account_keys)))
    await session.execute(
        delete(models.Complaint).where(col(models.Complaint.member).in_(account_keys))
    )
    case_ids = list(
        (
            await session.execute(
                select(col(models.Case.id)).where(col(models.Case.subject).in_(account_keys))
            )
        ).scalars()
    )
    sample = models.TrainingSample
    for chunk in _chunks(sorted(texts), 200):
        await session.execute(delete(sample).where(col(sample.text).in_(chunk)))
    if case_ids:
        await session.execute(delete(sample).where(col(sample.case_id).in_(case_ids)))
    await _forget_state(session, scrub)
    for identity in identities:
        await session.execute(
            update(models.Member)
            .where(col(models.Member.key) == identity.key)
            .values(
                key=identity.anonymous,
                name=DELETED_NAME,
                username=None,
                person=None,
                forgotten=True,
                opted_out=True,
            )
        )
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in OWN_TABLES:
            await _sweep(session, table, scrub)
    return identities


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _drop_member(value: Any, scrub: Scrubber) -> Any:
    """A state value without list items or table keys that are the member's key."""
    if isinstance(value, list):
        return [
            _drop_member(v, scrub) for v in value if not (isinstance(v, str) and scrub.mentions(v))
        ]
    if isinstance(value, dict):
        return {k: _drop_member(v, scrub) for k, v in value.items() if not scrub.mentions(str(k))}
    return value


async def _forget_state(session: AsyncSession, scrub: Scrubber) -> None:
    """State keyed by the member is deleted; their key is taken out of other state values."""
    state = models.FeatureState
    patterns = [_like(i.key) for i in scrub.identities]
    rows = (
        await session.execute(
            select(state).where(
                or_(
                    *(col(state.key).like(p, escape="\\") for p in patterns),
                    *(cast(col(state.value), String).like(p, escape="\\") for p in patterns),
                )
            )
        )
    ).scalars()
    for row in list(rows):
        if scrub.mentions(row.key):
            await session.execute(delete(state).where(col(state.id) == row.id))
        else:
            await session.execute(
                update(state)
                .where(col(state.id) == row.id)
                .values(value=_drop_member(row.value, scrub))
            )


async def _sweep(session: AsyncSession, table: Table, scrub: Scrubber) -> None:
    """Rewrite every row of a table that still refers to the forgotten accounts."""
    columns = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, TypeDecorator):  # e.g. SQLModel's AutoString around VARCHAR
            kind = kind.impl_instance
        is_json = isinstance(kind, JSON)
        if not (is_json or isinstance(kind, String)):
            continue
        length = kind.length if isinstance(kind, String) else None
        free = is_json or length is None or length >= FREE_TEXT_LENGTH
        event_key = (table.name, column.name) in EVENT_KEY_COLUMNS
        if table.name == "processed_events" and not event_key:
            continue
        columns.append((column, is_json, free, event_key, length))
    if not columns:
        return
    conditions = []
    for column, is_json, free, event_key, _ in columns:
        target = cast(column, String) if is_json else column
        for pattern in scrub.patterns(free=free, event_key=event_key, is_json=is_json):
            if free:
                conditions.append(target.ilike(pattern, escape="\\"))
            else:
                conditions.append(target.like(pattern, escape="\\"))
    primary = list(table.primary_key.columns)
    stmt = select(*primary, *(c for c, *_ in columns)).where(or_(*conditions))
    for row in (await session.execute(stmt)).all():
        mapping = row._mapping
        changes: dict[str, Any] = {}
        for column, is_json, free, event_key, length in columns:
            value = mapping[column]
            if value is None:
                continue
            if is_json:
                new = scrub.json(value)
            elif event_key:
                new = scrub.event_key(scrub.text(value, free=False))
            else:
                new = scrub.text(value, free=free)
                if length is not None:
                    new = new[:length]
            if new != value:
                changes[column.name] = new
        if changes:
            where = [pk == mapping[pk] for pk in primary]
            await session.execute(update(table).where(*where).values(**changes))


# --- /mydata ---------------------------------------------------------------------------


def _row(obj: SQLModel, *, without: Iterable[str] = ()) -> dict[str, Any]:
    skip = set(without)
    return {k: v for k, v in obj.model_dump().items() if k not in skip}


# Who on the moderators' side did something is the moderators' data, not the member's.
MODERATOR_FIELDS = frozenset(
    {
        "by",
        "previously_closed_by",
        "previous_moderator",
        "moderator",
        "actor",
        "assignee",
        "responder",
    }
)
# Fields with a general name that hold, in these decisions, the moderator who acted.
DECISION_MODERATOR_FIELDS = {
    "promo_review": frozenset({"user"}),
    "promo_trust": frozenset({"user"}),
}
# Mod-log actions and case events whose detail or note is the assignee's key.
ASSIGNMENTS = frozenset({"case_assign", "assigned"})


def _is_own(value: Any, own: frozenset[str]) -> bool:
    return isinstance(value, str) and value in own


def _names_moderator(value: Any, own: frozenset[str]) -> bool:
    """Whether a moderator field's value is someone else (None: the bot acted alone)."""
    return value is not None and not _is_own(value, own)


def _without_moderators(value: Any, own: frozenset[str]) -> Any:
    """A JSON value without the fields naming a moderator; the member's own keys stay."""
    if isinstance(value, list):
        return [_without_moderators(v, own) for v in value]
    if isinstance(value, dict):
        return {
            k: _without_moderators(v, own)
            for k, v in value.items()
            if not (k in MODERATOR_FIELDS and _names_moderator(v, own))
        }
    return value


def _decision(decision: models.Decision, own: frozenset[str]) -> dict[str, Any]:
    """A decision for the export, without the moderators who took part in it."""
    hidden = DECISION_MODERATOR_FIELDS.get(decision.kind, frozenset())
    if decision.kind == "karma" and decision.data.get("reason") == "moderator":
        hidden |= {"giver"}  # the giver of a moderator's change is that moderator
    data = {
        k: v for k, v in decision.data.items() if not (k in hidden and _names_moderator(v, own))
    }
    return {**_row(decision, without=("id",)), "data": _without_moderators(data, own)}


def _log_row(entry: models.ModLogEntry, own: frozenset[str], *, about: bool) -> dict[str, Any]:
    """A mod-log row without whom a case went to; rows ``about`` the member lose the actor."""
    row = _row(entry, without=("id", "actor") if about else ("id",))
    if entry.action in ASSIGNMENTS and not _is_own(entry.detail, own):
        row["detail"] = ""
    return row


def _history(item: models.CaseEvent, own: frozenset[str]) -> dict[str, Any]:
    """A case event for the export; an assignment's note is the assignee's key."""
    note = None if item.action in ASSIGNMENTS and not _is_own(item.note, own) else item.note
    return {"action": item.action, "note": note, "at": item.at}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not serialisable: {type(value).__name__}")


async def collect(session: AsyncSession, keys: Sequence[str], now: datetime) -> dict[str, Any]:
    """Everything stored about these accounts, as a JSON-ready document.

    Moderators' warnings and notes about the member are included (they are personal data
    about the member); which moderator acted is left out everywhere (mod log, cases,
    decisions), as that is the moderators' data, unless it was the member themself.
    """
    accounts = await _members(session, keys)
    account_keys = sorted({m.key for m in accounts} | set(keys))
    own = frozenset(account_keys)
    scrub = Scrubber([Identity(k, k, ()) for k in account_keys])

    async def rows(stmt: Any) -> list[Any]:
        return list((await session.execute(stmt)).scalars())

    message, ledger, log = models.Message, models.KarmaEntry, models.ModLogEntry
    messages = await rows(
        select(message)
        .where(col(message.author).in_(account_keys))
        .order_by(col(message.at), col(message.id))
    )
    received = await rows(
        select(ledger).where(col(ledger.receiver).in_(account_keys)).order_by(col(ledger.id))
    )
    given = await rows(
        select(ledger).where(col(ledger.giver).in_(account_keys)).order_by(col(ledger.id))
    )
    flags = await rows(select(models.Flag).where(col(models.Flag.member).in_(account_keys)))
    complaints = await rows(
        select(models.Complaint).where(col(models.Complaint.member).in_(account_keys))
    )
    cases = await rows(
        select(models.Case)
        .where(col(models.Case.subject).in_(account_keys))
        .order_by(col(models.Case.id))
    )
    history: dict[int, list[dict[str, Any]]] = {}
    if cases:
        case_event = models.CaseEvent
        for item in await rows(
            select(case_event)
            .where(col(case_event.case_id).in_([c.id for c in cases]))
            .order_by(col(case_event.id))
        ):
            history.setdefault(item.case_id, []).append(_history(item, own))
    about = await rows(select(log).where(col(log.target).in_(account_keys)).order_by(col(log.id)))
    by = await rows(select(log).where(col(log.actor).in_(account_keys)).order_by(col(log.id)))
    override = models.SettingOverride
    overrides = await rows(select(override).where(col(override.set_by).in_(account_keys)))
    state = models.FeatureState
    state_rows = [
        r
        for r in await rows(
            select(state).where(
                or_(*(col(state.key).like(_like(k), escape="\\") for k in account_keys))
            )
        )
        if scrub.mentions(r.key)
    ]
    decision = models.Decision
    decisions = [
        d
        for d in await rows(
            select(decision)
            .where(
                or_(
                    *(
                        cast(col(decision.data), String).like(_like(k), escape="\\")
                        for k in account_keys
                    )
                )
            )
            .order_by(col(decision.id))
        )
        if scrub.mentions(json.dumps(d.data, ensure_ascii=False))
    ]
    return {
        "generated_at": now,
        "accounts": [_row(m, without=("id",)) for m in accounts],
        "messages": [_row(m, without=("id",)) for m in messages],
        "karma_received": [_row(e, without=("id",)) for e in received],
        "karma_given": [_row(e, without=("id",)) for e in given],
        "promo_flags": [_row(f, without=("id",)) for f in flags],
        "complaints": [_row(c, without=("id",)) for c in complaints],
        "cases": [
            {
                **_row(c, without=("assignee", "closed_by", "evidence")),
                "evidence": _without_moderators(c.evidence, own),
                "history": history.get(c.id or 0, []),
            }
            for c in cases
        ],
        "moderation_about_you": [_log_row(e, own, about=True) for e in about],
        "your_moderator_actions": [_log_row(e, own, about=False) for e in by],
        "settings_you_changed": [_row(o, without=("id",)) for o in overrides],
        "feature_state": [_row(s, without=("id",)) for s in state_rows],
        "decisions": [_decision(d, own) for d in decisions],
    }


def to_json(document: dict[str, Any]) -> bytes:
    """The document as UTF-8 JSON, readable by people."""
    return json.dumps(document, ensure_ascii=False, indent=2, default=_jsonable).encode()
