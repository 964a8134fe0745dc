"""Configuration: TOML read with tomllib, validated with pydantic.

Feature settings are layered: the feature's defaults, then the global ``[karma]`` section,
then ``[communities.karma]``, then ``[communities.chats."telegram:-100…".karma]``, then
overrides moderators set at run time. Every layer is validated, and every problem is
reported with its key path and, where it can be found, its line in the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from storage.db import PoolSettings

Language = Literal["de", "en"]
M = TypeVar("M", bound=BaseModel)
CHAT_KEY = re.compile(r"^(telegram|discord|console|chat):[^\s:]+$")
TOKEN_LIKE = re.compile(
    r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"  # Telegram bot token
    r"|\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}\b"  # Discord bot token
)


class StrictModel(BaseModel):
    """A config model that rejects unknown keys, so typos are reported."""

    # strict: a TOML string "yes" is no boolean, "30" no number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    # OSError: a tzdata directory ("Europe") or a name too long for the file system.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class BotSection(StrictModel):
    """Process-wide settings."""

    database_url: str = Field(
        "sqlite+aiosqlite:///leumund.db",
        description="sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB",
    )
    language: Language = Field("de", description="default language of communities")
    timezone: str = Field("Europe/Berlin", description="default time zone of communities")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    retention_days: int = Field(30, ge=1, le=3650, description="days message texts are kept")
    shutdown_seconds: float = Field(
        10.0, gt=0, le=300, description="time events in flight get to finish on SIGTERM"
    )
    # The PostgreSQL connection pool of this process; ignored for SQLite (one process,
    # one writer, no pool to size).
    pool_size: int = Field(5, ge=1, le=100, description="connections kept open (PostgreSQL)")
    max_overflow: int = Field(
        10, ge=0, le=100, description="extra connections opened under load (PostgreSQL)"
    )
    pool_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="longest wait for a free connection (PostgreSQL)"
    )
    pool_recycle_seconds: int = Field(
        1800,
        ge=0,
        le=86400,
        description="replace connections older than this; 0 never does (PostgreSQL)",
    )
    pool_pre_ping: bool = Field(
        True, description="test a connection before each use, replacing dropped ones"
    )

    _tz = field_validator("timezone")(_check_timezone)

    def pool(self) -> PoolSettings:
        """The connection pool settings for storage.db.Database."""
        return PoolSettings(
            size=self.pool_size,
            max_overflow=self.max_overflow,
            timeout_seconds=self.pool_timeout_seconds,
            recycle_seconds=self.pool_recycle_seconds,
            pre_ping=self.pool_pre_ping,
        )

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class TelegramSection(StrictModel):
    """How to reach Telegram."""

    enabled: bool = False
    token_env: str = Field("TELEGRAM_BOT_TOKEN", description="environment variable with the token")
    api_base_url: str = Field("", description="empty for the public Bot API, or a self-hosted one")
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"
    ignore_other_bots: bool = True


class DiscordSection(StrictModel):
    """How to reach Discord."""

    enabled: bool = False
    token_env: str = Field("DISCORD_BOT_TOKEN", description="environment variable with the token")
    shard_ids: list[int] | None = None
    shard_count: int | None = Field(None, ge=1)
    members_intent: bool = True
    ignore_other_bots: bool = True
    moderator_roles: list[str] = Field(
        [], description="role ids or names whose holders are moderators"
    )

    @model_validator(mode="after")
    def _shards(self) -> DiscordSection:
        if self.shard_ids is not None and self.shard_count is None:
            raise ValueError("shard_ids needs shard_count")
        return self


class CommunitySection(StrictModel):
    """One community: its chats on each platform and where moderators are reached."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    language: Language | None = None
    timezone: str | None = None
    telegram_chats: list[int] = []
    discord_guilds: list[int] = []
    console_chats: list[str] = []
    moderator_chat: str | None = None
    summary_chat: str | None = None
    log_chat: str | None = None
    moderators: list[str] = Field([], description="member keys, e.g. telegram:12345")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    @field_validator("moderator_chat", "summary_chat", "log_chat")
    @classmethod
    def _chat_key(cls, value: str | None) -> str | None:
        if value is not None and not CHAT_KEY.match(value):
            raise ValueError("must look like telegram:-100123 or discord:123")
        return value


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path}: {self.message}{where}"


