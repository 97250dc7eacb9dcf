"""Text for the command line: pure functions from the typed results to lines.

Every state, reason and label comes from the SQL. Ages are relative to the row's
`observed_at` (the read's `p_now`), so a fixed `--now` renders the same text every time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from typing import get_args, get_type_hints

from .models import (
    TIMESTAMP_INFINITY,
    TIMESTAMP_NEG_INFINITY,
    Diagnostics,
    JsonValue,
    Pill,
    Summary,
)

TONE_COLORS = {"green": "1;32", "grey": "1;90", "amber": "1;33", "red": "1;31"}
_MISSING = "-"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MIN_CUT_WIDTH, _MIN_WRAP_WIDTH = 4, 20  # however narrow `width` is
_INFINITE = (TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY)
# Summary's optional nested objects: a section each, "none" when the SQL gives null.
_SECTIONS = {name for name, hint in get_type_hints(Summary).items()
             if any(is_dataclass(arg) for arg in get_args(hint))}


@dataclass(frozen=True)
class Cell:
    text: str
    sgr: str | None = None

    def render(self, color: bool) -> str:
        return f"\x1b[{self.sgr}m{self.text}\x1b[0m" if color and self.sgr else self.text


@dataclass(frozen=True)
class Column:
    """Priority 0 always shows; to fit a width, the highest goes first (then the rightmost)."""
    header: str
    priority: int = 0


def _cell(value: object) -> Cell:
    if isinstance(value, Cell):
        return value
    return Cell(_MISSING if value is None or value == "" else str(value))


def table(columns: Sequence[str | Column], rows: Iterable[Sequence[object]], *,
          color: bool = False, indent: str = "", width: int | None = None,
          after_row: Sequence[list[str]] = ()) -> list[str]:
    """Columns fitted to `width` (None: no limit) by leaving out the least important ones,
    then cutting the widest cells with `…`; `after_row[i]`: lines printed under row i."""
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    body = [[Cell(c.header) for c in cols], *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i].text) for row in body) for i in range(len(cols))]
    shown = list(range(len(cols)))

    def excess() -> int:
        return len(indent) + sum(widths[i] for i in shown) + 2 * (len(shown) - 1) - (width or 0)

    if width is not None:
        for i in sorted((i for i, c in enumerate(cols) if c.priority > 0),
                        key=lambda i: (-cols[i].priority, -i)):
            if excess() <= 0 or len(shown) == 1:
                break
            shown.remove(i)
        while excess() > 0 and widths[widest := max(shown, key=lambda i: widths[i])] > \
                _MIN_CUT_WIDTH:
            widths[widest] -= 1
    lines = []
    for n, row in enumerate(body):
        cells = [row[i] if len(row[i].text) <= widths[i]
                 else Cell(row[i].text[:widths[i] - 1] + "…", row[i].sgr) for i in shown]
        lines.append((indent + "  ".join(c.render(color) + " " * (widths[i] - len(c.text))
                                         for i, c in zip(shown, cells, strict=True))).rstrip())
        lines += after_row[n - 1] if 0 < n <= len(after_row) else []
    hidden = [c.header for i, c in enumerate(cols) if i not in shown]
    note = f"(not shown, to fit {width} columns: {', '.join(hidden)}; --wide shows them)"
    return lines + (["", *(indent + line for line in wrap(
        note, None if width is None else width - len(indent)))] if hidden else [])


def _visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def wrap(text: str, width: int | None) -> list[str]:
    """`text` in lines of at most `width` visible characters (colour codes do not count);
    a longer word is split unless it holds a colour code. Leading spaces start every line."""
    if width is None or _visible_len(text) <= width:
        return [text]
    lead = text[:len(text) - len(text.lstrip(" "))]
    room = max(width - len(lead), _MIN_WRAP_WIDTH)
    lines: list[list[str]] = [[]]
    for word in text.split():
        for part in [word] if _ANSI.search(word) else re.findall(f".{{1,{room}}}", word):
            if lines[-1] and _visible_len(" ".join([*lines[-1], part])) > room:
                lines.append([])
            lines[-1].append(part)
    return [lead + " ".join(words) for words in lines]


def _hang(head: str, text: str, width: int | None) -> list[str]:
    """The lines of `text`, each wrapped, in a column after `head` (on the first line)."""
    room = None if width is None else max(width - len(head), _MIN_WRAP_WIDTH)
    parts = [part for line in text.split("\n") for part in wrap(line, room)]
    return [f"{head}{parts[0]}".rstrip(), *(f"{' ' * len(head)}{p}".rstrip() for p in parts[1:])]


def format_time(value: datetime | None) -> str:
    if value is None:
        return _MISSING
    if value in _INFINITE:
        return "infinity" if value == TIMESTAMP_INFINITY else "-infinity"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(abs(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{secs}s"


def format_relative(value: datetime | None, now: datetime) -> str:
    if value is None or value in _INFINITE:
        return format_time(value)
    seconds = (now - value).total_seconds()
    if abs(seconds) < 1:
        return "now"
    return f"{format_duration(seconds)} ago" if seconds > 0 else f"in {format_duration(seconds)}"


def human_bytes(value: int | None) -> str:
    if value is None or abs(value) < 1024:
        return _MISSING if value is None else f"{value} B"
    size = float(value)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if abs(size) < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"


def _count(value: int | None) -> str:
    return _MISSING if value is None else f"{value:,}"


def _json(value: JsonValue) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _pill(pill: Pill) -> Cell:
    return Cell(pill.label, TONE_COLORS[pill.tone])


#: Narrow, the overview keeps the connection, its pill, its last run and the next action.
OVERVIEW_COLUMNS = (
    Column("CONNECTION"), Column("CONNECTOR", 5), Column("STATUS", 6), Column("VERDICT"),
    Column("HEALTH", 2), Column("REASON", 3), Column("LAST RUN"), Column("FRESHNESS", 1),
    Column("COVERAGE", 4), Column("RECORDS", 7), Column("SIZE", 8), Column("NEXT ACTION"),
)


def overview_table(summaries: Sequence[Summary], *, color: bool = False,
                   width: int | None = None) -> list[str]:
    rows = [[s.connection_id, s.connector_id, s.status, _pill(s.rendered_verdict.pill),
             s.connection_health.state, s.connection_health.reason_code,
             "never" if s.last_run is None else
             f"{s.last_run.status or '?'} {format_relative(s.last_run.last_at, s.observed_at)}",
             s.freshness.status, s.coverage,
             {"known": _count(s.total_records), "known_zero": _count(s.total_records),
              "stale": "stale"}.get(s.total_records_state),
             human_bytes(s.total_retained_bytes), s.connection_health.next_action]
            for s in summaries]
    return table(OVERVIEW_COLUMNS, rows, color=color, width=width)


def _entries(value: JsonValue) -> str:
    """Free-form JSON; a list of objects (or `{"streams": [...]}`) one line an object."""
    if isinstance(value, dict) and set(value) == {"streams"}:
        value = value["streams"]
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        return _json(value)
    return "\n".join(", ".join(f"{k}: {v if isinstance(v, str) else _json(v)}"
                               for k, v in e.items())
                     for e in value if isinstance(e, dict)) or "none"


def _value(name: str, value: object, now: datetime, color: bool, sep: str = "\n") -> str:
    """A field for humans, by its type (and name: `*_bytes`, `*_seconds`)."""
    if value is None or value == "":
        return _MISSING
    if isinstance(value, Pill):
        return f"{_pill(value).render(color)} ({value.tone})"
    if is_dataclass(value):  # a nested object: its fields, one line each (or `sep`)
        return sep.join(f"{label}: {text}" for label, text in _fields(value, now, color))
    if isinstance(value, tuple):
        return "\n".join(_value(name, v, now, color, ", ") for v in value) or "none"
    if isinstance(value, datetime):
        return f"{format_time(value)} ({format_relative(value, now)})"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return (human_bytes(value) if name.endswith("bytes") else
                format_duration(value) if name.endswith("seconds") else f"{value:,}")
    return _entries(value) if isinstance(value, list | dict) else str(value)


def _fields(obj: object, now: datetime, color: bool) -> list[tuple[str, str]]:
    return [(f.name.replace("_", " "), _value(f.name, getattr(obj, f.name), now, color))
            for f in fields(obj) if not f.name.startswith("_")]  # type: ignore[arg-type]


def summary_block(summary: Summary, *, color: bool = False,
                  width: int | None = None) -> list[str]:
    """Every field: the scalars under the title, then a section per nested object, as
    `label  value` lines, the values aligned in one column and wrapped to `width`."""
    now = summary.observed_at
    # (indent, label, text): the title and its scalars, then the sections.
    rows = [("", f"{summary.display_name} ({summary.connection_id})", "")]
    sections: list[tuple[str, str, str]] = []
    for f in (f for f in fields(summary) if not f.name.startswith("_")):
        value, label = getattr(summary, f.name), f.name.replace("_", " ")
        if is_dataclass(value):
            sections += [("", label, ""), *(("  ", *row) for row in _fields(value, now, color))]
        elif value is None and f.name in _SECTIONS:
            sections.append(("", label, "none"))
        else:
            rows.append(("  ", label, _value(f.name, value, now, color)))
    rows += sections
    head_width = max(len(indent + label) for indent, label, text in rows if indent or text) + 2
    lines: list[str] = []
    for indent, label, text in rows:
        lines += [""] if not indent and lines else []
        lines += _hang(f"{indent}{label}".ljust(head_width), text, width)
    return lines


RUN_COLUMNS = (Column("RUN"), Column("STATUS"), Column("STARTED (UTC)", 1), Column("TOOK", 3),
               Column("EVENTS", 4), Column("SURFACE", 2), Column("GAPS", 5),
               Column("FAILURE REASON"))
EVENT_COLUMNS = (Column("SEQ"), Column("AT (UTC)", 1), Column("TYPE"), Column("STATUS"),
                 Column("CONNECTION", 2))


def diagnostics_block(diagnostics: Diagnostics, *, run_limit: int | None = None,
                      color: bool = False, width: int | None = None) -> list[str]:
    lines = summary_block(diagnostics.summary, color=color, width=width)
    runs, events = diagnostics.recent_runs, diagnostics.latest_run_events
    limit = "" if run_limit is None else f", at most {run_limit}"
    lines += ["", f"recent runs ({len(runs)}, newest first{limit})"]
    lines += table(RUN_COLUMNS, [
        [r.run_id, r.status, format_time(r.started_at).removesuffix(" UTC"),
         None if {r.started_at, r.last_at} & set(_INFINITE)
         else format_duration((r.last_at - r.started_at).total_seconds()), r.event_count,
         r.browser_surface and r.browser_surface.status,
         len(r.known_gaps) if isinstance(r.known_gaps, list) else None, r.failure_reason]
        for r in runs], indent="  ", width=width) if runs else ["  none"]
    last = diagnostics.summary.last_run
    lines += ["", f"latest run events ({last.run_id if last else 'no run'}, {len(events)})"]
    return lines + (table(EVENT_COLUMNS, [
        [e.event_seq, format_time(e.occurred_at).removesuffix(" UTC"), e.event_type, e.status,
         e.connector_instance_id or e.connection_id] for e in events], indent="  ", width=width,
        after_row=[[] if e.data in (None, {}) else _hang("        data ", _json(e.data), width)
                   for e in events]) if events else ["  none"])
