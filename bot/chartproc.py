"""The summary chart's drawing: messages and karma per day, this week against the previous one.

Kept apart from the summary feature so that the chart process (``python -m bot.chartproc``,
see ``bot.features.summary.chart.render_apart``) imports only this, the texts and
matplotlib: a second, not three. It reads JSON on standard input and writes the PNG to
standard output.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

from bot.locales import Locale, get_locale

WIDTH_PX, HEIGHT_PX, DPI = 800, 640, 100
THIS_WEEK, PREVIOUS_WEEK, GRID = "#2a7ab0", "#9aa5ad", "#e3e7ea"


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the chart shows of a weekly summary."""

    community: str
    week: str
    daily_messages: tuple[int, ...]
    previous_daily_messages: tuple[int, ...]
    daily_karma: tuple[float, ...]
    previous_daily_karma: tuple[float, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChartData:
        """Read what ``dataclasses.asdict`` wrote (lists become tuples)."""
        return cls(
            community=str(data["community"]),
            week=str(data["week"]),
            daily_messages=tuple(int(v) for v in data["daily_messages"]),
            previous_daily_messages=tuple(int(v) for v in data["previous_daily_messages"]),
            daily_karma=tuple(float(v) for v in data["daily_karma"]),
            previous_daily_karma=tuple(float(v) for v in data["previous_daily_karma"]),
        )


def render_data(data: ChartData, locale: Locale) -> bytes:
    """The chart of ``data`` as PNG bytes."""
    canvas, figure_class, locator = _matplotlib()
    days = list(locale.variants("summary.chart.weekdays")) or [str(d) for d in range(1, 8)]
    this_label = locale.t("summary.chart.this_week", week=_week_number(data.week))
    previous_label = locale.t("summary.chart.previous_week")
    figure = figure_class(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    canvas(figure)
    # Fixed margins instead of a layout engine: as readable here, and several times faster.
    figure.subplots_adjust(left=0.08, right=0.98, top=0.84, bottom=0.07, hspace=0.3)
    figure.suptitle(
        locale.t("summary.chart.title", community=data.community, week=data.week),
        fontsize=14,
        fontweight="bold",
        y=0.975,
    )
    panels = (
        (
            locale.t("summary.chart.messages"),
            [float(v) for v in data.daily_messages],
            [float(v) for v in data.previous_daily_messages],
            True,
        ),
        (
            locale.t("summary.chart.karma"),
            list(data.daily_karma),
            list(data.previous_daily_karma),
            False,
        ),
    )
    axes = figure.subplots(2, 1, sharex=True)
    positions = list(range(7))
    for ax, (title, current, previous, whole) in zip(axes, panels, strict=True):
        ax.bar(positions, current, width=0.6, color=THIS_WEEK, label=this_label, zorder=2)
        ax.plot(
            positions,
            previous,
            color=PREVIOUS_WEEK,
            linewidth=2,
            marker="o",
            linestyle="--",
            label=previous_label,
            zorder=3,
        )
        ax.set_title(title, fontsize=12, loc="left")
        ax.set_ylim(0, max([*current, *previous, 1.0]) * 1.1)
        ax.yaxis.set_major_locator(locator(nbins=5, integer=whole))
        ax.grid(axis="y", color=GRID, zorder=0)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    found = dict(zip(*reversed(axes[0].get_legend_handles_labels()), strict=True))
    labels = [this_label, previous_label]  # this week first, whatever matplotlib's order
    figure.legend(
        [found[label] for label in labels],
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.935),
        ncols=2,
        frameon=False,
    )
    axes[-1].set_xticks(positions, days[:7])
    buffer = io.BytesIO()
    # No "Software" text chunk: the bytes then depend on the data only.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _matplotlib() -> tuple[type[FigureCanvasAgg], type[Figure], type[MaxNLocator]]:
    """The canvas, figure and tick locator classes (imported on first use)."""
    # Imported here: matplotlib costs most of a second to import, and only a chart needs it.
    # The object-oriented API with the Agg canvas keeps pyplot's global state out of it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    return FigureCanvasAgg, Figure, MaxNLocator


def _week_number(week: str) -> int:
    return int(week.rpartition("W")[2])


def main() -> None:
    """Render the chart asked for on standard input to standard output."""
    # Before reading the request: a process started ahead (``ChartProcess``) imports
    # matplotlib while the bot is still computing the summary.
    _matplotlib()

    request = json.load(sys.stdin)
    image = render_data(ChartData.from_json(request["chart"]), get_locale(request["language"]))
    sys.stdout.buffer.write(image)


if __name__ == "__main__":
    main()
