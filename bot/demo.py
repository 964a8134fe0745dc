"""``leumund demo``: the bundled sample community replayed, and what the bot did, readably."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from bot.actions import Action, describe
from bot.app import App, default_config
from bot.commands import parse_command
from bot.events import (
    ButtonPressed,
    CommandIssued,
    Event,
    Member,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    Tick,
)
from bot.features.summary import IsoWeek
from bot.features.summary.cli import write_reports
from bot.locales import get_locale
from bot.replay import replay

SAMPLE = "sample_community.jsonl"
PLATFORM = "chat"


def sample_lines() -> list[bytes]:
    """The bundled sample conversation, line by line."""
    data = resources.files("bot").joinpath("data", SAMPLE).read_bytes()
    return data.splitlines(keepends=True)


def _who(key: str) -> str:
    return key.partition(":")[2] or key


class Transcript:
    """Prints each event that made the bot do or decide something."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.texts: dict[str, str] = {}
        self.shown = 0

    def __call__(
        self, line: int, event: Event, actions: list[Action], logged: list[dict[str, Any]]
    ) -> None:
        if isinstance(event, MessagePosted):
            self.texts[event.message_id] = event.text
        if not actions and not logged:
            return
        self.shown += 1
        self.out.print(f"[dim]{event.at:%a %H:%M}[/dim] {self._event(event)}", highlight=False)
        for decision in logged:
            text = self._decision(decision)
            if text:
                self.out.print(f"    [cyan]→[/cyan] {text}", highlight=False)
        for action in actions:
            self.out.print(f"    [green]🤖[/green] {escape(describe(action))}", highlight=False)

    def _event(self, event: Event) -> str:
        chat = event.chat.partition(":")[2]
        match event:
            case MessagePosted(author=author, text=text, message_id=mid):
                return f"#{chat} {mid} [bold]{escape(author.name)}[/bold]: {escape(_short(text))}"
            case ReactionAdded(user=user, emoji=emoji, message_id=mid):
                return f"#{chat} [bold]{escape(user.name)}[/bold] reacts {emoji} to {mid}"
            case ReactionRemoved(user=user, emoji=emoji, message_id=mid):
                return f"#{chat} [bold]{escape(user.name)}[/bold] takes back {emoji} on {mid}"
            case Tick():
                return "[dim]the scheduler ticks[/dim]"
            case CommandIssued(author=author, name=name, args=args):
                command = escape(f"/{name} {' '.join(args)}")
                return f"#{chat} [bold]{escape(author.name)}[/bold]: {command}"
        return event.kind

    def _decision(self, d: dict[str, Any]) -> str:
        kind = d["kind"]
        if kind == "reply":
            return ""  # the reply itself is printed as an action
        if kind == "karma":
            return (
                f"[green]+{d['points']:g} karma[/green] {_who(d['receiver'])} "
                f"(from {_who(str(d['giver']))}, {d['reason']})"
            )
        if kind == "karma_blocked":
            # No receiver when the thanks could not be pinned on one helper (ambiguous).
            receiver = d.get("receiver")
            whom = f" {_who(str(receiver))}" if receiver else ""
            return f"[yellow]no karma[/yellow]{whom}: rule [bold]{d['rule']}[/bold]"
        if kind == "promo":
            signals = ", ".join(d["signals"])
            return f"[red]promo flag[/red] {_who(d['user'])} score {d['score']:.2f}: {signals}"
        if kind == "complaint":
            return f"[magenta]complaint[/magenta] ({d['severity']}) score {d['score']:.2f}"
        if kind == "mod_action":
            # Like the log chat's line: automatic actions have no actor, most no case.
            actor, target, case = d.get("actor"), d.get("target"), d.get("case")
            line = f"[blue]mod log[/blue] {d['action']} by {_who(actor) if actor else 'the bot'}"
            line += f" → {_who(str(target))}" if target else ""
            return line + (f" #{case}" if case is not None else "")
        rest = {k: v for k, v in d.items() if k not in ("kind", "message_id")}
        return escape(f"{kind}: {rest}")


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


async def _name(app: App, key: str) -> str:
    from storage.repositories import Store

    async with app.db.session() as session:
        return (await Store(session).members.names([key]))[key]


async def ask(
    app: App, community: str, who: str, text: str, chat: str = "help", *, at: Any
) -> list[Action]:
    """Ask the bot a command as a member of the sample community."""
    parsed = parse_command(text)
    assert parsed is not None, text
    event = CommandIssued(
        key=f"demo:{who}:{text}:{at.isoformat()}",
        community=community,
        chat=f"{PLATFORM}:{chat}",
        at=at,
        name=parsed.name,
        args=parsed.args,
        author=Member(
            key=f"{PLATFORM}:{who}", name=await _name(app, f"{PLATFORM}:{who}"), username=who
        ),
    )
    return await app.engine.handle(event)


