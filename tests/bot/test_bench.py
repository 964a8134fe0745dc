"""The benchmark: a deterministic, readable, realistic community, and an honest harness."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
import tracemalloc
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from adapters.imports import detect as notes
from adapters.imports.detect import Format, detect
from adapters.imports.jsonl import JsonlReader, LineError, LineEvent
from adapters.imports.telegram_export import TelegramExportReader
from bot import launch
from bot.bench import run as run_module
from bot.bench import synth
from bot.bench.run import (
    BenchOptions,
    _assemble,
    _budgeted,
    _import_child,
    _live_child,
    _Phases,
    _replay_postgres,
    _synth_json,
    floor,
    git_commit,
    main,
    offer,
    percentile,
    print_table,
    run_bench,
)
from bot.bench.synth import (
    SynthConfig,
    SynthStats,
    TelegramExportConfig,
    labelled,
    write_jsonl,
    write_telegram_export,
)
from bot.engine import Engine
from bot.events import CommandIssued, MessagePosted, ReactionAdded, ReactionRemoved
from bot.features.complaints import ComplaintsFeature
from bot.features.karma import KarmaFeature
from bot.features.promo import PromoFeature

SMALL = SynthConfig(lines=2000, members=300)


@pytest.fixture(scope="module")
def small() -> list[tuple[dict[str, Any], str, str]]:
    return list(labelled(SMALL))


# --- the generator -----------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    write_jsonl(first, SMALL)
    write_jsonl(second, SMALL)
    write_jsonl(other, replace(SMALL, seed=2))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert len(first.read_bytes().splitlines()) == 2000


def test_the_jsonl_reader_reads_every_line(tmp_path: Path) -> None:
    path = tmp_path / "community.jsonl"
    stats = write_jsonl(path, SMALL)
    items = list(JsonlReader(lambda _name: "demo").read(path.read_bytes().splitlines()))
    errors = [i for i in items if isinstance(i, LineError)]
    assert errors == []
    types = Counter(type(i.event).__name__ for i in items if isinstance(i, LineEvent))
    assert sum(types.values()) == 2000
    assert types["MessagePosted"] + types["CommandIssued"] == stats.messages
    assert types["ReactionAdded"] + types["ReactionRemoved"] == 2000 - stats.messages
    assert set(types) == {"MessagePosted", "CommandIssued", "ReactionAdded", "ReactionRemoved"}


def test_events_carry_replies_mentions_and_commands(small: list[Any]) -> None:
    reader = JsonlReader(lambda _name: "demo")
    events = [reader.parse(n, synth.dumps(r)) for n, (r, _k, _l) in enumerate(small, 1)]
    parsed = [e.event for e in events if isinstance(e, LineEvent)]
    assert len(parsed) == 2000
    posted = [e for e in parsed if isinstance(e, MessagePosted)]
    assert any(e.reply_to for e in posted)
    assert any(e.mentions and e.mentions[0].startswith("chat:u") for e in posted)
    assert {e.name for e in parsed if isinstance(e, CommandIssued)} <= {"karma", "top", "help"}
    assert any(isinstance(e, ReactionRemoved) for e in parsed)
    assert any(isinstance(e, ReactionAdded) and e.emoji == "👍" for e in parsed)


@pytest.mark.parametrize("reply_share", [0.25, 0.30, 0.45])
def test_reply_share_follows_the_config(reply_share: float) -> None:
    stats = SynthStats()
    for _ in synth.generate(replace(SMALL, lines=4000, reply_share=reply_share), stats):
        pass
    assert abs(stats.replies / stats.messages - reply_share) < 0.04


@pytest.mark.parametrize(
    ("field", "share", "kinds"),
    [
        ("reaction_share", 0.14, ("reaction", "reaction_removed")),
        ("reaction_share", 0.30, ("reaction", "reaction_removed")),
        ("command_share", 0.02, ("command",)),
    ],
)
def test_line_shares_follow_the_config(field: str, share: float, kinds: tuple[str, ...]) -> None:
    stats = SynthStats()
    for _ in synth.generate(replace(SMALL, lines=4000, **{field: share}), stats):
        pass
    got = sum(stats.kinds[k] for k in kinds) / stats.lines
    assert abs(got - share) < share * 0.25


def test_the_mix_has_every_kind_in_both_languages(small: list[Any]) -> None:
    kinds = Counter(kind for _r, kind, _l in small)
    expected = {
        "question",
        "answer",
        "smalltalk",
        "thanks_reply",
        "thanks_mention",
        "thanks_context",
        "complaint_low",
        "complaint_medium",
        "link",
        "promo",
        "reaction",
        "command",
    }
    assert expected <= set(kinds)
    languages = Counter(lang for r, _k, lang in small if r["type"] == "message")
    assert 0.5 < languages["de"] / (languages["de"] + languages["en"]) < 0.7


def test_time_stamps_rise_over_several_weeks(small: list[Any]) -> None:
    stamps = [datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) for r, _k, _l in small]
    assert stamps == sorted(stamps)
    assert 30 <= (stamps[-1] - stamps[0]).days <= 50


def test_promoters_cross_post_the_same_advert(small: list[Any]) -> None:
    chats: dict[tuple[str, str], set[str]] = {}
    for record, kind, _lang in small:
        if kind == "promo":
            chats.setdefault((record["author"]["id"], record["text"]), set()).add(record["chat"])
    assert chats
    assert max(len(c) for c in chats.values()) >= 2


def test_thanks_come_from_the_asker_to_the_answerer(small: list[Any]) -> None:
    by_id = {r["id"]: r for r, _k, _l in small if r["type"] == "message"}
    replies = [r for r, kind, _l in small if kind == "thanks_reply"]
    assert replies
    for thanks in replies:
        answer = by_id[thanks["reply_to"]]
        question = by_id[answer["reply_to"]]
        assert thanks["author"]["id"] == question["author"]["id"] != answer["author"]["id"]


COMPLAINTS = [
    (lang, severity, text)
    for lang, levels in synth.COMPLAINTS.items()
    for severity, texts in levels.items()
    for text in texts
]


@pytest.mark.parametrize(("lang", "severity", "text"), COMPLAINTS)
def test_complaint_templates_have_their_severity(lang: str, severity: str, text: str) -> None:
    verdict = ComplaintsFeature().analyse(text, None)["complaint"]
    assert (verdict["is"], verdict["severity"]) == (True, severity)


@pytest.mark.parametrize(
    ("lang", "kind", "thanks", "complaint"),
    [
        ("de", "thanks_reply", True, False),
        ("en", "thanks_reply", True, False),
        ("de", "thanks_mention", True, False),
        ("en", "thanks_mention", True, False),
        ("de", "thanks_context", True, False),
        ("en", "thanks_context", True, False),
        ("de", "smalltalk", False, False),
        ("en", "smalltalk", False, False),
    ],
)
def test_generated_texts_are_what_they_claim(
    small: list[Any], lang: str, kind: str, thanks: bool, complaint: bool
) -> None:
    texts = {r["text"] for r, k, lg in small if k == kind and lg == lang}
    assert texts
    karma, complaints = KarmaFeature(), ComplaintsFeature()
    assert {karma.analyse(t, None)["thanks"]["is"] for t in texts} == {thanks}
    assert {complaints.analyse(t, None)["complaint"]["is"] for t in texts} == {complaint}


@pytest.mark.parametrize(("lang", "suffix"), sorted(synth.QUESTION_SUFFIX.items()))
def test_thanks_in_advance_is_no_thanks(small: list[Any], lang: str, suffix: str) -> None:
    asked = [r["text"] for r, k, lg in small if k == "question" and lg == lang]
    ahead = [t for t in asked if t.endswith(suffix)]
    assert ahead and len(ahead) < len(asked)
    assert {KarmaFeature().analyse(t, None)["thanks"]["is"] for t in ahead} == {False}


@pytest.mark.parametrize("lang", ["de", "en"])
def test_adverts_score_as_promotion(lang: str) -> None:
    feature = PromoFeature()
    for template in synth.PROMO_POSTS[lang]:
        text = template.format(n=50, url="https://bit.ly/k3xq9ab")
        assert feature.analyse(text, None)["promo"]["is"] is True
    for template in synth.QUESTIONS[lang][:3]:
        text = template.format(how="x", hello="Hi")
        assert feature.analyse(text, None)["promo"]["is"] is False


# --- the Telegram export ----------------------------------------------------------------

TELEGRAM = TelegramExportConfig(messages=1500, community=replace(SMALL, seed=3))


def test_the_export_is_deterministic(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    write_telegram_export(first, TELEGRAM)
    write_telegram_export(second, TELEGRAM)
    community = replace(TELEGRAM.community, seed=4)
    write_telegram_export(other, replace(TELEGRAM, community=community))
    assert first.read_bytes() == second.read_bytes() != other.read_bytes()


def test_the_export_holds_what_a_telegram_desktop_export_holds(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    written = write_telegram_export(path, TELEGRAM)
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = data["messages"]
    assert (data["type"], len(entries), written.messages) == ("private_supergroup", 1500, 1500)
    assert written.bytes == path.stat().st_size
    assert [e["id"] for e in entries] == list(range(1, 1501))
    stamps = [int(e["date_unixtime"]) for e in entries]
    assert stamps == sorted(stamps)
    plain = [e for e in entries if e["type"] == "message" and isinstance(e["text"], str)]
    listed = [e for e in entries if isinstance(e["text"], list)]
    assert plain and len(listed) == written.entity_texts > 0
    kinds = {p["type"] for e in listed for p in e["text"] if isinstance(p, dict)}
    assert {"link", "mention", "mention_name", "bold", "bot_command"} <= kinds
    joins = [e for e in entries if e["type"] == "service"]
    assert len(joins) == written.joins > 0
    assert {e["action"] for e in joins} == {"join_group_by_link"}
    replies = [e for e in entries if "reply_to_message_id" in e]
    assert len(replies) == written.replies > 0
    assert all(e["reply_to_message_id"] < e["id"] for e in replies)
    assert sum("forwarded_from" in e for e in entries) == written.forwarded > 0
    assert sum("inline_bot_buttons" in e for e in entries) == written.bot_posts
    reactions = [r for e in entries for r in e.get("reactions", ())]
    assert reactions and all(len(r["recent"]) <= r["count"] > 0 for r in reactions)
    assert all(len(r["recent"]) <= TELEGRAM.recent_limit for r in reactions)
    assert written.posts + written.joins + written.commands + written.bot_posts == 1500


def test_the_importer_reads_the_export_as_the_generator_says(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    written = write_telegram_export(path, TELEGRAM)
    assert detect(path) is Format.TELEGRAM
    reader = TelegramExportReader(lambda _chat: "demo")
    items = list(reader.read(path))
    assert [i for i in items if isinstance(i, LineError)] == []
    kinds = Counter(i.event.kind for i in items if isinstance(i, LineEvent))
    assert kinds == {
        "MessagePosted": written.posts,
        "MemberJoined": written.joins,
        "ReactionAdded": written.reactions,
    }
    assert reader.counts[notes.UNATTRIBUTED] == written.unattributed > 0
    assert reader.counts[notes.FORWARDED] == written.forwarded
    assert reader.counts[notes.EDITED] == written.edited > 0
    assert reader.counts[notes.COMMANDS] == written.commands


def test_the_export_is_written_as_it_is_generated(tmp_path: Path) -> None:
    def peak(messages: int) -> int:
        config = replace(TELEGRAM, messages=messages, window=50)
        tracemalloc.start()
        try:
            write_telegram_export(tmp_path / f"{messages}.json", config)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1000), peak(5000)
    # Members, the recent messages and one write buffer: five times the entries need
    # about the same memory, far less than the file.
    assert large < 1.5 * small
    assert large < (tmp_path / "5000.json").stat().st_size / 2


# --- the harness pieces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 50, 0.0), ([1.0], 99, 1.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([*range(100)], 99, 98)],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == expected


@pytest.mark.parametrize(("budget", "capped", "yielded"), [(60.0, False, 5), (-1.0, True, 0)])
def test_budget_caps_the_lines(budget: float, capped: bool, yielded: int) -> None:
    state: dict[str, Any] = {"capped": False}
    assert len(list(_budgeted(iter([b"x"] * 5), budget, state))) == yielded
    assert state["capped"] is capped


def test_floor_inserts_every_message_row(tmp_path: Path) -> None:
    path = tmp_path / "community.jsonl"
    stats = write_jsonl(path, SMALL)
    result = floor(path, tmp_path / "floor.db", budget=60.0, batch=300)
    assert (result["processed"], result["rows"], result["capped"]) == (2000, stats.messages, False)
    assert result["rate"] > 0


class _Chat:
    """A stand-in for ConsoleChat that takes a fixed time per event."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.seen = 0

    async def send(self, event: Any) -> None:
        if self.seconds:
            await asyncio.sleep(self.seconds)
        self.seen += 1


