"""The plug-in shape every feature has, and what it gets and gives back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from bot.actions import Action
from bot.config import Community, Config, SettingsResolver
from bot.events import Event
from bot.locales import Locale
from storage.repositories import Store


class FeatureSettings(BaseModel):
    """Base of every feature's settings: unknown keys are errors, all can be switched off."""

    # strict: a TOML string "yes" is no boolean, "30" no number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    enabled: bool = True


# Field metadata of a setting only scheduled work reads, from the community's level: a
# chat's value would never be used (``Field(..., json_schema_extra=COMMUNITY_ONLY)``).
COMMUNITY_ONLY: dict[str, Any] = {"scope": "community"}


def community_only(field: Any) -> bool:
    """Whether a settings field (pydantic ``FieldInfo``) is read only community-wide."""
    extra = getattr(field, "json_schema_extra", None)
    return isinstance(extra, dict) and extra.get("scope") == "community"


S = TypeVar("S", bound=FeatureSettings)
S_co = TypeVar("S_co", bound=FeatureSettings, covariant=True)


@dataclass(frozen=True, slots=True)
class Decision:
    """Something a feature decided, for the decisions log and for explanations."""

    kind: str
    message_id: str | None
    data: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The decisions-log line: kind and message id first, then the details."""
        return {"kind": self.kind, "message_id": self.message_id, **self.data}


@dataclass(slots=True)
class Outcome:
    """What a feature returns for one event."""

    actions: list[Action] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        """Append another outcome's actions and decisions."""
        self.actions.extend(other.actions)
        self.decisions.extend(other.decisions)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command a feature answers: its name, usage and who may call it."""

    name: str
    usage: str
    help_key: str
    moderator_only: bool = False


@dataclass(frozen=True, slots=True)
class Context(Generic[S]):
    """Everything a feature may use while handling one event."""

    settings: S
    store: Store
    config: Config
    community: Community
    locale: Locale
    resolver: SettingsResolver
    now: datetime
    bot_members: frozenset[str] = frozenset()

    def is_moderator(self, member: str, platform_says: bool | None = None) -> bool:
        """A moderator if the platform says so or the config lists the member."""
        return bool(platform_says) or member in self.community.section.moderators

    def settings_of(self, model: type[FeatureSettings], feature: str, chat: str | None) -> Any:
        """Another feature's settings (read only), e.g. for /config show."""
        return self.resolver.get(model, feature, self.community.name, chat)


@runtime_checkable
class Analyser(Protocol):
    """A feature that can score a text without any state (``leumund analyze``/``explain``)."""

    def analyse(self, text: str, language: str | None) -> Mapping[str, Any]:
        """Fields for the analyze output line, e.g. ``{"promo": {"is": True, "score": 0.9}}``."""
        ...

    def explain(self, text: str, language: str | None) -> list[str]:
        """Human-readable lines saying why the text scores as it does."""
        ...


@runtime_checkable
class Remembers(Protocol):
    """A feature that keeps what earlier events wrote in memory, to spare queries."""

    def reset(self) -> None:
        """Forget it: a transaction rolled back, the database is the truth again."""
        ...


@runtime_checkable
class Preloads(Protocol):
    """A feature that reads at start-up what a community's first event would wait for."""

    async def preload(self, ctx: Context[Any]) -> None:
        """Read the community's state into memory (``ctx.now``: the moment of the start)."""
        ...


@runtime_checkable
class Prepares(Protocol):
    """A feature whose ticks or commands read much: read before the event's transaction.

    A live event's transaction holds SQLite's write lock from its first write until its
    commit; every member's event waits for it meanwhile. What ``prepare`` reads (in a
    transaction of its own, which writes nothing) costs them no wait.
    """

    async def prepare(self, event: Any, ctx: Context[Any]) -> None:
        """Read and keep what handling ``event`` (a tick, or a command of the feature that
        the member may give) will need; write nothing."""
        ...


class Feature(Protocol[S_co]):
    """A capability: declares its settings and events, and handles one event at a time."""

    name: ClassVar[str]
    settings_model: ClassVar[type[FeatureSettings]]
    handles: ClassVar[tuple[type[Event], ...]]
    commands: ClassVar[tuple[CommandSpec, ...]]

    async def handle(self, event: Any, ctx: Context[Any]) -> Outcome:
        """Decide what to do about an event; write through ``ctx.store`` only."""
        ...