async def run_demo(out_dir: Path, language: str, out: Console) -> int:
    """Replay the sample and print what happened; returns the exit status."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="leumund-demo-") as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/demo.db"
        config = default_config(url, language=language)
        app = await App.create(config)
        try:
            return await _demo(app, out_dir, out)
        finally:
            await app.close()


async def _demo(app: App, out_dir: Path, out: Console) -> int:
    community = app.config.default_community().name
    out.print(Rule("Leumund demo: a week in a sample community"))
    out.print(
        "Every message the bot acted on, with its decisions (→) and its actions (🤖).\n",
        highlight=False,
    )
    transcript = Transcript(out)
    stats = await replay(app, sample_lines(), observer=transcript)
    out.print()
    out.print(Rule("What the bot counted"))
    out.print(
        f"{stats.messages} messages, {stats.reactions} reactions, {stats.commands} commands "
        f"replayed in {stats.seconds:.1f} s; {len(stats.errors)} bad lines.",
        highlight=False,
    )
    for kind, count in sorted(stats.decisions.items()):
        out.print(f"  {kind}: {count}", highlight=False)
    for rule, count in sorted(stats.blocks.items()):
        out.print(f"  karma blocked by rule '{rule}': {count}", highlight=False)

    last = app.config.default_community()
    async with app.db.session() as session:
        from storage.repositories import Store

        totals = await Store(session).karma.totals(last.name)
    at = _after_sample() + timedelta(minutes=1)
    out.print()
    out.print(Rule("Members ask the bot"))
    questions = [("anna", "/top week"), ("ole", "/karma")]
    if totals:
        best = max(totals, key=lambda k: (totals[k], k))
        questions.append(("anna", f"/karma why @{_who(best)}"))
    for who, question in questions:
        at = await _show(app, out, community, who, question, at)

    out.print()
    out.print(Rule("A moderator session"))
    at = await _show(app, out, community, "mod", "/flags", at, chat="mods")
    promo_case = await _open_case(app, community, "promo")
    if promo_case is not None:
        label = get_locale(app.config.default_community().language).t("promo.button_confirm")
        out.print(
            f"[bold]mod[/bold] presses \\[{escape(label)}] under case #{promo_case}",
            highlight=False,
        )
        press = ButtonPressed(
            key=f"demo:button:{promo_case}",
            community=community,
            chat=f"{PLATFORM}:mods",
            at=at,
            custom_id=f"case:{promo_case}:confirm",
            user=Member(
                key=f"{PLATFORM}:mod", name=await _name(app, f"{PLATFORM}:mod"), username="mod"
            ),
        )
        for action in await app.engine.handle(press):
            out.print(f"  🤖 {escape(describe(action))}", highlight=False)
        at += timedelta(minutes=1)
    for question in (
        "/karma give @ole 3 Werkstatt-Anleitung im Wiki",
        "/config set karma.pair_cooldown_minutes 20",
        "/config show karma",
        "/cases all",
    ):
        at = await _show(app, out, community, "mod", question, at, chat="mods")

    out.print()
    out.print(Rule("Monday morning: scheduled work"))
    monday = _next_monday_9(at, app.config.default_community().timezone)
    tick = Tick(key=f"demo:tick:{monday.isoformat()}", community=community, chat="", at=monday)
    out.print(f"[dim]{monday:%a %Y-%m-%d %H:%M} UTC[/dim] the scheduler ticks", highlight=False)
    result = await app.engine.process(tick)
    for decision in (d.as_json() for d in result.decisions):
        text = transcript._decision(decision)
        if text:
            out.print(f"    [cyan]→[/cyan] {text}", highlight=False)
    for action in result.actions:
        out.print(f"  🤖 {escape(describe(action))}", highlight=False)

    last = app.config.default_community()
    week = IsoWeek.of(monday - timedelta(days=1), last.timezone).label
    async with app.db.session() as session:
        written = await write_reports(session, last, week, monday, out_dir)
    out.print()
    out.print(Rule("Reports for the owners"))
    out.print(f"HTML report of {week}: {written.html}", highlight=False)
    out.print(f"Chart:                 {written.png}", highlight=False)
    return 1 if stats.errors else 0


def _next_monday_9(after: Any, timezone: str) -> Any:
    """The next Monday 09:05 in the community's time zone, in UTC."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    local = after.astimezone(ZoneInfo(timezone))
    days = (7 - local.weekday()) % 7 or 7
    monday = datetime.combine(
        (local + timedelta(days=days)).date(), datetime.min.time(), ZoneInfo(timezone)
    )
    return (monday + timedelta(hours=9, minutes=5)).astimezone(UTC)


async def _show(
    app: App, out: Console, community: str, who: str, text: str, at: Any, chat: str = "help"
) -> Any:
    out.print(f"[bold]{who}[/bold]: {escape(text)}", highlight=False)
    for action in await ask(app, community, who, text, chat, at=at):
        out.print(f"  🤖 {escape(describe(action))}", highlight=False)
    return at + timedelta(minutes=1)


async def _open_case(app: App, community: str, kind: str) -> int | None:
    from sqlmodel import col, select

    from storage.models import Case

    async with app.db.session() as session:
        stmt = (
            select(Case.id)
            .where(Case.community == community, Case.kind == kind, Case.status == "open")
            .order_by(col(Case.id))
        )
        return (await session.execute(stmt)).scalars().first()


def _after_sample() -> Any:
    import json

    last = sample_lines()[-1]
    from datetime import datetime

    return datetime.fromisoformat(json.loads(last)["ts"].replace("Z", "+00:00"))
