"""``/config show`` and ``/config set``: run-time settings per chat or community, persisted.

Who may do what: a chat moderator (the platform says so, or the config lists them) may
change settings for the chat the command is typed in. Community-wide changes
(``/config set --community …``) are for community owners; until the config names owners,
the moderators listed in ``[[communities]] moderators`` count as owners and moderators
the platform reports count as chat moderators only.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tomllib
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.config import SettingsResolver
from bot.events import CommandIssued
from bot.features.base import Context, Decision, Outcome, community_only
from bot.features.moderation.common import answer, mod_log, reply, shown, usage
from bot.features.moderation.settings import ModerationSettings
from storage import models
from storage.repositories import Store

log = logging.getLogger(__name__)
Ctx = Context[ModerationSettings]
COMMUNITY_FLAG = "--community"
# Switching these off from a chat would lock moderators out of /config, or members out
# of their data rights; the config file can still do it.
PROTECTED = frozenset({("moderation", "enabled"), ("privacy", "enabled")})
SHOW_LIMIT = 3800
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


def _json_safe(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    return value is None or isinstance(value, bool | int | str)


def parse_value(text: str) -> Any:
    """A TOML/JSON scalar or list from command text; plain text is a string.

    Chat clients and the command parser eat quotes, so ``[a.com, b.com]`` (a list of bare
    words) and ``0,5`` (a German decimal) are understood too.
    """
    text = text.strip()
    for parse in (lambda t: tomllib.loads(f"v = {t}")["v"], json.loads):
        try:
            value = parse(text)
        except (tomllib.TOMLDecodeError, ValueError):
            continue
        if _json_safe(value):
            return value
    if _DECIMAL_COMMA.match(text):
        return float(text.replace(",", "."))
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [parse_value(part) for part in inner.split(",")] if inner else []
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _candidates(text: str) -> list[Any]:
    """The parsed value first, then the raw text (a string setting that looks like 30)."""
    parsed = parse_value(text)
    return [parsed] if parsed == text.strip() else [parsed, text.strip()]


def describe_error(ctx: Context[Any], exc: ValidationError) -> str:
    """The first validation error in the community's language."""
    error = exc.errors()[0]
    key = f"moderation.config_error.{error['type']}"
    values = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    if ctx.locale.variants(key):
        try:
            return ctx.locale.t(key, **values)
        except (KeyError, IndexError):
            pass
    detail = str(error["msg"]).removeprefix("Value error, ")
    return ctx.locale.t("moderation.config_error.other", detail=detail)


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _insert(session: AsyncSession) -> postgresql.Insert | sqlite.Insert:
    table = models.SettingOverride
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def save_override(
    session: AsyncSession,
    *,
    community: str,
    chat: str | None,
    feature: str,
    name: str,
    value: Any,
    set_by: str,
    at: Any,
) -> None:
    """Insert or replace one stored override (chat "" means community-wide)."""
    stmt = _insert(session).values(
        community=community,
        chat=chat or "",
        feature=feature,
        name=name,
        value=value,
        set_by=set_by,
        at=at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["community", "chat", "feature", "name"],
        set_={"value": stmt.excluded.value, "set_by": set_by, "at": at},
    )
    await session.execute(stmt)


async def load_overrides(store: Store, resolver: SettingsResolver) -> int:
    """Apply every stored ``/config set`` override to the resolver; returns how many applied.

    Called once at start. Rows that no longer validate (a setting renamed or a feature
    removed) are skipped with a warning instead of stopping the bot.
    """
    rows = (
        (
            await store.session.execute(
                select(models.SettingOverride).order_by(col(models.SettingOverride.id))
            )
        )
        .scalars()
        .all()
    )
    layers: dict[tuple[str, str, str], dict[str, Any]] = {}
    # Community-wide layers first: chat layers are validated on top of them.
    for row in sorted(rows, key=lambda r: (r.chat != "", r.id or 0)):
        layers.setdefault((row.community, row.chat, row.feature), {})[row.name] = row.value
    applied = 0
    for (community, chat, feature), values in layers.items():
        try:
            resolver.set_override(feature, community, chat or None, values)
            applied += len(values)
            continue
        except (KeyError, ValidationError):
            pass
        for name, value in values.items():
            try:
                resolver.set_override(feature, community, chat or None, {name: value})
                applied += 1
            except (KeyError, ValidationError) as exc:
                log.warning(
                    "stored setting %s.%s=%r (%s, %s) skipped: %s",
                    feature,
                    name,
                    value,
                    community,
                    chat or "community",
                    exc,
                )
    return applied


async def config_command(event: CommandIssued, ctx: Ctx) -> Outcome:
    """``/config show [feature]`` or ``/config set [--community] feature.key value``."""
    args = event.args
    sub = args[0].lower() if args else ""
    if sub == "show" and len(args) <= 2:
        return await _show(event, ctx, args[1] if len(args) == 2 else None)
    if sub == "set":
        rest = list(args[1:])
        community_wide = COMMUNITY_FLAG in rest
        rest = [a for a in rest if a != COMMUNITY_FLAG]
        if len(rest) >= 2:
            return await _set(event, ctx, rest[0], " ".join(rest[1:]), community_wide)
    return answer(event, usage(ctx, "config"))


