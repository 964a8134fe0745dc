"""The summary as chat text, Markdown, a self-contained HTML page and JSON.

One builder walks the summary once and asks a small formatter how to escape text, show a
member's name and link a message; the chat text, Markdown and HTML differ only there.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from bot.features.summary.compute import MessageLink, WeeklySummary
from bot.locales import Locale
from bot.text import defuse_mentions

MEDALS = ("🥇", "🥈", "🥉")
Kind = Literal["line", "item"]


@dataclass(frozen=True, slots=True)
class Formatter:
    """How one output format escapes text, names members and links messages."""

    escape: Callable[[str], str]
    name: Callable[[str], str]
    link: Callable[[MessageLink], str]


def _plain_link(link: MessageLink) -> str:
    return link.url or link.ref


def _markdown_link(link: MessageLink) -> str:
    if link.url:
        return f"[{_markdown_escape(link.ref)}]({link.url})"
    return f"`{link.ref}`"


def _html_link(link: MessageLink) -> str:
    if link.url:
        return f'<a href="{html.escape(link.url)}">{html.escape(link.ref)}</a>'
    return f"<code>{html.escape(link.ref)}</code>"


def _same(text: str) -> str:
    return text


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def _markdown_escape(text: str) -> str:
    """Escape what would change a Markdown document's meaning (parentheses are harmless)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


# In the chat, a name is shown as typed but pings nobody: Discord's mentions are switched
# off when sending, Telegram notifies an "@username" in any message text.
PLAIN = Formatter(_same, defuse_mentions, _plain_link)
MARKDOWN = Formatter(_markdown_escape, lambda n: f"**{_markdown_escape(n)}**", _markdown_link)
HTML = Formatter(html.escape, lambda n: f"<strong>{html.escape(n)}</strong>", _html_link)


@dataclass(slots=True)
class Section:
    """A titled part of the summary: lines and list items, already formatted."""

    title: str
    lines: list[tuple[Kind, str]] = field(default_factory=list)


