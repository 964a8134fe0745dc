"""Level-ups: announced once per level and person, with a Discord role where configured."""

from __future__ import annotations

from bot.actions import Action, Reply, SetRole
from bot.features.base import Context, Decision, Outcome
from bot.features.karma.link import FEATURE, Profile
from bot.features.karma.settings import KarmaSettings, level_index


def level_text(ctx: Context[KarmaSettings], index: int) -> str:
    """The display name of a level, translated for the default levels."""
    name = ctx.settings.levels[index].name
    key = f"karma.levels.{name}"
    text = ctx.locale.t(key)
    return name if text == key else text


async def check_level(
    ctx: Context[KarmaSettings],
    profile: Profile,
    chat: str,
    message_id: str | None,
    *,
    before: float | None = None,
    after: float | None = None,
) -> Outcome:
    """Announce a level the member reached for the first time (never a step down).

    With the totals ``before`` and ``after`` a change known, nothing is read unless the
    change crossed a threshold.
    """
    levels = ctx.settings.levels
    if len(levels) < 2:
        return Outcome()
    if after is None:
        total = await ctx.store.karma.total(ctx.community.name, profile.all_keys)
    else:
        total = after
    reached = level_index(levels, total)
    if reached == 0 or (before is not None and level_index(levels, before) >= reached):
        return Outcome()
    state_key = f"level:{profile.identity}"
    announced = int(await ctx.store.state.get(FEATURE, ctx.community.name, state_key, 0))
    if reached <= announced:
        return Outcome()
    await ctx.store.state.set(FEATURE, ctx.community.name, state_key, reached, ctx.now)
    name = level_text(ctx, reached)
    decision = Decision(
        "karma_level",
        message_id,
        {"member": profile.key, "level": levels[reached].name, "total": round(total, 2)},
    )
    actions: list[Action] = []
    if ctx.settings.announce_levels:
        actions.append(
            Reply(chat=chat, text=ctx.locale.t("karma.level_up", name=profile.name, level=name))
        )
    role = levels[reached].discord_role
    if role and chat.startswith("discord:") and profile.key.startswith("discord:"):
        old = levels[announced].discord_role
        if old and old != role:
            actions.append(SetRole(chat=chat, member=profile.key, role=old, add=False))
        actions.append(SetRole(chat=chat, member=profile.key, role=role))
    return Outcome(actions=actions, decisions=[decision])