async def test_live_offer_keeps_up_with_a_fast_engine() -> None:
    chat = _Chat(0.0)
    result = await offer(chat, list(range(40)), rate=200.0, seconds=0.2)
    assert (result["offered"], result["processed"], result["unprocessed"]) == (40, 40, 0)
    assert result["capped"] is False and chat.seen == 40
    assert result["p99_ms"] < 100


async def test_live_offer_reports_the_backlog_of_a_slow_engine() -> None:
    chat = _Chat(0.02)  # 50 events/s offered 200/s: the queue grows
    result = await offer(chat, list(range(40)), rate=200.0, seconds=0.2)
    assert result["backlog_max"] > 10
    assert result["unprocessed"] > 0 and result["capped"] is True
    assert result["lower_bound"] is True
    assert result["processed"] + result["unprocessed"] == 40 == chat.seen + result["unprocessed"]
    # Waiting in the queue counts: the median event waited far longer than it took.
    assert result["p50_ms"] > 50


def _fake_results(replay: float, rss: float, large: bool, capped: bool = True) -> dict[str, Any]:
    phases = _Phases()
    phases.results = {
        "generate": {"messages": 900, "bytes": 1, "seconds": 0.1, "reply_share": 0.3},
        "floor": {"processed": 1000, "rate": 100_000.0, "seconds": 0.01, "capped": False},
        "replay_sqlite": {
            "processed": 400,
            "rate": replay,
            "seconds": 1.0,
            "capped": capped,
            "peak_rss_mb": rss,
        },
        "replay_postgres": {"skipped": "not set"},
        "live": {"processed": 10, "offered": 10, "p50_ms": 2.0, "p99_ms": 8.0, "seconds": 1.0},
        "analyze": {"processed": 900, "rate": 5000.0, "seconds": 0.2, "capped": False},
        "import_telegram": {
            "processed": 150,
            "messages": 150,
            "rate": 50.0,
            "events_per_s": 70.0,
            "seconds": 3.0,
            "capped": True,
            "peak_rss_mb": 120.0,
            "export": {"messages": 300, "posts": 260, "bytes": 100_000, "seconds": 0.1},
        },
    }
    options = BenchOptions(messages=1000, large=large, out=Path("/nonexistent/x.json"))
    return _assemble(options, phases)


