"""The summary rendered: chat text, Markdown, HTML, JSON, the chart, and ``leumund summary``."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
import tomllib
from dataclasses import fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.features.summary import WeeklySummary
from bot.features.summary.chart import ChartError, ChartProcess, render_apart, render_chart
from bot.features.summary.cli import summary_command, write_reports
from bot.features.summary.compute import MemberCount
from bot.features.summary.render import (
    duration,
    number,
    render_html,
    render_json,
    render_markdown,
    render_text,
)
from bot.locales import get_locale
from storage.db import Database
from tests.bot.features.test_summary import EXPECTED, NOW, build_week
from tests.conftest import MakeApp

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR is always the first chunk)."""
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize(
    ("language", "lines"),
    [
        (
            "de",
            [
                "📊 Wochenrückblick demo · 2026-W47",
                "16.11.2026 – 22.11.2026 (Europe/Berlin)",
                "Nachrichten: 17 (+325 % zur Vorwoche)",
                "Aktive Mitglieder: 5 (+66,7 % zur Vorwoche), neu: 2",
                "Dialog-Index: 52,9 % der Nachrichten waren Antworten, Erwähnungen oder "
                "bekamen eine Antwort",
                "Am meisten im Gespräch: Ben (4), Anna (3)",
                "• 🥇 Cem: +3 Karma",
                "• 🥈 Finn: +2,5 Karma · meistgedankt: https://t.me/c/555/900 (1×), "
                "console:general#102 (1×)",
                "• 🥉 Ben: +2 Karma · meistgedankt: console:general#3 (2×), "
                "console:general#13 (1×)",
                "• 4. Anna: +1 Karma · meistgedankt: console:general#8 (1×)",
                "Karma vergeben: 8 in 7 Vergaben von 5 Mitgliedern",
                "Von Fairness-Regeln gestoppt: 3 (Eigenlob 2, Wartezeit 1)",
                "Länger als 24 h ohne Antwort: 4 von 6 Fragen",
                "• console:general#104",
                "• console:help#18",
                "Beschwerden: 3 (leicht 2, mittel 0, schwer 1)",
                "Erste Antwort eines Menschen: Median 45 min, 90 % innerhalb 2 h (4 Fälle)",
                "Fälle offen: 3, überfällig: 2, diese Woche eskaliert: 1",
                "Markierungen: 3 (2 Mitglieder), bestätigt: 1, verworfen: 2, "
                "freundlich angestupst: 1",
                "Verwarnungen: 2, Einsprüche: 1",
                "Mod-Log: 5 Aktionen (Verwarnungen 2, Einsprüche 1, Karma gegeben 1, "
                "Werbung bestätigt 1)",
            ],
        ),
        (
            "en",
            [
                "📊 Weekly summary of demo · 2026-W47",
                "2026-11-16 – 2026-11-22 (Europe/Berlin)",
                "Messages: 17 (+325% on the week before)",
                "Active members: 5 (+66.7% on the week before), new: 2",
                "Dialogue index: 52.9% of messages were replies, mentions or got a reply",
                "Most in conversation: Ben (4), Anna (3)",
                "• 🥇 Cem: +3 karma",
                "• 🥈 Finn: +2.5 karma · most thanked: https://t.me/c/555/900 (1×), "
                "console:general#102 (1×)",
                "• 4. Anna: +1 karma · most thanked: console:general#8 (1×)",
                "Karma given: 8 in 7 awards from 5 members",
                "Stopped by fair rules: 3 (self-karma 2, cooldown 1)",
                "Unanswered for more than 24 h: 4 of 6 questions",
                "Complaints: 3 (low 2, medium 0, high 1)",
                "First human response: median 45 min, 90% within 2 h (4 cases)",
                "Cases open: 3, overdue: 2, escalated this week: 1",
                "Flags: 3 (2 members), confirmed: 1, dismissed: 2, nudged: 1",
                "Warnings: 2, appeals: 1",
                "Mod log: 5 actions (warnings 2, appeals 1, karma given 1, promotion confirmed 1)",
            ],
        ),
    ],
)
def test_the_chat_text_in_both_languages(language: str, lines: list[str]) -> None:
    text = render_text(EXPECTED, get_locale(language))
    got = text.split("\n")
    for line in lines:
        assert line in got
    assert "summary." not in text  # no text key is missing
    assert not re.search(r"[*_`<]", text)  # plain text: no markup for Telegram to show