def number(value: float, language: str, decimals: int = 2) -> str:
    """A number with at most ``decimals`` decimals, German or English separators."""
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if language == "de":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def duration(minutes: float) -> str:
    """Minutes as "45 min", "2 h" or "26 h 5 min"."""
    if minutes < 1:
        return "< 1 min"
    whole = round(minutes)
    hours, rest = divmod(whole, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" if not rest else f"{hours} h {rest} min"


class _Builder:
    """Turns a summary into sections for one formatter and one language."""

    def __init__(self, summary: WeeklySummary, locale: Locale, fmt: Formatter, hours: int) -> None:
        self.s = summary
        self.locale = locale
        self.fmt = fmt
        self.hours = hours
        self.lang = locale.language

    def t(self, key: str, **values: str) -> str:
        """The escaped template of ``key`` filled with values already in the output format."""
        return self.fmt.escape(self.locale.t(key)).format(**values)

    def num(self, value: float, decimals: int = 2) -> str:
        return self.fmt.escape(number(value, self.lang, decimals))

    def pct(self, value: float) -> str:
        return self.t("summary.percent", value=self.num(value, 1))

    def trend(self, value: float | None) -> str:
        if value is None:
            return self.t("summary.no_trend")
        sign = "+" if value > 0 else "−" if value < 0 else "±"
        return self.t("summary.trend", trend=sign + self.pct(abs(value)))

    def label(self, group: str, key: str) -> str:
        """A localised label for a rule, action or severity; the raw name if unknown."""
        full = f"summary.{group}.{key}"
        return self.fmt.escape(self.locale.t(full) if self.locale.variants(full) else key)

    def counts(self, group: str, counts: Mapping[str, int]) -> str:
        return ", ".join(f"{self.label(group, k)} {self.num(v)}" for k, v in counts.items())

    def title(self) -> str:
        return self.t(
            "summary.title",
            community=self.fmt.escape(self.s.community),
            week=self.fmt.escape(self.s.week),
        )

    def period(self) -> str:
        date_format = self.locale.t("summary.date_format")
        last_day = self.s.end - timedelta(days=1)  # wall-clock arithmetic: Sunday 00:00
        return self.t(
            "summary.period",
            start=self.fmt.escape(self.s.start.strftime(date_format)),
            end=self.fmt.escape(last_day.strftime(date_format)),
            timezone=self.fmt.escape(self.s.timezone),
        )

    def sections(self) -> list[Section]:
        return [
            self.activity(),
            self.helpers(),
            self.questions(),
            self.complaints(),
            self.promo(),
            self.moderation(),
        ]

    def activity(self) -> Section:
        s = self.s
        part = Section(self.t("summary.activity_title"))
        part.lines.append(
            (
                "line",
                self.t(
                    "summary.messages",
                    count=self.num(s.messages),
                    trend=self.trend(s.messages_trend_pct),
                ),
            )
        )
        part.lines.append(
            (
                "line",
                self.t(
                    "summary.active",
                    count=self.num(s.active_members),
                    trend=self.trend(s.active_members_trend_pct),
                    new=self.num(s.new_members),
                ),
            )
        )
        if s.dialogue_pct is None:
            part.lines.append(("line", self.t("summary.dialogue_empty")))
        else:
            part.lines.append(("line", self.t("summary.dialogue", pct=self.pct(s.dialogue_pct))))
        if s.top_dialogue:
            members = ", ".join(
                f"{self.fmt.name(m.name)} ({self.num(m.count)})" for m in s.top_dialogue
            )
            part.lines.append(("line", self.t("summary.dialogue_top", members=members)))
        return part

    def helpers(self) -> Section:
        s = self.s
        part = Section(self.t("summary.helpers_title"))
        if not s.helpers:
            # Karma went to members who keep theirs private: "no karma yet" would be wrong.
            empty = "summary.helpers_hidden" if s.karma_awards else "summary.helpers_empty"
            part.lines.append(("line", self.t(empty)))
        for index, helper in enumerate(s.helpers):
            rank = MEDALS[index] if index < len(MEDALS) else f"{index + 1}."
            line = self.t(
                "summary.helper",
                rank=rank,
                name=self.fmt.name(helper.name),
                points="+" + self.num(helper.points),
            )
            if helper.answers:
                answers = ", ".join(
                    self.t("summary.answer", link=self.fmt.link(a.link), thanks=self.num(a.thanks))
                    for a in helper.answers
                )
                line = self.t("summary.helper_answers", line=line, answers=answers)
            part.lines.append(("item", line))
        part.lines.append(
            (
                "line",
                self.t(
                    "summary.karma_given",
                    points=self.num(s.karma_given),
                    awards=self.num(s.karma_awards),
                    givers=self.num(s.karma_givers),
                ),
            )
        )
        if s.karma_blocks:
            rules = self.counts("rule", s.blocks_by_rule)
            part.lines.append(
                ("line", self.t("summary.blocks", count=self.num(s.karma_blocks), rules=rules))
            )
        else:
            part.lines.append(("line", self.t("summary.blocks_empty")))
        return part

    def questions(self) -> Section:
        s = self.s
        part = Section(self.t("summary.questions_title"))
        part.lines.append(
            (
                "line",
                self.t(
                    "summary.questions",
                    hours=self.num(self.hours),
                    count=self.num(s.unanswered_questions),
                    total=self.num(s.questions),
                ),
            )
        )
        for question in s.unanswered:
            part.lines.append(("item", self.fmt.link(question.link)))
        hidden = s.unanswered_questions - len(s.unanswered)
        if hidden > 0:
            part.lines.append(("item", self.t("summary.questions_more", count=self.num(hidden))))
        return part

    def complaints(self) -> Section:
        s = self.s
        part = Section(self.t("summary.complaints_title"))
        severities = self.counts("severity", s.complaints_by_severity)
        part.lines.append(
            (
                "line",
                self.t("summary.complaints", count=self.num(s.complaints), severities=severities),
            )
        )
        median, p90 = s.first_response_median_minutes, s.first_response_p90_minutes
        if median is None or p90 is None:
            part.lines.append(("line", self.t("summary.response_empty")))
        else:
            part.lines.append(
                (
                    "line",
                    self.t(
                        self.locale.counted("summary.response", s.first_responses),
                        median=self.fmt.escape(duration(median)),
                        p90=self.fmt.escape(duration(p90)),
                        count=self.num(s.first_responses),
                    ),
                )
            )
        part.lines.append(
            (
                "line",
                self.t(
                    "summary.cases",
                    open=self.num(s.open_cases),
                    overdue=self.num(s.overdue_cases),
                    escalated=self.num(s.escalated_cases),
                ),
            )
        )
        return part

    def promo(self) -> Section:
        s = self.s
        part = Section(self.t("summary.promo_title"))
        part.lines.append(
            (
                "line",
                self.t(
                    self.locale.counted("summary.promo", s.flagged_members),
                    flags=self.num(s.flags_raised),
                    members=self.num(s.flagged_members),
                    confirmed=self.num(s.promo_confirmed),
                    dismissed=self.num(s.promo_dismissed),
                    nudged=self.num(s.members_nudged),
                ),
            )
        )
        return part

    def moderation(self) -> Section:
        s = self.s
        part = Section(self.t("summary.moderation_title"))
        part.lines.append(
            (
                "line",
                self.t(
                    "summary.moderation",
                    warnings=self.num(s.warnings),
                    appeals=self.num(s.appeals),
                ),
            )
        )
        total = sum(s.moderation_actions.values())
        if total:
            actions = self.counts("action", s.moderation_actions)
            part.lines.append(
                (
                    "line",
                    self.t(
                        self.locale.counted("summary.mod_log", total),
                        count=self.num(total),
                        actions=actions,
                    ),
                )
            )
        else:
            part.lines.append(("line", self.t("summary.mod_log_empty")))
        return part

    def notes(self) -> list[str]:
        hours = self.num(self.hours)
        return [
            self.t("summary.note_dialogue", hours=hours),
            self.t("summary.note_questions", hours=hours),
            self.t("summary.note_privacy"),
        ]

    def generated(self) -> str:
        local = self.s.generated_at.astimezone(self.s.start.tzinfo)
        stamp = local.strftime(self.locale.t("summary.date_format") + " %H:%M")
        return self.t("summary.generated", at=self.fmt.escape(stamp))


def render_text(summary: WeeklySummary, locale: Locale, *, hours: int = 24) -> str:
    """The chat post: plain text (no markup), in the locale's language."""
    b = _Builder(summary, locale, PLAIN, hours)
    out = [f"{b.title()}\n{b.period()}"]
    for part in b.sections():
        lines = [part.title]
        lines += [f"• {text}" if kind == "item" else text for kind, text in part.lines]
        out.append("\n".join(lines))
    return "\n\n".join(out)


def render_markdown(summary: WeeklySummary, locale: Locale, *, hours: int = 24) -> str:
    """A Markdown report with the definitions of every number at the end."""
    b = _Builder(summary, locale, MARKDOWN, hours)
    out = [f"# {b.title()}", b.period()]
    for part in b.sections():
        out.append(f"## {part.title}")
        for kind, block in _blocks(part.lines):
            if kind == "item":
                out.append("\n".join(f"- {text}" for text in block))
            else:  # two trailing spaces: a line break inside the paragraph
                out.append("  \n".join(block))
    out.append(f"## {b.t('summary.notes_title')}")
    out.append("\n".join(f"- {note}" for note in b.notes()))
    out.append(f"*{b.generated()}*")
    return "\n\n".join(out) + "\n"


def _blocks(lines: list[tuple[Kind, str]]) -> list[tuple[Kind, list[str]]]:
    """Consecutive lines of the same kind grouped: paragraphs and lists."""
    blocks: list[tuple[Kind, list[str]]] = []
    for kind, text in lines:
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1].append(text)
        else:
            blocks.append((kind, [text]))
    return blocks


