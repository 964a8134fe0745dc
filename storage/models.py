"""SQLModel tables. The karma ledger is append-only; totals are derived from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class Community(SQLModel, table=True):
    """A community: several chats on one or both platforms that share karma."""

    __tablename__ = "communities"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    created_at: datetime


class Chat(SQLModel, table=True):
    """A chat (Telegram group, Discord channel, console room) seen by the bot."""

    __tablename__ = "chats"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=128)
    community: str = Field(index=True, max_length=64)
    title: str | None = Field(default=None, max_length=256)
    first_seen: datetime


class Member(SQLModel, table=True):
    """A platform account. ``person`` groups linked accounts of one person."""

    __tablename__ = "members"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=128)
    name: str = Field(max_length=256)
    username: str | None = Field(default=None, index=True, max_length=128)
    # Indexed: the answers promo counts leave out the few bots' messages.
    is_bot: bool = Field(default=False, index=True)
    person: str | None = Field(default=None, index=True, max_length=128)
    first_seen: datetime
    opted_out: bool = False
    forgotten: bool = False


class ProcessedEvent(SQLModel, table=True):
    """One row per platform event handled; its key makes redelivery harmless."""

    __tablename__ = "processed_events"
    key: str = Field(primary_key=True, max_length=256)
    kind: str = Field(max_length=32)
    community: str = Field(max_length=64)
    at: datetime


class Message(SQLModel, table=True):
    """A message seen in a chat. ``text`` is purged after ``retention_days``."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("chat", "message_id", name="uq_messages_chat_message"),
        Index("ix_messages_chat_at", "chat", "at"),
        Index("ix_messages_community_author_at", "community", "author", "at"),
        # Only texts not yet purged: the daily retention purge reads just those, so its
        # cost does not grow with the history already purged.
        Index(
            "ix_messages_unpurged",
            "community",
            "at",
            sqlite_where=text("text IS NOT NULL"),
            postgresql_where=text("text IS NOT NULL"),
        ),
        # Answers a member received (promo's window): replies by the replied-to author;
        # mentions are found through message_mentions.
        Index("ix_messages_community_reply_author_at", "community", "reply_to_author", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=64)
    chat: str = Field(max_length=128)
    message_id: str = Field(max_length=64)
    author: str = Field(max_length=128)
    text: str | None = None
    reply_to: str | None = Field(default=None, max_length=64)
    reply_to_author: str | None = Field(default=None, max_length=128)
    mentions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    thread: str | None = Field(default=None, max_length=64)
    at: datetime
    edited_at: datetime | None = None
    deleted: bool = False
    forwarded: bool = False
    is_thanks: bool = False
    # A 64-bit SimHash as a signed integer, for near-duplicate checks.
    fingerprint: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Mention(SQLModel, table=True):
    """A member a message mentions (one row per member), written with the message."""

    __tablename__ = "message_mentions"
    # The mentions a member received in a period, without reading every message of it.
    __table_args__ = (Index("ix_message_mentions_member_at", "community", "member", "at"),)
    chat: str = Field(primary_key=True, max_length=128)
    message_id: str = Field(primary_key=True, max_length=64)
    member: str = Field(primary_key=True, max_length=128)
    community: str = Field(max_length=64)
    at: datetime


