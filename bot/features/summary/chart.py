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


class ChartProcess:
    """A chart process started ahead: it imports matplotlib while the summary is computed.

    Importing matplotlib is most of a chart's second; started before the week is read, the
    process has done it by the time the numbers are there (on the machine's other core).
    """

    def __init__(self, child: asyncio.subprocess.Process) -> None:
        self._child = child
        self._used = False

    @classmethod
    async def start(cls) -> ChartProcess:
        """Start ``python -m bot.chartproc``; it waits for its request on standard input."""
        try:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.chartproc",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:  # no processes left, the interpreter gone after an upgrade
            raise ChartError(f"the chart process did not start: {exc}") from exc
        return cls(child)

    async def render(
        self, summary: WeeklySummary, language: str, *, seconds: float = APART_TIMEOUT_SECONDS
    ) -> bytes:
        """The chart of ``summary`` (a process draws one chart only)."""
        if self._used:
            raise RuntimeError("a chart process draws one chart")
        self._used = True
        child = self._child
        request = json.dumps({"language": language, "chart": asdict(chart_data(summary))})
        try:
            image, errors = await asyncio.wait_for(child.communicate(request.encode()), seconds)
        except BaseException as exc:  # a timeout, or the bot stopping: no child is left behind
            await self.close()
            if isinstance(exc, TimeoutError):
                raise ChartError(f"the chart process gave no image within {seconds:g} s") from None
            raise
        if child.returncode != 0 or not image.startswith(PNG_SIGNATURE):
            last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise ChartError(f"the chart process failed (exit {child.returncode}): {last[0]}")
        return image

    @property
    def running(self) -> bool:
        """Whether the process has not ended yet."""
        return self._child.returncode is None

    async def close(self) -> None:
        """End the process if it is still running (not needed, or given up on)."""
        child = self._child
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it ended just now
                child.kill()
            await child.communicate()  # reaps it and closes its pipes


async def render_apart(
    summary: WeeklySummary,
    language: str,
    *,
    seconds: float = APART_TIMEOUT_SECONDS,
    process: ChartProcess | None = None,
) -> bytes:
    """``render_chart`` in a short-lived process of its own: the same bytes.

    For the running bot and replays: matplotlib holds about 40 MB once imported, for a
    chart posted once a week. The child takes that memory for a second and gives it back.
    ``process`` is one started ahead (``ChartProcess.start``); it is ended either way.
    """
    chart = process if process is not None else await ChartProcess.start()
    try:
        return await chart.render(summary, language, seconds=seconds)
    finally:
        await chart.close()