@pytest.mark.parametrize(
    ("replay", "rss", "large", "capped", "met"),
    [
        (12_000.0, 250.0, True, False, {"replay": True, "ratio": True, "rss": True}),
        (500.0, 350.0, True, False, {"replay": False, "ratio": False, "rss": False}),
        # Peak memory of a replay that stopped early, or of the small run, is not judged.
        (500.0, 350.0, True, True, {"replay": False, "ratio": False, "rss": None}),
        (12_000.0, 250.0, False, False, {"replay": True, "ratio": True, "rss": None}),
    ],
)
def test_targets_are_judged(
    replay: float, rss: float, large: bool, capped: bool, met: dict[str, Any]
) -> None:
    results = _fake_results(replay, rss, large, capped)
    targets = results["targets"]
    got = {
        "replay": targets["replay_sqlite_msgs_per_s"]["met"],
        "ratio": targets["ratio"]["met"],
        "rss": targets["peak_rss_mb"]["met"],
    }
    assert got == met
    assert targets["live_p99_ms"]["met"] is True
    assert results["ratio"] == round(replay / 100_000, 4)
    assert results["per_message_us"] == round(1e6 / replay, 1)
    assert results["capped"]["replay_sqlite"] is capped and results["capped"]["floor"] is False


@pytest.mark.parametrize(
    ("this_capped", "other_capped", "same_commit", "met"),
    [
        (False, False, True, True),
        (True, False, True, None),
        (False, True, True, None),
        (False, False, False, None),
    ],
)
def test_linearity_is_judged_only_on_whole_runs_of_one_commit(
    tmp_path: Path, this_capped: bool, other_capped: bool, same_commit: bool, met: bool | None
) -> None:
    phases = _Phases()
    phases.results = {
        "floor": {"processed": 10, "rate": 100_000.0, "capped": False},
        "replay_sqlite": {"processed": 10, "rate": 10_000.0, "capped": this_capped},
    }
    commit = git_commit()[0] if same_commit else "0" * 40
    other = {
        "per_message_us": 80.0,
        "git_commit": commit,
        "capped": {"replay_sqlite": other_capped},
    }
    (tmp_path / "bench-results.json").write_text(json.dumps(other))
    options = BenchOptions(large=True, out=tmp_path / "bench-results-large.json")
    results = _assemble(options, phases)
    assert results["linearity"]["ratio"] == 1.25  # 100 µs against 80 µs
    assert results["targets"]["per_message_large_vs_default"]["met"] is met