class ConfigError(Exception):
    """The config is invalid; ``problems`` lists every error found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


@dataclass(frozen=True, slots=True)
class Community:
    """A validated community with its raw feature overrides per layer."""

    section: CommunitySection
    language: Language
    timezone: str
    overrides: Mapping[str, Mapping[str, Any]]
    chat_overrides: Mapping[str, Mapping[str, Mapping[str, Any]]]

    @property
    def name(self) -> str:
        """The community's name."""
        return self.section.name

    @property
    def chats(self) -> tuple[str, ...]:
        """Every chat key that belongs to the community."""
        keys = [f"telegram:{c}" for c in self.section.telegram_chats]
        keys += [f"discord-guild:{g}" for g in self.section.discord_guilds]
        keys += [f"console:{c}" for c in self.section.console_chats]
        return tuple(keys)


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    bot: BotSection
    telegram: TelegramSection
    discord: DiscordSection
    communities: tuple[Community, ...]
    feature_defaults: Mapping[str, Mapping[str, Any]]
    feature_models: Mapping[str, type[BaseModel]]
    source: str = "<embedded>"
    warnings: tuple[str, ...] = ()
    _by_name: dict[str, Community] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.name: c for c in self.communities})

    def community(self, name: str) -> Community | None:
        """The community of that name, if configured."""
        return self._by_name.get(name)

    def default_community(self) -> Community:
        """The first community: where events without a mapped chat go."""
        return self.communities[0]

    def community_for_chat(self, chat: str) -> Community | None:
        """The community a chat key (or ``discord-guild:ID``) belongs to."""
        for community in self.communities:
            if chat in community.chats:
                return community
        return None

    def token(self, section: Literal["telegram", "discord"]) -> str:
        """Read a platform token from the environment variable the config names."""
        env = self.telegram.token_env if section == "telegram" else self.discord.token_env
        value = os.environ.get(env, "").strip()
        if not value:
            raise ConfigError(
                self.source,
                [Problem(f"{section}.token_env", f"environment variable {env} is not set")],
            )
        return value


class SettingsResolver:
    """Merges feature settings per community and chat, with run-time overrides on top."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._runtime: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self._cache: dict[tuple[str, str, str | None], BaseModel] = {}

    def get(self, model: type[M], feature: str, community: str, chat: str | None) -> M:
        """The merged settings of ``feature`` for a community and chat."""
        key = (feature, community, chat)
        cached = self._cache.get(key)
        if cached is None:
            cached = model.model_validate(self._layers(feature, community, chat))
            self._cache[key] = cached
        assert isinstance(cached, model)
        return cached

    def _layers(self, feature: str, community: str, chat: str | None) -> dict[str, Any]:
        merged: dict[str, Any] = dict(self._config.feature_defaults.get(feature, {}))
        comm = self._config.community(community)
        if comm is not None:
            merged.update(comm.overrides.get(feature, {}))
            if chat is not None:
                merged.update(comm.chat_overrides.get(chat, {}).get(feature, {}))
        merged.update(self._runtime.get((community, None, feature), {}))
        if chat is not None:
            merged.update(self._runtime.get((community, chat, feature), {}))
        return merged

    def set_override(
        self, feature: str, community: str, chat: str | None, values: Mapping[str, Any]
    ) -> None:
        """Apply overrides stored by moderators; validated before they take effect."""
        layer = dict(self._runtime.get((community, chat, feature), {}))
        layer.update(values)
        model = self._config.feature_models[feature]
        trial = self._layers(feature, community, chat) | layer
        model.model_validate(trial)  # raises ValidationError before anything changes
        self._runtime[(community, chat, feature)] = layer
        self._cache.clear()


# --- loading -----------------------------------------------------------------------------

_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "greater_than": "must be > {gt}",
    "less_than": "must be < {lt}",
    "missing": "is required",
    "extra_forbidden": "unknown key",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "string_pattern_mismatch": "must match {pattern}",
}


def _format_loc(prefix: tuple[str | int, ...], loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    return prefix + tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def _path_str(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            out += f".{text}" if out else text
    return out


def _problems(
    exc: ValidationError, prefix: tuple[str | int, ...], lines: Mapping[tuple[str | int, ...], int]
) -> list[Problem]:
    found = []
    for err in exc.errors():
        path = _format_loc(prefix, tuple(err["loc"]))
        template = _MESSAGES.get(err["type"])
        ctx = err.get("ctx") or {}
        if template:
            # A float bound that is a whole number reads as one: "<= 300", not "<= 300.0".
            shown = {k: _number(v) for k, v in ctx.items()}
            try:
                message = template.format(**shown)
            except KeyError:
                message = err["msg"]
        else:
            message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error":
            message = f"must be {ctx.get('expected', err['msg'])}"
        found.append(Problem(_path_str(path), message, _line_for(lines, path)))
    return found


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _line_for(
    lines: Mapping[tuple[str | int, ...], int], path: tuple[str | int, ...]
) -> int | None:
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-\"'.: +]+?)\s*=")


def _split_key(text: str) -> list[str]:
    parts: list[str] = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)', text):
        parts.append(next(g for g in match.groups() if g is not None))
    return parts


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map key paths (with array indexes) to the line that defines them."""
    lines: dict[tuple[str | int, ...], int] = {}
    counts: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    # TOML ends lines at "\n" only (the patterns tolerate a "\r" before it);
    # splitlines() would also break at U+2028, U+0085 and the like, which TOML allows
    # inside comments and strings.
    for number, raw in enumerate(text.split("\n"), start=1):
        header = _HEADER.match(raw)
        if header and not raw.lstrip().startswith(("#",)) and "=" not in raw.split("]")[0]:
            keys = _split_key(header.group(2))
            resolved: tuple[str | int, ...] = ()
            for part in keys[:-1] if header.group(1) == "[[" else keys:
                resolved += (part,)
                if resolved in counts:
                    resolved += (counts[resolved] - 1,)
            if header.group(1) == "[[":
                resolved += (keys[-1],)
                counts[resolved] = counts.get(resolved, 0) + 1
                lines.setdefault(resolved, number)
                resolved += (counts[resolved] - 1,)
            table = resolved
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(raw)
        if assign and not raw.lstrip().startswith("#"):
            lines.setdefault(table + tuple(_split_key(assign.group(1))), number)
    return lines