@pytest.mark.parametrize(
    ("language", "lines"),
    [
        (
            "de",
            [
                "Erste Antwort eines Menschen: Median 45 min, 90 % innerhalb 2 h (1 Fall)",
                "Markierungen: 3 (1 Mitglied), bestätigt: 1, verworfen: 2, "
                "freundlich angestupst: 1",
                "Mod-Log: 1 Aktion (Verwarnungen 1)",
            ],
        ),
        (
            "en",
            [
                "First human response: median 45 min, 90% within 2 h (1 case)",
                "Flags: 3 (1 member), confirmed: 1, dismissed: 2, nudged: 1",
                "Mod log: 1 action (warnings 1)",
            ],
        ),
    ],
)
def test_one_of_a_kind_is_counted_in_the_singular(language: str, lines: list[str]) -> None:
    one = replace(EXPECTED, first_responses=1, flagged_members=1, moderation_actions={"warn": 1})
    got = render_text(one, get_locale(language)).split("\n")
    for line in lines:
        assert line in got


@pytest.mark.parametrize(
    ("language", "lines"),
    [
        (
            "de",
            [
                "Aktive Mitglieder: 5 (keine Vorwoche zum Vergleich), neu: 0",
                "Dialog-Index: – (keine Nachrichten)",
                "Diese Woche noch kein Karma.",
                "Von Fairness-Regeln gestoppt: 0",
                "Erste Antwort eines Menschen: noch keine gemessen",
                "Mod-Log: keine Aktionen",
            ],
        ),
        (
            "en",
            [
                "Active members: 5 (no previous week to compare), new: 0",
                "Dialogue index: – (no messages)",
                "No karma this week yet.",
                "Stopped by fair rules: 0",
                "First human response: none measured yet",
                "Mod log: no actions",
            ],
        ),
    ],
)
def test_empty_parts_say_so(language: str, lines: list[str]) -> None:
    quiet = replace(
        EXPECTED,
        active_members_trend_pct=None,
        new_members=0,
        dialogue_pct=None,
        helpers=(),
        karma_given=0.0,
        karma_awards=0,
        karma_givers=0,
        karma_blocks=0,
        blocks_by_rule={},
        first_response_median_minutes=None,
        first_response_p90_minutes=None,
        moderation_actions={},
    )
    got = render_text(quiet, get_locale(language)).split("\n")
    for line in lines:
        assert line in got


@pytest.mark.parametrize("language", ["de", "en"])
def test_karma_to_members_who_hide_it_is_not_called_no_karma(language: str) -> None:
    # The only helpers opted out of being shown: the awards still happened.
    hidden = replace(EXPECTED, helpers=())
    assert hidden.karma_awards > 0
    got = render_text(hidden, get_locale(language)).split("\n")
    locale = get_locale(language)
    assert locale.t("summary.helpers_hidden") in got
    assert locale.t("summary.helpers_empty") not in got


HOSTILE = "<b>__Bo*b__</b> @everyone"


@pytest.mark.parametrize("language", ["de", "en"])
def test_names_are_escaped_in_markdown_and_html(language: str) -> None:
    odd = replace(EXPECTED, top_dialogue=(MemberCount("console:x", HOSTILE, 1),))
    markdown = render_markdown(odd, get_locale(language))
    page = render_html(odd, get_locale(language), None)
    assert r"**\<b\>\_\_Bo\*b\_\_\</b\> @everyone** (1)" in markdown
    assert "<strong>&lt;b&gt;__Bo*b__&lt;/b&gt; @everyone</strong> (1)" in page
    assert "<b>" not in page
    # The chat text is plain: the name as typed, but its "@" pings nobody.
    text = render_text(odd, get_locale(language))
    assert "<b>__Bo*b__</b> @\u200beveryone (1)" in text
    assert "@everyone" not in text