def test_the_table_says_when_a_phase_was_capped() -> None:
    out = io.StringIO()
    print_table(_fake_results(500.0, 100.0, False), Console(file=out, width=200))
    text = out.getvalue()
    assert "capped: first 400 of 1,000 lines" in text
    assert "all 1,000 lines" in text
    assert "skipped: not set" in text
    assert "capped: first 150 of 260 messages in 3 s; Telegram export of 300 entries" in text
    assert "the import stopped at its time budget: not the whole export" in text
    for figure in ("import_msgs", "import_msgs_per_s", "import_peak_rss_mb"):
        assert figure in text


def test_the_import_figures_are_the_import_phases() -> None:
    results = _fake_results(500.0, 100.0, False)
    assert (
        results["import_msgs"],
        results["import_msgs_per_s"],
        results["import_peak_rss_mb"],
        results["import_capped"],
    ) == (150, 50.0, 120.0, True)
    assert results["counts"]["import_telegram"] == {"processed": 150, "of": 260, "seconds": 3.0}
    phases = _Phases()
    phases.results = {"import_telegram": {"skipped": "not selected (--only)"}}
    skipped = _assemble(BenchOptions(out=Path("/nonexistent/x.json")), phases)
    assert [skipped[k] for k in ("import_msgs", "import_msgs_per_s", "import_capped")] == [
        None,
        None,
        None,
    ]


