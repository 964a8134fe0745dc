"""The summary chart (PNG), drawn in this process or in a short-lived one of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import asdict

from bot.chartproc import ChartData, render_data
from bot.features.summary.compute import WeeklySummary
from bot.locales import Locale

# A render takes about a second, most of it importing matplotlib.
APART_TIMEOUT_SECONDS = 120.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ChartError(Exception):
    """The chart process failed or gave no image."""


def chart_data(summary: WeeklySummary) -> ChartData:
    """The chart's part of a summary."""
    return ChartData(
        community=summary.community,
        week=summary.week,
        daily_messages=tuple(summary.daily_messages),
        previous_daily_messages=tuple(summary.previous_daily_messages),
        daily_karma=tuple(summary.daily_karma),
        previous_daily_karma=tuple(summary.previous_daily_karma),
    )


def render_chart(summary: WeeklySummary, locale: Locale) -> bytes:
    """Two panels (messages, karma) as PNG bytes; the same summary gives the same bytes."""
    return render_data(chart_data(summary), locale)


async def render_apart(
    summary: WeeklySummary, language: str, *, seconds: float = APART_TIMEOUT_SECONDS
) -> bytes:
    """``render_chart`` in a short-lived process of its own: the same bytes.

    For the running bot and replays: matplotlib holds about 40 MB once imported, for a
    chart posted once a week. The child takes that memory for a second and gives it back.
    """
    request = json.dumps({"language": language, "chart": asdict(chart_data(summary))})
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.chartproc",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        image, errors = await asyncio.wait_for(child.communicate(request.encode()), seconds)
    except BaseException as exc:  # a timeout, or the bot stopping: no child is left behind
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it ended just now
                child.kill()
            await child.wait()
        if isinstance(exc, TimeoutError):
            raise ChartError(f"the chart process gave no image within {seconds:g} s") from None
        raise
    if child.returncode != 0 or not image.startswith(PNG_SIGNATURE):
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise ChartError(f"the chart process failed (exit {child.returncode}): {last[0]}")
    return image