@pytest.mark.parametrize(
    ("language", "heading", "notes"),
    [
        ("de", "## 💬 Aktivität", "## So wird gezählt"),
        ("en", "## 💬 Activity", "## How it is counted"),
    ],
)
def test_markdown_report(language: str, heading: str, notes: str) -> None:
    markdown = render_markdown(EXPECTED, get_locale(language))
    assert markdown.startswith(f"# {render_text(EXPECTED, get_locale(language)).split(chr(10))[0]}")
    assert heading in markdown and notes in markdown
    assert "[telegram:-100555\\#900](https://t.me/c/555/900)" in markdown
    assert "- `console:help#18`" in markdown
    # a list is followed by a blank line, so the next paragraph is not part of the list
    assert "(1×)\n\n" in markdown


@pytest.mark.parametrize(
    ("language", "alt"), [("de", "Nachrichten und Karma"), ("en", "Messages and karma")]
)
def test_html_report_is_self_contained_and_fits_a_phone(language: str, alt: str) -> None:
    chart = render_chart(EXPECTED, get_locale(language))
    page = render_html(EXPECTED, get_locale(language), chart)
    assert page.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "max-width: 42rem" in page and "system-ui" in page
    embedded = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"', page)
    assert embedded is not None and base64.b64decode(embedded.group(1)) == chart
    assert embedded.group(2).startswith(alt)
    assert "http" not in page.replace("https://t.me/c/555/900", "")  # nothing loaded from outside
    assert '<a href="https://t.me/c/555/900">telegram:-100555#900</a>' in page


def test_json_has_every_number() -> None:
    data: dict[str, Any] = json.loads(render_json(EXPECTED))
    assert set(data) == {f.name for f in fields(WeeklySummary)}
    assert data["start"] == "2026-11-16T00:00:00+01:00"
    assert (data["messages"], data["dialogue_pct"], data["karma_given"]) == (17, 52.9, 8.0)
    assert data["helpers"][1] == {
        "member": "telegram:77",
        "name": "Finn",
        "points": 2.5,
        "awards": 2,
        "answers": [
            {
                "link": {
                    "ref": "telegram:-100555#900",
                    "chat": "telegram:-100555",
                    "message_id": "900",
                    "url": "https://t.me/c/555/900",
                },
                "thanks": 1,
                "points": 2.0,
            },
            {
                "link": {
                    "ref": "console:general#102",
                    "chat": "console:general",
                    "message_id": "102",
                    "url": None,
                },
                "thanks": 1,
                "points": 0.5,
            },
        ],
    }
    assert data["unanswered"][0] == {
        "link": {
            "ref": "console:general#104",
            "chat": "console:general",
            "message_id": "104",
            "url": None,
        },
        "at": "2026-11-15T23:30:00+01:00",
    }
    assert data["blocks_by_rule"] == {"self": 2, "cooldown": 1}
    assert data["daily_messages"] == [4, 3, 2, 2, 1, 3, 2]
    assert data["messages_trend_pct"] == 325.0 and data["first_response_p90_minutes"] == 120.0


def test_the_chart_is_a_deterministic_png() -> None:
    german = render_chart(EXPECTED, get_locale("de"))
    assert german == render_chart(EXPECTED, get_locale("de"))
    assert png_size(german) == (800, 640)
    assert 10_000 < len(german) < 200_000
    english = render_chart(EXPECTED, get_locale("en"))
    assert english != german  # the labels are in the community's language
    other = render_chart(replace(EXPECTED, daily_messages=(0, 0, 0, 0, 0, 0, 40)), get_locale("de"))
    assert other != german


async def test_the_chart_process_draws_the_same_png() -> None:
    for language in ("de", "en"):
        apart = await render_apart(EXPECTED, language)
        assert apart == render_chart(EXPECTED, get_locale(language))