async def test_the_import_stops_at_its_budget_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    written = write_telegram_export(path, replace(TELEGRAM, messages=4000))
    url = f"sqlite+aiosqlite:///{tmp_path / 'import.db'}"
    result = await _import_child({"file": str(path), "url": url, "budget": 0.2})
    assert result["capped"] is True
    assert result["events"] > 0 and result["messages"] < written.posts
    assert result["errors"] == 0


@pytest.mark.parametrize(
    ("only", "running"),
    [
        ("", {"floor", "replay_sqlite", "replay_postgres", "live", "analyze", "import_telegram"}),
        ("import_telegram", {"import_telegram"}),
        ("floor, analyze", {"floor", "analyze"}),
        ("live", {"live", "replay_sqlite"}),  # live runs over the replayed database
    ],
)
def test_only_chooses_the_phases(only: str, running: set[str]) -> None:
    chosen = frozenset(n.strip() for n in only.split(",") if n.strip())
    options = BenchOptions(only=chosen)
    assert {p for p in run_module.PHASES if options.runs(p)} == running


def test_only_refuses_an_unknown_phase() -> None:
    result = CliRunner().invoke(main, ["--only", "import_telegram,replay"])
    assert result.exit_code == 2
    assert "unknown phase replay" in result.output


# --- end to end --------------------------------------------------------------------------

