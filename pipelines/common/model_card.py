"""A model card as plain content, rendered to Markdown and to HTML from the same content.

Reviewers approve a version on the strength of its card, so both renderings must say the
same thing: a card is built once (sections of paragraphs, bullet lists and tables) and
each renderer only lays it out. The HTML is written here, with every piece of text
escaped, so no template engine is needed and nothing in the data can inject markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

METRIC_DIGITS = 4


def fmt(value: float | None, digits: int = METRIC_DIGITS) -> str:
    """A metric as every card prints it (``0.8123``); None or NaN as ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.{digits}f}"


@dataclass(frozen=True)
class Table:
    """Rows of already formatted cells under a header; every row as wide as the header."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for number, row in enumerate(self.rows):
            if len(row) != len(self.header):
                raise ValueError(
                    f"table row {number} has {len(row)} cells but the header has "
                    f"{len(self.header)} ({', '.join(self.header)})"
                )


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = str | Table | Bullets  # a str is one paragraph


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ModelCard:
    title: str
    sections: tuple[Section, ...]

    def section(self, title: str) -> Section:
        """The section called ``title``; KeyError naming the titles there are."""
        for section in self.sections:
            if section.title == title:
                return section
        raise KeyError(f"no section {title!r}; sections: {[s.title for s in self.sections]}")


@dataclass(frozen=True)
class ChampionFacts:
    """The champion when this version was registered: its version and recorded metrics."""

    version: str
    metrics: dict[str, float]  # metric name -> value, as recorded on its version
    note: str = ""  # how comparable its numbers are (same folds, same images...)


def champion_section(
    metrics: dict[str, float], champion: ChampionFacts | None, names: Sequence[str]
) -> Section:
    """This version's headline metrics next to the champion's, or "no champion yet"."""
    if champion is None:
        return Section("Comparison with the champion", ("No champion yet.",))
    rows = [
        (
            name,
            fmt(metrics.get(name)),
            fmt(champion.metrics.get(name)),
            _difference(metrics.get(name), champion.metrics.get(name)),
        )
        for name in names
    ]
    intro = f"Current champion: version {champion.version}."
    blocks: tuple[Block, ...] = (
        intro,
        table(("metric", "this version", f"champion v{champion.version}", "difference"), rows),
    )
    if champion.note:
        blocks += (champion.note,)
    return Section("Comparison with the champion", blocks)


def _difference(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or math.isnan(ours) or math.isnan(theirs):
        return "n/a"
    return f"{ours - theirs:+.{METRIC_DIGITS}f}"


def data_lines(facts) -> tuple[str, ...]:
    """The first lines of every card's data section: what data, from where, and what
    Great Expectations said of it (``facts`` has ``data_version``, ``data_source`` and the
    ``validation_*`` fields, as both families' card facts do)."""
    return (
        f"Data version (DVC md5): {facts.data_version}",
        f"Source: {facts.data_source}",
        f"Great Expectations: {facts.validation_headline} "
        f"({facts.validation_evaluated} evaluated, {facts.validation_failed} failed)",
    )


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """A Table from any sequences; cells are turned to text with ``str``."""
    return Table(tuple(header), tuple(tuple(str(cell) for cell in row) for row in rows))


def to_markdown(card: ModelCard) -> str:
    lines = [f"# {card.title}", ""]
    for section in card.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _markdown_block(block) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, Table):
        return [
            _markdown_row(block.header),
            "|" + "|".join("---" for _ in block.header) + "|",
            *(_markdown_row(row) for row in block.rows),
        ]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items]
    return [block]


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #bbb;padding:.2em .6em;text-align:left}"
    "th{background:#eee}"
)


def to_html(card: ModelCard) -> str:
    """A standalone HTML page; all text escaped."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>{esc(card.title)}</title>'
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{esc(card.title)}</h1>",
    ]
    for section in card.sections:
        parts.append(f"<h2>{esc(section.title)}</h2>")
        parts += [_html_block(block) for block in section.blocks]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _html_block(block: Block) -> str:
    esc = html.escape
    if isinstance(block, Table):
        head = "".join(f"<th>{esc(cell)}</th>" for cell in block.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
            for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block.items) + "</ul>"
    return f"<p>{esc(block)}</p>"