async def test_a_chart_process_started_ahead_draws_the_same_png() -> None:
    ahead = await ChartProcess.start()
    await asyncio.sleep(0.5)  # as while the week is read: it imports matplotlib meanwhile
    assert ahead.running
    image = await render_apart(EXPECTED, "en", process=ahead)
    assert image == render_chart(EXPECTED, get_locale("en")) and not ahead.running
    unused = await ChartProcess.start()
    await unused.close()  # the week was empty: no chart, and no process left behind
    assert not unused.running


async def test_a_chart_process_that_cannot_start_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("bot.features.summary.chart.sys.executable", str(tmp_path / "gone"))
    with pytest.raises(ChartError, match=r"the chart process did not start: .*gone"):
        await ChartProcess.start()


async def test_a_failing_chart_process_says_why() -> None:
    with pytest.raises(ChartError, match=r"failed \(exit 1\): ValueError: invalid literal"):
        await render_apart(replace(EXPECTED, week="2026-Wxx"), "de")
    with pytest.raises(ChartError, match=r"gave no image within 0\.01 s"):
        await render_apart(EXPECTED, "de", seconds=0.01)


@pytest.mark.parametrize(
    ("value", "language", "text"),
    [
        (1234.5, "de", "1.234,5"),
        (1234.5, "en", "1,234.5"),
        (2.0, "de", "2"),
        (2.25, "en", "2.25"),
        (0.1 + 0.2, "de", "0,3"),
        (-0.001, "en", "0"),
    ],
)
def test_numbers(value: float, language: str, text: str) -> None:
    assert number(value, language) == text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0.4, "< 1 min"),
        (45.0, "45 min"),
        (60.0, "1 h"),
        (125.4, "2 h 5 min"),
        (1505.0, "25 h 5 min"),
    ],
)
def test_durations(minutes: float, text: str) -> None:
    assert duration(minutes) == text


def _keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        found |= _keys(value, path) if isinstance(value, dict) else {path}
    return found


def test_both_languages_have_the_same_texts() -> None:
    folder = resources.files("bot.locales")
    de, en = (
        tomllib.loads(folder.joinpath(lang, "summary.toml").read_text("utf-8"))
        for lang in ("de", "en")
    )
    assert _keys(de) == _keys(en)
    assert len(de["texts"]["summary"]["chart"]["weekdays"]) == 7


# --- leumund summary ------------------------------------------------------------------------


async def _fill(url: str) -> None:
    db = Database(url)
    try:
        await db.prepare()
        async with db.session() as session:
            await build_week(session)
    finally:
        await db.dispose()