FIELDS = {
    "schema",
    "date",
    "git_commit",
    "git_dirty",
    "machine",
    "sizes",
    "budgets",
    "floor_msgs_per_s",
    "replay_sqlite_msgs_per_s",
    "ratio",
    "replay_postgres_msgs_per_s",
    "live_p50_ms",
    "live_p99_ms",
    "analyze_msgs_per_s",
    "peak_rss_mb",
    "per_message_us",
    "per_message_us_postgres",
    "import_msgs",
    "import_msgs_per_s",
    "import_peak_rss_mb",
    "import_capped",
    "capped",
    "counts",
    "failed",
    "phases",
    "linearity",
    "targets",
    "total_seconds",
}


def _options(tmp_path: Path, **changes: Any) -> BenchOptions:
    defaults: dict[str, Any] = {
        "messages": 2000,
        "members": 300,
        "out": tmp_path / "bench-results.json",
        "live_seconds": 0.5,
        "live_warmup": 10,
        "budget_seconds": 3.0,
        "replay_budget_seconds": 3.0,
        "analyze_budget_seconds": 1.0,
        "workdir": tmp_path / "work",
        "import_messages": 150,
        "import_budget_seconds": 60.0,
    }
    return BenchOptions(**{**defaults, **changes})


def test_the_harness_runs_end_to_end(tmp_path: Path) -> None:
    started = time.perf_counter()
    out = io.StringIO()
    results = run_bench(_options(tmp_path), Console(file=out, width=200))
    assert time.perf_counter() - started < 60
    written = json.loads((tmp_path / "bench-results.json").read_text())
    assert set(written) == FIELDS
    assert written["failed"] == [] and results["failed"] == []
    for key in ("floor_msgs_per_s", "replay_sqlite_msgs_per_s", "ratio", "analyze_msgs_per_s"):
        assert written[key] > 0
    assert written["replay_postgres_msgs_per_s"] is None
    assert written["live_p99_ms"] >= written["live_p50_ms"] > 0
    assert written["peak_rss_mb"] > 20
    assert set(written["machine"]) >= {"cores", "python", "platform", "other_cpu_share"}
    assert written["sizes"] == {
        "messages": 2000,
        "members": 300,
        "chats": 20,
        "seed": 1,
        "large": False,
        "live_offered": 100,
        "import_messages": 150,
    }
    replay = written["phases"]["replay_sqlite"]
    assert replay["errors"] == 0 and replay["log_errors"] == 0
    assert replay["processed"] == written["counts"]["replay_sqlite"]["processed"] > 0
    assert written["capped"]["replay_sqlite"] is (replay["processed"] < 2000)
    assert written["capped"]["floor"] is False
    live = written["phases"]["live"]
    assert live["offered"] == 100 == live["processed"] + live["unprocessed"]
    assert written["targets"]["replay_sqlite_msgs_per_s"]["met"] is (
        written["replay_sqlite_msgs_per_s"] >= 10_000
    )
    assert "replay_sqlite_msgs_per_s" in out.getvalue()
    # The whole export imported (60 s for 150 entries): every message of it, counted.
    imported = written["phases"]["import_telegram"]
    export = imported["export"]
    assert written["import_capped"] is False and export["messages"] == 150
    assert written["import_msgs"] == imported["messages"] == export["posts"] > 0
    assert (imported["joins"], imported["reactions"]) == (export["joins"], export["reactions"])
    assert imported["errors"] == imported["log_errors"] == imported["duplicates"] == 0
    assert written["import_msgs_per_s"] > 0 and written["import_peak_rss_mb"] > 20
    assert written["counts"]["import_telegram"]["of"] == export["posts"]
    assert f"all {export['posts']:,} messages" in out.getvalue()


