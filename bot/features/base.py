"""The plug-in shape every feature has, and what it gets and gives back."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast, runtime_checkable

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


S = TypeVar("S", bound=FeatureSettings)
S_co = TypeVar("S_co", bound=FeatureSettings, covariant=True)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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
    """A feature with work on an event that depends on nothing stored (scoring a text)."""

    def prepare(self, event: Event, settings: Any, community: Community) -> None:
        """Do that work now and keep it for ``handle`` (never touch the store here).

        The replay calls it for each message of a chunk before it feeds the first: done in
        a row, the scorers' code and data stay in the CPU's caches.
        """
        ...


_MISSING: Any = object()


class Ahead(Generic[K, V]):
    """Results of pure work done ahead, by the inputs they were worked out from (bounded).

    Keyed by every input, a result is right whenever it is found, however old: a setting
    changed in between only means another key.
    """

    def __init__(self, limit: int = 2048) -> None:
        self.limit = limit
        self._results: dict[K, V] = {}

    def prepare(self, key: K, work: Callable[[], V]) -> None:
        """Work out the result for ``key`` unless it is kept already."""
        if key in self._results:
            return
        if len(self._results) >= self.limit:
            # The chunks it was prepared for have been handled: what is left went unused.
            self._results.clear()
        self._results[key] = work()

    def result(self, key: K, work: Callable[[], V]) -> V:
        """The result prepared for ``key``, or worked out now (and not kept)."""
        found = self._results.get(key, _MISSING)
        return work() if found is _MISSING else cast(V, found)


class Feature(Protocol[S_co]):
    """A capability: declares its settings and events, and handles one event at a time."""

    name: ClassVar[str]
    settings_model: ClassVar[type[FeatureSettings]]
    handles: ClassVar[tuple[type[Event], ...]]
    commands: ClassVar[tuple[CommandSpec, ...]]

    async def handle(self, event: Any, ctx: Context[Any]) -> Outcome:
        """Decide what to do about an event; write through ``ctx.store`` only."""
        ...