@pytest.fixture
def filled(tmp_path: Path) -> str:
    """A SQLite file with the hand-counted week."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'leumund.db'}"
    asyncio.run(_fill(url))
    return url


def run(*args: str) -> Any:
    return CliRunner().invoke(summary_command, list(args))


@pytest.mark.parametrize("fmt", ["md", "html", "png", "json"])
def test_cli_writes_every_format(filled: str, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    result = run(
        "--community",
        "demo",
        "--week",
        "2026-W47",
        "--format",
        fmt,
        "--out",
        str(out),
        "--db",
        filled,
    )
    assert result.exit_code == 0, result.output
    assert f"written to {out}" in result.stderr
    data = out.read_bytes()
    if fmt == "png":
        assert png_size(data) == (800, 640) and len(data) > 10_000
    elif fmt == "html":
        page = data.decode("utf-8")
        assert "data:image/png;base64," in page and "Wochenrückblick demo · 2026-W47" in page
    elif fmt == "json":
        parsed = json.loads(data)
        assert (parsed["week"], parsed["messages"], parsed["active_members"]) == ("2026-W47", 17, 5)
        assert [h["name"] for h in parsed["helpers"]] == ["Cem", "Finn", "Ben", "Anna"]
    else:
        text = data.decode("utf-8")
        assert text.startswith("# 📊 Wochenrückblick demo · 2026-W47\n")
        assert "Nachrichten: 17 (+325 % zur Vorwoche)" in text
    for hidden in (b"Dora", b"Eve", b"Helferbot"):
        assert hidden not in data


def test_cli_infers_the_format_and_prints_to_stdout(filled: str, tmp_path: Path) -> None:
    out = tmp_path / "week.HTML"
    result = run("--week", "2026-w47", "--out", str(out), "--db", filled)
    assert result.exit_code == 0, result.output
    assert out.read_text("utf-8").startswith("<!DOCTYPE html>")
    result = run("--week", "2026-W47", "--lang", "en", "--db", filled)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# 📊 Weekly summary of demo · 2026-W47\n")


def test_cli_reads_a_config_file(filled: str, tmp_path: Path) -> None:
    config = tmp_path / "leumund.toml"
    config.write_text(
        f'[bot]\ndatabase_url = "{filled}"\n\n'
        '[[communities]]\nname = "radler"\nlanguage = "en"\ntimezone = "UTC"\n'
        'console_chats = ["general"]\n\n'
        '[[communities]]\nname = "other"\nconsole_chats = ["x"]\n',
        encoding="utf-8",
    )
    result = run(
        "--config", str(config), "--community", "radler", "--week", "2026-W47", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    # the rows belong to community "demo": radler's week is empty, in UTC
    assert (parsed["community"], parsed["messages"], parsed["timezone"]) == ("radler", 0, "UTC")
    assert parsed["start"] == "2026-11-16T00:00:00+00:00"
    result = run("--config", str(config), "--week", "2026-W47")
    assert result.exit_code == 2
    assert "several communities (radler, other)" in result.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--community", "nope"], 2, "unknown community 'nope'; the config has: demo"),
        (["--week", "2026-47"], 2, "'2026-47' is not an ISO week; write it like 2026-W47"),
        (["--week", "2025-W53"], 2, "2025 has no ISO week 53"),
        (["--format", "png"], 2, "the png format needs a file"),
        (["--format", "pdf"], 2, "'pdf' is not one of"),
    ],
)
def test_cli_refuses_bad_options_clearly(
    filled: str, args: list[str], code: int, message: str
) -> None:
    result = run(*args, "--db", filled)
    assert result.exit_code == code
    assert message in result.output


def test_cli_refuses_a_missing_or_empty_database(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = run("--db", f"sqlite+aiosqlite:///{missing}")
    assert result.exit_code == 1
    assert f"cannot summarise: there is no database at {missing}" in result.stderr
    assert not missing.exists()  # nothing was created
    empty = tmp_path / "empty.db"
    empty.touch()
    result = run("--db", f"sqlite+aiosqlite:///{empty}")
    assert result.exit_code == 1
    assert "the database is empty" in result.stderr


def test_cli_reports_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[bot]\nlanguage = "fr"\n', encoding="utf-8")
    result = run("--config", str(config))
    assert result.exit_code == 2
    assert "bot.language: must be" in result.stderr


def test_cli_says_when_it_cannot_write(filled: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = run("--week", "2026-W47", "--out", str(blocker / "report.md"), "--db", filled)
    assert result.exit_code == 1
    assert f"cannot write {blocker / 'report.md'}" in result.stderr


@pytest.mark.parametrize(
    ("language", "title"), [("de", "Wochenrückblick"), ("en", "Weekly summary")]
)
async def test_write_reports_for_the_demo(
    make_app: MakeApp, tmp_path: Path, language: str, title: str
) -> None:
    app = await make_app(language=language)
    community = app.config.community("demo")
    assert community is not None
    async with app.db.session() as session:
        await build_week(session)
    async with app.db.session() as session:
        written = await write_reports(session, community, "2026-W47", NOW, tmp_path / "out")
    assert written.text == render_text(EXPECTED, get_locale(language))
    assert [p.name for p in (written.html, written.png, written.json)] == [
        "summary-demo-2026-W47.html",
        "summary-demo-2026-W47.png",
        "summary-demo-2026-W47.json",
    ]
    assert title in written.html.read_text("utf-8")
    assert png_size(written.png.read_bytes()) == (800, 640)
    assert json.loads(written.json.read_text("utf-8"))["messages"] == 17