def test_one_phase_runs_alone_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    args = ["--only", "import_telegram", "--import-messages", "200", "--import-budget-seconds"]
    args += ["60", "--out", str(out), "--workdir", str(tmp_path / "work"), "--skip-postgres"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    skipped = {name for name, phase in written["phases"].items() if "skipped" in phase}
    assert skipped == {"generate", "floor", "replay_sqlite", "replay_postgres", "live", "analyze"}
    assert not (tmp_path / "work" / "community.jsonl").exists()
    assert written["sizes"]["import_messages"] == 200
    export = written["phases"]["import_telegram"]["export"]
    assert written["import_msgs"] == export["posts"] > 0 and written["import_capped"] is False
    assert written["import_peak_rss_mb"] > 20 and written["failed"] == []


@pytest.mark.skipif(
    not os.environ.get("LEUMUND_TEST_POSTGRES_URL"), reason="needs LEUMUND_TEST_POSTGRES_URL"
)
def test_postgres_replay_uses_a_fresh_database_and_drops_it(tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    url = os.environ["LEUMUND_TEST_POSTGRES_URL"]
    jsonl = tmp_path / "community.jsonl"
    write_jsonl(jsonl, SMALL)
    result = _replay_postgres(
        _options(tmp_path, postgres_url=url, budget_seconds=2.0), jsonl, tmp_path
    )
    assert result["processed"] > 0 and result["rate"] > 0 and result["errors"] == 0
    name = make_url(result["database"]).database
    assert name is not None and name.startswith("leumund_bench_")

    async def exists() -> bool:
        engine = create_async_engine(
            make_url(url).set(drivername="postgresql+asyncpg").render_as_string(False)
        )
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
                )
        finally:
            await engine.dispose()
        return bool(found)

    assert asyncio.run(exists()) is False


async def test_the_live_phase_sets_the_bot_up_as_leumund_run_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = replace(SMALL, lines=300)
    steps: list[tuple[str, datetime | None]] = []
    real_warm_up, real_preload = launch.warm_up, Engine.preload

    def warm_up(engine: Engine) -> None:
        steps.append(("warm_up", None))
        real_warm_up(engine)

    async def preload(self: Engine, now: datetime | None = None) -> None:
        steps.append(("preload", now))
        await real_preload(self, now)

    monkeypatch.setattr(launch, "warm_up", warm_up)
    monkeypatch.setattr(Engine, "preload", preload)
    # Recorded only: freezing the heap would keep the test run's objects for good.
    monkeypatch.setattr(launch, "settle_heap", lambda: steps.append(("settle_heap", None)))
    spec = {
        "url": f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
        "synth": _synth_json(config),
        "rate": 100.0,
        "seconds": 0.2,
        "warmup": 5,
    }
    result = await _live_child(spec)
    # The community's state is read at the moment the live events start, not the wall clock.
    begin = config.start + timedelta(days=config.days, hours=1)
    assert steps == [("warm_up", None), ("preload", begin), ("settle_heap", None)]
    assert result["processed"] == 20 and result["unprocessed"] == 0
