"""The summary chart: messages and karma per day, this week against the previous one (PNG)."""

from __future__ import annotations

import io

from bot.features.summary.compute import WeeklySummary
from bot.locales import Locale

WIDTH_PX, HEIGHT_PX, DPI = 800, 640, 100
THIS_WEEK, PREVIOUS_WEEK, GRID = "#2a7ab0", "#9aa5ad", "#e3e7ea"


def render_chart(summary: WeeklySummary, locale: Locale) -> bytes:
    """Two panels (messages, karma) as PNG bytes; the same summary gives the same bytes."""
    # Imported here: matplotlib costs most of a second to import, and only this needs it.
    # The object-oriented API with the Agg canvas keeps pyplot's global state out of it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    days = list(locale.variants("summary.chart.weekdays")) or [str(d) for d in range(1, 8)]
    this_label = locale.t("summary.chart.this_week", week=_week_number(summary.week))
    previous_label = locale.t("summary.chart.previous_week")
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    # Fixed margins instead of a layout engine: as readable here, and several times faster.
    figure.subplots_adjust(left=0.08, right=0.98, top=0.84, bottom=0.07, hspace=0.3)
    figure.suptitle(
        locale.t("summary.chart.title", community=summary.community, week=summary.week),
        fontsize=14,
        fontweight="bold",
        y=0.975,
    )
    panels = (
        (
            locale.t("summary.chart.messages"),
            [float(v) for v in summary.daily_messages],
            [float(v) for v in summary.previous_daily_messages],
            True,
        ),
        (
            locale.t("summary.chart.karma"),
            list(summary.daily_karma),
            list(summary.previous_daily_karma),
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
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=whole))
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


def _week_number(week: str) -> int:
    return int(week.rpartition("W")[2])