_CSS = """
:root { color-scheme: light dark; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; line-height: 1.5; margin: 0; padding: 1rem; background: Canvas; color: CanvasText; }
main { max-width: 42rem; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
p { margin: .25rem 0; }
ul { margin: .25rem 0; padding-left: 1.25rem; }
img { max-width: 100%; height: auto; display: block; margin: 1rem 0; background: #fff; }
a { overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; font-size: .9em; }
.period, footer { color: GrayText; font-size: .9rem; }
footer { margin-top: 2rem; }
""".strip()


def render_html(
    summary: WeeklySummary, locale: Locale, chart: bytes | None, *, hours: int = 24
) -> str:
    """A self-contained page (chart embedded as a data URI) that reads well on a phone."""
    b = _Builder(summary, locale, HTML, hours)
    body = [f"<h1>{b.title()}</h1>", f'<p class="period">{b.period()}</p>']
    if chart is not None:
        data = base64.b64encode(chart).decode("ascii")
        alt = html.escape(locale.t("summary.chart_alt"))
        body.append(f'<img src="data:image/png;base64,{data}" alt="{alt}" width="800">')
    for part in b.sections():
        body.append(f"<section><h2>{part.title}</h2>")
        for kind, block in _blocks(part.lines):
            if kind == "item":
                body.append("<ul>" + "".join(f"<li>{text}</li>" for text in block) + "</ul>")
            else:
                body.append("<p>" + "<br>\n".join(block) + "</p>")
        body.append("</section>")
    notes = "".join(f"<li>{note}</li>" for note in b.notes())
    body.append(f"<section><h2>{b.t('summary.notes_title')}</h2><ul>{notes}</ul></section>")
    body.append(f"<footer>{b.generated()}</footer>")
    title = html.escape(f"{summary.community} · {summary.week}")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html.escape(locale.language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>\n"
        "<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def render_json(summary: WeeklySummary) -> str:
    """Every number of the summary as pretty-printed JSON."""
    return json.dumps(summary.as_json(), ensure_ascii=False, indent=2) + "\n"