_CORE_TOP = {"bot", "telegram", "discord", "communities"}
_COMMUNITY_KEYS = set(CommunitySection.model_fields) | {"chats"}


def load_config(
    path: Path | str,
    feature_models: Mapping[str, type[BaseModel]],
) -> Config:
    """Read and validate a config file; raises ConfigError listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [Problem("<file>", f"cannot read: {exc.strerror}")]) from exc
    return parse_config(text, feature_models, source=source)


def parse_config(
    text: str,
    feature_models: Mapping[str, type[BaseModel]],
    *,
    source: str = "<string>",
) -> Config:
    """Validate config text; raises ConfigError listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            source, [Problem("<toml>", str(exc), int(line.group(1)) if line else None)]
        ) from exc
    except RecursionError as exc:  # tomllib recurses once per nested array or inline table
        raise ConfigError(
            source, [Problem("<toml>", "arrays or inline tables are nested too deeply")]
        ) from exc
    lines = key_lines(text)
    problems: list[Problem] = []
    warnings: list[str] = []

    def section(name: str, model: type[M]) -> M | None:
        try:
            return model.model_validate(raw.get(name, {}))
        except ValidationError as exc:
            problems.extend(_problems(exc, (name,), lines))
            return None

    bot = section("bot", BotSection)
    telegram = section("telegram", TelegramSection)
    discord = section("discord", DiscordSection)

    for key in raw:
        if key not in _CORE_TOP and key not in feature_models:
            problems.append(Problem(_path_str((key,)), "unknown section", _line_for(lines, (key,))))

    defaults: dict[str, dict[str, Any]] = {}
    for name, model in feature_models.items():
        values = raw.get(name, {})
        if not isinstance(values, dict):
            problems.append(Problem(name, "must be a table", _line_for(lines, (name,))))
            continue
        try:
            model.model_validate(values)
            defaults[name] = values
        except ValidationError as exc:
            problems.extend(_problems(exc, (name,), lines))

    communities: list[Community] = []
    raw_communities = raw.get("communities", [])
    if not isinstance(raw_communities, list):
        problems.append(
            Problem(
                "communities",
                "must be an array of tables ([[communities]])",
                _line_for(lines, ("communities",)),
            )
        )
        raw_communities = []
    seen_names: set[str] = set()
    seen_chats: dict[str, str] = {}
    for index, entry in enumerate(raw_communities):
        built = _community(
            entry, index, feature_models, defaults, bot, lines, problems, seen_names, seen_chats
        )
        if built is not None:
            communities.append(built)

    if not raw_communities and bot is not None:
        communities.append(
            Community(
                CommunitySection(name="default", console_chats=["general"]),
                bot.language,
                bot.timezone,
                {},
                {},
            )
        )

    for token in TOKEN_LIKE.finditer(text):
        number = text.count("\n", 0, token.start()) + 1
        warnings.append(
            f"line {number}: this looks like a bot token; put it in an environment variable "
            "and name that variable in token_env instead"
        )

    if problems or bot is None or telegram is None or discord is None:
        raise ConfigError(source, problems)
    return Config(
        bot=bot,
        telegram=telegram,
        discord=discord,
        communities=tuple(communities),
        feature_defaults=defaults,
        feature_models=dict(feature_models),
        source=source,
        warnings=tuple(warnings),
    )


