"""SIGKILL at random moments during a replay, restart, repeat: the database ends exactly as
after an uninterrupted run (every row of every table, karma, flags and cases included).

`make test` runs a short loop; the full one (50,000 lines, 20 kills) is marked slow and run
by `.ci/run`.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.bench.synth import SynthConfig, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def replay_command(jsonl: Path, db: Path) -> list[str]:
    """`leumund replay FILE --db DB` as a command line for a child process."""
    return [
        sys.executable,
        "-c",
        "from bot.cli import main; main()",
        "replay",
        str(jsonl),
        "--db",
        f"sqlite+aiosqlite:///{db}",
    ]


def child_env() -> dict[str, str]:
    """The environment of a child process that imports this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "120"
    return env


def _run(jsonl: Path, db: Path, timeout: float) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        replay_command(jsonl, db),
        env=child_env(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table (sorted), every column, ids included, as plain tuples."""
    with sqlite3.connect(db) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name"
            )
        ]
        result: dict[str, list[tuple[object, ...]]] = {}
        for table in tables:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = conn.execute(f'SELECT {select} FROM "{table}"').fetchall()
            result[table] = sorted(rows, key=repr)
    return result


def unbalanced(db: Path) -> list[tuple[str, str, float | None, float | None]]:
    """Members whose kept balance is not the sum of their ledger rows."""
    with sqlite3.connect(db) as conn:
        ledger = {
            (c, r): float(p)
            for c, r, p in conn.execute(
                "SELECT community, receiver, SUM(points) FROM karma_ledger GROUP BY 1, 2"
            )
        }
        kept = {(c, m): float(p) for c, m, p in conn.execute("SELECT * FROM karma_balances")}
    return [
        (*key, ledger.get(key), kept.get(key))
        for key in sorted(ledger.keys() | kept.keys())
        if key not in ledger or key not in kept or abs(ledger[key] - kept[key]) > 1e-9
    ]


def crash_loop(tmp_path: Path, lines: int, kills: int, seed: int) -> None:
    jsonl = tmp_path / "community.jsonl"
    write_jsonl(jsonl, SynthConfig(lines=lines, members=max(50, lines // 10), seed=seed))

    reference = tmp_path / "reference.db"
    started = time.monotonic()
    done = _run(jsonl, reference, timeout=3600)
    duration = time.monotonic() - started
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]

    crashed = tmp_path / "crashed.db"
    rng = random.Random(seed)
    killed = 0
    attempts = 0
    # Each run is killed after a random share of a full run's time, so the kills fall at
    # random points of the work (also during start-up, a commit or the skipping of what is
    # already stored) and the replay advances in uneven steps.
    while killed < kills and attempts < kills * 3:
        attempts += 1
        proc = subprocess.Popen(
            replay_command(jsonl, crashed),
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=rng.uniform(0.3, 2.5 * duration / kills + 1.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            killed += 1
        else:
            break  # it finished before its kill: the rest of the loop would kill nothing
    assert killed >= min(kills, 2), f"only {killed} kill(s) happened in {attempts} runs"

    print(f"reference {duration:.1f} s, {killed} kill(s) in {attempts} run(s)")
    final = _run(jsonl, crashed, timeout=3600)
    assert final.returncode == 0, final.stderr.decode(errors="replace")[-2000:]

    expected, actual = snapshot(reference), snapshot(crashed)
    assert expected["karma_ledger"], "the stream must award karma for the check to mean much"
    assert expected["flags"] and expected["cases"], "the stream must raise flags and cases"
    assert expected.keys() == actual.keys()
    assert unbalanced(crashed) == [], "balances must stay the sums of the ledger"
    for table in expected:
        assert actual[table] == expected[table], f"{table} differs after {killed} kill(s)"


def test_killed_replays_end_exactly_like_an_uninterrupted_one(tmp_path: Path) -> None:
    crash_loop(tmp_path, lines=800, kills=3, seed=7)


@pytest.mark.slow
def test_crash_loop_50000_lines_20_kills(tmp_path: Path) -> None:
    crash_loop(tmp_path, lines=50_000, kills=20, seed=11)
