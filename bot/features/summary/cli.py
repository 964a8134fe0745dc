"""``leumund summary``: the weekly summary rendered from the database, without any platform.

Exit status: 0 when the report was written, 1 when the database cannot be read (missing,
empty, at another schema revision, unreachable), 2 for bad options or a bad config file.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cliutil import config_or_exit
from bot.config import Community, Config, SettingsResolver
from bot.features.summary.compute import IsoWeek, WeeklySummary, compute_summary
from bot.features.summary.render import render_html, render_json, render_markdown, render_text
from bot.features.summary.settings import SummarySettings
from bot.locales import get_locale
from storage.db import Database, head_revision

FORMATS = ("md", "html", "png", "json")
SUFFIXES = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".png": "png",
    ".json": "json",
}


class DatabaseUnusable(Exception):
    """The database cannot give a summary; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Report:
    """A computed summary with its chart."""

    summary: WeeklySummary
    chart: bytes | None


def _community(config: Config, name: str | None) -> Community:
    names = ", ".join(c.name for c in config.communities)
    if name is None:
        if len(config.communities) == 1:
            return config.communities[0]
        raise click.BadParameter(
            f"the config has several communities ({names}); name one", param_hint="--community"
        )
    found = config.community(name)
    if found is None:
        raise click.BadParameter(
            f"unknown community {name!r}; the config has: {names}", param_hint="--community"
        )
    return found


def _check_sqlite_file(url: str) -> None:
    """Refuse a SQLite file that does not exist rather than create an empty one."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return
    if not Path(str(database)).is_file():
        raise DatabaseUnusable(f"there is no database at {database}")


async def build_report(
    url: str,
    community: Community,
    week: str | None,
    now: datetime,
    settings: SummarySettings,
    *,
    chart: bool = True,
    language: str | None = None,
) -> Report:
    """Read the database at ``url`` and compute the summary (and its chart)."""
    _check_sqlite_file(url)
    db = Database(url)
    try:
        current = await db.current_revision()
        if current is None:
            raise DatabaseUnusable("the database is empty: nothing to summarise yet")
        if current != head_revision():
            raise DatabaseUnusable(
                f"the database is at revision {current}, this version needs {head_revision()}: "
                "back it up, then run `leumund db upgrade`"
            )
        async with db.session() as session:
            summary = await compute_summary(session, community, week, now, settings)
    except (OSError, SQLAlchemyError) as exc:
        raise DatabaseUnusable(f"cannot read the database: {exc}") from exc
    finally:
        await db.dispose()
    image = None
    if chart:
        from bot.features.summary.chart import render_chart

        image = await asyncio.to_thread(
            render_chart, summary, get_locale(language or community.language)
        )
    return Report(summary, image)


@dataclass(frozen=True, slots=True)
class WrittenReports:
    """What ``write_reports`` produced: the chat text and the files it wrote."""

    summary: WeeklySummary
    text: str
    html: Path
    png: Path
    json: Path


async def write_reports(
    session: AsyncSession,
    community: Community,
    week: str | None,
    now: datetime,
    out_dir: Path,
    *,
    settings: SummarySettings | None = None,
    language: str | None = None,
) -> WrittenReports:
    """Compute a summary in an open session and write summary-WEEK.{html,png,json} to a folder."""
    from bot.features.summary.chart import render_chart

    settings = settings or SummarySettings()
    locale = get_locale(language or community.language)
    summary = await compute_summary(session, community, week, now, settings)
    chart = await asyncio.to_thread(render_chart, summary, locale)
    hours = settings.answer_window_hours
    base = f"summary-{community.name}-{summary.week}"  # names may contain dots: no with_suffix
    paths = tuple(out_dir / f"{base}.{ext}" for ext in ("html", "png", "json"))
    contents = (
        render_html(summary, locale, chart, hours=hours).encode("utf-8"),
        chart,
        render_json(summary).encode("utf-8"),
    )

    def write() -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, data in zip(paths, contents, strict=True):
            path.write_bytes(data)

    await asyncio.to_thread(write)
    text = render_text(summary, locale, hours=hours)
    return WrittenReports(summary, text, paths[0], paths[1], paths[2])


@click.command("summary")
@click.option(
    "--community",
    "community_name",
    default=None,
    metavar="NAME",
    help=("Community to summarise (may be left out when the config has only one)."),
)
@click.option(
    "--week",
    default=None,
    metavar="YYYY-Www",
    help=(
        "ISO week, e.g. 2026-W47 (default: the last complete week in the community's time zone)."
    ),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: from the --out suffix, else md).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    default=None,
    help="Write to this file (default: standard output; png needs a file).",
)
@click.option(
    "--lang",
    type=click.Choice(["de", "en"]),
    default=None,
    help="Language (default: the community's).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (default: embedded defaults, one community 'demo').",
)
@click.option(
    "--db",
    "database_url",
    default=None,
    metavar="URL",
    help="Database URL; overrides [bot].database_url.",
)
def summary_command(
    community_name: str | None,
    week: str | None,
    fmt: str | None,
    out: Path | None,
    lang: str | None,
    config_path: Path | None,
    database_url: str | None,
) -> None:
    """Render a community's weekly summary (Markdown, HTML, PNG chart or JSON)."""
    config = config_or_exit(config_path, database_url)
    community = _community(config, community_name)
    if week is not None:
        try:
            week = IsoWeek.parse(week.upper()).label
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--week") from None
    if fmt is None:
        fmt = SUFFIXES.get(out.suffix.lower(), "md") if out is not None else "md"
    if fmt == "png" and out is None:
        raise click.BadParameter("the png format needs a file: --out FILE.png", param_hint="--out")
    settings = SettingsResolver(config).get(SummarySettings, "summary", community.name, None)
    url = database_url or config.bot.database_url
    try:
        report = asyncio.run(
            build_report(
                url,
                community,
                week,
                datetime.now(UTC),
                settings,
                chart=fmt in ("html", "png"),
                language=lang,
            )
        )
    except DatabaseUnusable as exc:
        click.echo(f"cannot summarise: {exc}", err=True)
        sys.exit(1)
    locale = get_locale(lang or community.language)
    hours = settings.answer_window_hours
    data: bytes
    if fmt == "png":
        assert report.chart is not None
        data = report.chart
    elif fmt == "html":
        data = render_html(report.summary, locale, report.chart, hours=hours).encode("utf-8")
    elif fmt == "json":
        data = render_json(report.summary).encode("utf-8")
    else:
        data = render_markdown(report.summary, locale, hours=hours).encode("utf-8")
    if out is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        click.echo(f"cannot write {out}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    click.echo(
        f"summary of {community.name} {report.summary.week} ({fmt}, {len(data):,} bytes) "
        f"written to {out}",
        err=True,
    )
