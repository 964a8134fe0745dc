"""``leumund demo``: the sample community's week as the README's quick start shows it."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest
from rich.console import Console

from bot.demo import run_demo

# The sample's complaints (bot/data/sample_community.md): these six, and no other message.
COMPLAINTS = ["m27", "m116", "m142", "m154", "m171", "m188"]


@pytest.mark.parametrize("language", ["de", "en"])
async def test_the_demo_shows_the_sample_week_as_its_guide_describes_it(
    tmp_path: Path, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = io.StringIO()
    out = Console(file=buffer, width=100, color_system=None)
    with caplog.at_level(logging.WARNING):
        status = await run_demo(tmp_path / "out", language, out)
    text = buffer.getvalue()
    assert status == 0
    assert "0 bad lines" in text
    # Each complaint is printed after its message line; no other message is one.
    lines = text.splitlines()
    complained = []
    for number, line in enumerate(lines):
        if line.strip().startswith("→ complaint ("):
            heads = [x for x in lines[:number] if re.match(r"^\w{3} \d\d:\d\d #\w+ m\d+ ", x)]
            complained.append(heads[-1].split()[3])
    assert complained == COMPLAINTS
    # Only the complaint nobody answered (m171) is escalated, once.
    assert text.count("→ complaint_escalated: {'case'") == 1
    assert "  complaint_escalated: 1\n" in text
    assert "no karma: rule ambiguous" in text and "None" not in text
    assert "promo flag dealz" in text
    # The moderator presses the button as the review request labels it.
    assert ("presses [Bestätigen]" if language == "de" else "presses [Confirm]") in text
    week = "2026-W47"
    assert (tmp_path / "out" / f"summary-demo-{week}.html").exists()
    assert (tmp_path / "out" / f"summary-demo-{week}.png").read_bytes().startswith(b"\x89PNG")
    # Nothing in the sample week is broken enough to warn about. How long an event took is
    # the benchmark's to judge: on a loaded machine any event may stall past the engine's
    # 250 ms warning.
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and not (r.name == "bot.engine" and " took " in r.msg)
    ]
    assert warnings == []