def _community(
    entry: Any,
    index: int,
    feature_models: Mapping[str, type[BaseModel]],
    defaults: Mapping[str, Mapping[str, Any]],
    bot: BotSection | None,
    lines: Mapping[tuple[str | int, ...], int],
    problems: list[Problem],
    seen_names: set[str],
    seen_chats: dict[str, str],
) -> Community | None:
    prefix: tuple[str | int, ...] = ("communities", index)
    if not isinstance(entry, dict):
        problems.append(Problem(_path_str(prefix), "must be a table", _line_for(lines, prefix)))
        return None
    core = {k: v for k, v in entry.items() if k in _COMMUNITY_KEYS and k != "chats"}
    for key in entry:
        if key not in _COMMUNITY_KEYS and key not in feature_models:
            path = (*prefix, key)
            problems.append(Problem(_path_str(path), "unknown key", _line_for(lines, path)))
    before = len(problems)
    try:
        section = CommunitySection.model_validate(core)
    except ValidationError as exc:
        problems.extend(_problems(exc, prefix, lines))
        section = None

    overrides: dict[str, dict[str, Any]] = {}
    for name, model in feature_models.items():
        values = entry.get(name)
        if values is None:
            continue
        if not isinstance(values, dict):
            path = (*prefix, name)
            problems.append(Problem(_path_str(path), "must be a table", _line_for(lines, path)))
            continue
        try:
            model.model_validate({**defaults.get(name, {}), **values})
            overrides[name] = values
        except ValidationError as exc:
            problems.extend(_problems(exc, (*prefix, name), lines))

    chat_overrides: dict[str, dict[str, dict[str, Any]]] = {}
    chats = entry.get("chats", {})
    if not isinstance(chats, dict):
        chats = {}
        path = (*prefix, "chats")
        problems.append(Problem(_path_str(path), "must be a table", _line_for(lines, path)))
    for chat_key, per_feature in chats.items():
        chat_prefix = (*prefix, "chats", chat_key)
        if not CHAT_KEY.match(chat_key):
            problems.append(
                Problem(
                    _path_str(chat_prefix),
                    "chat key must look like telegram:-100123 or discord:123",
                    _line_for(lines, chat_prefix),
                )
            )
            continue
        if not isinstance(per_feature, dict):
            problems.append(
                Problem(_path_str(chat_prefix), "must be a table", _line_for(lines, chat_prefix))
            )
            continue
        chat_overrides[chat_key] = {}
        for name, values in per_feature.items():
            path = (*chat_prefix, name)
            if name not in feature_models:
                problems.append(Problem(_path_str(path), "unknown feature", _line_for(lines, path)))
                continue
            if not isinstance(values, dict):
                problems.append(Problem(_path_str(path), "must be a table", _line_for(lines, path)))
                continue
            merged = {**defaults.get(name, {}), **overrides.get(name, {}), **values}
            try:
                feature_models[name].model_validate(merged)
                chat_overrides[chat_key][name] = values
            except ValidationError as exc:
                problems.extend(_problems(exc, path, lines))

    if section is not None:
        if section.name in seen_names:
            path = (*prefix, "name")
            problems.append(
                Problem(
                    _path_str(path), f"duplicate community {section.name!r}", _line_for(lines, path)
                )
            )
        seen_names.add(section.name)
        own = [f"telegram:{c}" for c in section.telegram_chats]
        own += [f"discord-guild:{g}" for g in section.discord_guilds]
        own += [f"console:{c}" for c in section.console_chats]
        for chat in own:
            if chat in seen_chats and seen_chats[chat] != section.name:
                problems.append(
                    Problem(
                        _path_str(prefix),
                        f"{chat} already belongs to community {seen_chats[chat]!r}",
                        _line_for(lines, prefix),
                    )
                )
            seen_chats.setdefault(chat, section.name)
    if section is None or bot is None or len(problems) > before:
        return None
    return Community(
        section,
        section.language or bot.language,
        section.timezone or bot.timezone,
        overrides,
        chat_overrides,
    )