class KarmaEntry(SQLModel, table=True):
    """One append-only change of karma: who, to whom, how much, why, from which message."""

    __tablename__ = "karma_ledger"
    __table_args__ = (
        Index("ix_karma_community_receiver_at", "community", "receiver", "at"),
        Index("ix_karma_community_giver_at", "community", "giver", "at"),
        Index("ix_karma_community_at", "community", "at"),
        Index("ix_karma_source", "chat", "message_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=64)
    giver: str | None = Field(default=None, max_length=128)
    receiver: str = Field(max_length=128)
    points: float
    reason: str = Field(max_length=32)  # thanks, reaction, moderator, reversal, ring
    rule: str | None = Field(default=None, max_length=64)
    chat: str | None = Field(default=None, max_length=128)
    message_id: str | None = Field(default=None, max_length=64)
    # The message that earned the karma (the answer), for links in /karma why.
    target_message_id: str | None = Field(default=None, max_length=64)
    emoji: str | None = Field(default=None, max_length=64)
    event_key: str = Field(max_length=256)
    reverses: int | None = Field(default=None, index=True)
    note: str | None = Field(default=None, max_length=512)
    at: datetime


class KarmaBalance(SQLModel, table=True):
    """A member's all-time karma: the sum of their ledger rows, kept with each new row."""

    __tablename__ = "karma_balances"
    # /top and a member's rank read the balances in order.
    __table_args__ = (Index("ix_karma_balances_points", "community", "points"),)
    community: str = Field(primary_key=True, max_length=64)
    member: str = Field(primary_key=True, max_length=128)
    points: float


class Decision(SQLModel, table=True):
    """A logged decision (award, block, flag, reply) so every outcome can be explained."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_community_kind_at", "community", "kind", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=64)
    event_key: str = Field(max_length=256, index=True)
    kind: str = Field(max_length=32)
    message_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime


class Case(SQLModel, table=True):
    """A numbered matter for moderators: a promo flag, a ring, a complaint, an appeal."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_community_status", "community", "status"),
        Index("ix_cases_subject_kind_status", "subject", "kind", "status"),
        # A tick's overdue cases and chats with open cases, however many stay open.
        Index("ix_cases_open_due", "community", "kind", "status", "escalated_at", "due_at"),
        Index("ix_cases_open_chat", "community", "kind", "status", "chat"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    status: str = Field(default="open", max_length=16)  # open, resolved, confirmed, dismissed
    subject: str | None = Field(default=None, max_length=128)
    chat: str | None = Field(default=None, max_length=128)
    message_id: str | None = Field(default=None, max_length=64)
    score: float | None = None
    summary: str = Field(default="", max_length=1024)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    assignee: str | None = Field(default=None, max_length=128)
    opened_at: datetime
    due_at: datetime | None = None
    escalated_at: datetime | None = None
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = Field(default=None, max_length=128)


class CaseEvent(SQLModel, table=True):
    """The history of a case: opened, commented, escalated, closed, appealed."""

    __tablename__ = "case_events"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(index=True)
    actor: str | None = Field(default=None, max_length=128)
    action: str = Field(max_length=32)
    note: str | None = Field(default=None, max_length=1024)
    at: datetime


class Flag(SQLModel, table=True):
    """A promo detection on one message, with the signals that fired."""

    __tablename__ = "flags"
    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=64, index=True)
    case_id: int | None = Field(default=None, index=True)
    member: str = Field(max_length=128, index=True)
    chat: str = Field(max_length=128)
    message_id: str = Field(max_length=64)
    score: float
    signals: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    at: datetime


class Complaint(SQLModel, table=True):
    """A complaint detected in a message, with its score and severity."""

    __tablename__ = "complaints"
    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=64, index=True)
    case_id: int | None = Field(default=None, index=True)
    member: str = Field(max_length=128, index=True)
    chat: str = Field(max_length=128)
    message_id: str = Field(max_length=64)
    score: float
    severity: str = Field(max_length=16)
    at: datetime


class OutboxItem(SQLModel, table=True):
    """An action decided by the engine, with its delivery state, so none runs twice."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("event_key", "position", name="uq_outbox_event_position"),)
    id: int | None = Field(default=None, primary_key=True)
    event_key: str = Field(max_length=256)
    position: int
    kind: str = Field(max_length=32)
    chat: str = Field(max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)  # pending, sent, failed
    attempts: int = 0
    error: str | None = Field(default=None, max_length=1024)
    created_at: datetime
    sent_at: datetime | None = None


class ModLogEntry(SQLModel, table=True):
    """Every moderator action and every automatic action, for the mod log."""

    __tablename__ = "mod_log"
    __table_args__ = (Index("ix_mod_log_community_at", "community", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=64)
    actor: str | None = Field(default=None, max_length=128)
    action: str = Field(max_length=32)
    target: str | None = Field(default=None, max_length=128)
    case_id: int | None = None
    detail: str = Field(default="", max_length=1024)
    at: datetime


class SettingOverride(SQLModel, table=True):
    """A setting changed at run time by ``/config set``, per community or chat."""

    __tablename__ = "setting_overrides"
    __table_args__ = (
        UniqueConstraint("community", "chat", "feature", "name", name="uq_setting_override"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=64)
    chat: str = Field(default="", max_length=128)  # "" means community-wide
    feature: str = Field(max_length=32)
    name: str = Field(max_length=64)
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    set_by: str | None = Field(default=None, max_length=128)
    at: datetime


class SchedulerRun(SQLModel, table=True):
    """A scheduled job that ran (for example the summary of one week), recorded once."""

    __tablename__ = "scheduler_runs"
    job: str = Field(primary_key=True, max_length=256)
    at: datetime


class FeatureState(SQLModel, table=True):
    """Small persistent state of a feature (allow-lists, counters) as JSON by key."""

    __tablename__ = "feature_state"
    __table_args__ = (UniqueConstraint("feature", "community", "key", name="uq_feature_state"),)
    id: int | None = Field(default=None, primary_key=True)
    feature: str = Field(max_length=32)
    community: str = Field(max_length=64)
    key: str = Field(max_length=256)
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime


class TrainingSample(SQLModel, table=True):
    """A labelled text for a feature's classifier, e.g. confirmed spam or a dismissed flag."""

    __tablename__ = "training_samples"
    __table_args__ = (Index("ix_training_feature_community", "feature", "community"),)
    id: int | None = Field(default=None, primary_key=True)
    feature: str = Field(max_length=32)
    community: str = Field(max_length=64)
    label: str = Field(max_length=32)
    text: str
    source: str = Field(default="moderator", max_length=32)
    case_id: int | None = None
    at: datetime