async def _overridden(ctx: Ctx, chat: str) -> set[tuple[str, str]]:
    row = models.SettingOverride
    stmt = select(col(row.feature), col(row.name)).where(
        col(row.community) == ctx.community.name, col(row.chat).in_(("", chat))
    )
    return {(f, n) for f, n in (await ctx.store.session.execute(stmt)).all()}


async def _show(event: CommandIssued, ctx: Ctx, wanted: str | None) -> Outcome:
    models_by_name = ctx.config.feature_models
    if wanted is not None and wanted not in models_by_name:
        return answer(event, _unknown_feature(ctx, wanted, models_by_name))
    overridden = await _overridden(ctx, event.chat)
    lines = [ctx.locale.t("moderation.config_title", chat=event.chat)]
    for feature in [wanted] if wanted else sorted(models_by_name):
        settings = ctx.resolver.get(
            models_by_name[feature], feature, ctx.community.name, event.chat
        )
        lines.append(f"[{feature}]")
        for key, value in settings.model_dump(mode="json").items():
            mark = " ✎" if (feature, key) in overridden else ""
            lines.append(f"{key} = {_toml(value)}{mark}")
    if overridden:
        lines.append(ctx.locale.t("moderation.config_marked"))
    text = "\n".join(lines)
    if len(text) > SHOW_LIMIT:
        text = ctx.locale.t(
            "moderation.config_too_long", features=", ".join(sorted(models_by_name))
        )
    return answer(event, text)


def _unknown_feature(ctx: Ctx, name: str, names: Iterable[str]) -> str:
    return ctx.locale.t(
        "moderation.config_unknown_feature", name=shown(name), features=", ".join(sorted(names))
    )


async def _set(
    event: CommandIssued, ctx: Ctx, dotted: str, raw: str, community_wide: bool
) -> Outcome:
    locale = ctx.locale
    feature, _, name = dotted.partition(".")
    models_by_name = ctx.config.feature_models
    if not name:
        return answer(event, usage(ctx, "config"))
    if feature not in models_by_name:
        return answer(event, _unknown_feature(ctx, feature, models_by_name))
    fields = models_by_name[feature].model_fields
    if name not in fields:
        text = locale.t(
            "moderation.config_unknown_key",
            feature=feature,
            name=shown(name),
            keys=", ".join(sorted(fields)),
        )
        return answer(event, text)
    if (feature, name) in PROTECTED:
        return answer(event, locale.t("moderation.config_protected", setting=dotted))
    if not community_wide and community_only(fields[name]):
        # Scheduled work reads it from the community's level: a chat's value would say ✅
        # and change nothing.
        text = locale.t("moderation.config_community_only", setting=dotted, flag=COMMUNITY_FLAG)
        return answer(event, text)
    author = event.author.key
    community = ctx.community.name
    if community_wide and author not in ctx.community.section.moderators:
        ctx.store.session.add(
            models.ModLogEntry(
                community=community,
                actor=author,
                action="refused",
                detail=f"/config set {COMMUNITY_FLAG} {dotted}",
                at=ctx.now,
            )
        )
        return Outcome(
            actions=[reply(event, locale.t("moderation.config_owners_only"))],
            decisions=[
                Decision(
                    "refused",
                    event.message_id,
                    {"command": "config set --community", "user": author},
                )
            ],
        )
    chat = None if community_wide else event.chat
    error: ValidationError | None = None
    for candidate in _candidates(raw):
        try:
            ctx.resolver.set_override(feature, community, chat, {name: candidate})
        except ValidationError as exc:
            error = error or exc
            continue
        value = candidate
        break
    else:
        assert error is not None
        text = locale.t(
            "moderation.config_invalid", setting=dotted, error=describe_error(ctx, error)
        )
        return answer(event, f"{text}\n{usage(ctx, 'config')}")
    await save_override(
        ctx.store.session,
        community=community,
        chat=chat,
        feature=feature,
        name=name,
        value=value,
        set_by=author,
        at=ctx.now,
    )
    scope = locale.t("moderation.scope_community") if community_wide else event.chat
    outcome = Outcome()
    await mod_log(
        ctx,
        outcome,
        actor=author,
        action="config_set",
        detail=f"{dotted} = {_toml(value)} ({chat or 'community'})",
        message_id=event.message_id,
        post=ctx.settings.post_mod_log,
        extra={"key": dotted, "value": value, "chat": chat},
    )
    outcome.actions.insert(
        0,
        reply(
            event,
            locale.t("moderation.config_done", setting=dotted, value=_toml(value), scope=scope),
        ),
    )
    return outcome
