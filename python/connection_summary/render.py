"""Human-readable rendering of summaries for the command line.

Pure functions from the typed results (models.py) to text: the overview table,
the `show` block of one connection and the `diagnostics` block. Nothing here
talks to the database, and nothing here decides anything: every state, reason
and label comes from the SQL; this module only lays it out.

Times are shown in UTC; ages ("35m ago", "in 5h") are relative to the row's
`observed_at` (the read's `p_now`), so a read with a fixed `--now` renders the
same text every time. Colour is a caller's choice (`color=True`): only the
verdict pill is coloured, by its tone.

Width is a caller's choice too (`width=N`, or None for no limit): `table` (the
one table printer) leaves out the least important columns until the table
fits and names them under it, then cuts the widest cells with `…`; the
`label  value` blocks wrap their values. Colour codes never count as width.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .models import (
    TIMESTAMP_INFINITY,
    TIMESTAMP_NEG_INFINITY,
    Diagnostics,
    JsonValue,
    RunEvent,
    RunSummary,
    Summary,
)

__all__ = [
    "OVERVIEW_COLUMNS",
    "TONE_COLORS",
    "Cell",
    "Column",
    "diagnostics_block",
    "format_duration",
    "format_relative",
    "format_time",
    "human_bytes",
    "overview_table",
    "pill_cell",
    "summary_block",
    "table",
    "wrap",
]

#: ANSI SGR codes of the pill tones (CONTRACT §5's fixed bijection).
TONE_COLORS = {
    "green": "1;32",
    "grey": "1;90",
    "amber": "1;33",
    "red": "1;31",
}
_RESET = "\x1b[0m"
_MISSING = "-"
_LABEL_WIDTH = 22
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ELLIPSIS = "…"
_MIN_CUT_WIDTH = 4  # a cell cut to fit keeps at least this many characters (with the `…`)
_MIN_WRAP_WIDTH = 20  # values wrap at no fewer characters than this, however narrow the width


# --- cells and tables ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and an ANSI SGR code to colour it with (or None)."""

    text: str
    sgr: str | None = None

    def render(self, color: bool) -> str:
        if color and self.sgr:
            return f"\x1b[{self.sgr}m{self.text}{_RESET}"
        return self.text


@dataclass(frozen=True)
class Column:
    """A table column: its header, and how much it matters when the table must narrow.

    Priority 0 columns are always shown; to fit a width, the column with the
    highest priority goes first (of equal priorities, the rightmost).
    """

    header: str
    priority: int = 0


def _cell(value: object) -> Cell:
    if isinstance(value, Cell):
        return value
    return Cell(_MISSING if value is None or value == "" else str(value))


def _cut(cell: Cell, width: int) -> Cell:
    if len(cell.text) <= width:
        return cell
    return Cell(cell.text[:width - 1] + _ELLIPSIS, cell.sgr)


def _layout(columns: Sequence[str | Column], rows: Iterable[Sequence[object]], *,
            color: bool, indent: str, width: int | None) -> tuple[list[str], list[str]]:
    """The table's lines (header first), and the headers left out to fit `width`."""
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    body = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c.header), *(len(row[i].text) for row in body)])
              for i, c in enumerate(cols)]
    shown = list(range(len(cols)))

    def total() -> int:
        return len(indent) + sum(widths[i] for i in shown) + 2 * (len(shown) - 1)

    if width is not None:
        for i in sorted((i for i, c in enumerate(cols) if c.priority > 0),
                        key=lambda i: (-cols[i].priority, -i)):
            if total() <= width or len(shown) == 1:
                break
            shown.remove(i)
        excess = total() - width
        while excess > 0:
            widest = max(shown, key=lambda i: widths[i])
            if widths[widest] <= _MIN_CUT_WIDTH:
                break
            widths[widest] -= 1
            excess -= 1
    lines = []
    for row in [[Cell(c.header) for c in cols], *body]:
        parts = []
        for n, i in enumerate(shown):
            cell = _cut(row[i], widths[i])
            pad = "" if n == len(shown) - 1 else " " * (widths[i] - len(cell.text))
            parts.append(cell.render(color) + pad)
        lines.append((indent + "  ".join(parts)).rstrip())
    return lines, [c.header for i, c in enumerate(cols) if i not in shown]


def _hidden_note(hidden: Sequence[str], width: int | None, indent: str) -> list[str]:
    if not hidden:
        return []
    note = f"(not shown, to fit {width} columns: {', '.join(hidden)}; --wide shows them)"
    return ["", *(indent + line for line in wrap(note, None if width is None
                                                 else width - len(indent)))]


def table(columns: Sequence[str | Column], rows: Iterable[Sequence[object]], *,
          color: bool = False, indent: str = "", width: int | None = None) -> list[str]:
    """Left-aligned columns two spaces apart; widths ignore colour codes.

    With a `width`, the least important columns are left out until the table
    fits (a note under it names them), then the widest cells are cut with `…`.
    """
    lines, hidden = _layout(columns, rows, color=color, indent=indent, width=width)
    return lines + _hidden_note(hidden, width, indent)


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def wrap(text: str, width: int | None) -> list[str]:
    """`text` in lines of at most `width` visible characters, broken at spaces.

    A word longer than the width is split, unless it holds a colour code. The
    text's leading spaces start every line.
    """
    if width is None or visible_len(text) <= width:
        return [text]
    lead = text[:len(text) - len(text.lstrip(" "))]
    room = max(width - len(lead), _MIN_WRAP_WIDTH)
    lines: list[str] = []
    line = ""
    for word in text.split():
        while visible_len(word) > room and not _ANSI.search(word):
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:room])
            word = word[room:]
        if line and visible_len(line) + 1 + visible_len(word) > room:
            lines.append(line)
            line = ""
        line = f"{line} {word}" if line else word
    if line or not lines:
        lines.append(line)
    return [lead + part for part in lines]


def _hang(head: str, text: str, width: int | None) -> list[str]:
    """`head` then `text` wrapped; continuation lines indented to the end of `head`."""
    room = None if width is None else max(width - len(head), _MIN_WRAP_WIDTH)
    parts = wrap(text, room) if text else [""]
    return [f"{head}{parts[0]}".rstrip(),
            *(f"{' ' * len(head)}{part}".rstrip() for part in parts[1:])]


# --- values ----------------------------------------------------------------------------------


def format_time(value: datetime | None) -> str:
    """`2026-11-27 08:12:30 UTC` (seconds, no fraction); `-` for None."""
    if value is None:
        return _MISSING
    if value == TIMESTAMP_INFINITY:
        return "infinity"
    if value == TIMESTAMP_NEG_INFINITY:
        return "-infinity"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """A compact duration: `45s`, `35m`, `2h05m`, `3d`, `2d04h`."""
    total = int(abs(seconds))
    if total < 60:
        return f"{total}s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if hours else f"{days}d"


def format_relative(value: datetime | None, now: datetime) -> str:
    """`35m ago` or `in 5h`, relative to `now`; `-` for None."""
    if value is None:
        return _MISSING
    if value in (TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY):
        return format_time(value)
    seconds = (now - value).total_seconds()
    if abs(seconds) < 1:
        return "now"
    text = format_duration(seconds)
    return f"{text} ago" if seconds > 0 else f"in {text}"


def _when(value: datetime | None, now: datetime, missing: str = "never") -> str:
    if value is None:
        return missing
    return f"{format_time(value)} ({format_relative(value, now)})"


def human_bytes(value: int | None) -> str:
    """Binary units: `512 B`, `1.5 KiB`, `257.0 MiB`; `-` for None."""
    if value is None:
        return _MISSING
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{value} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _count(value: int | None) -> str:
    return _MISSING if value is None else f"{value:,}"


def _records(summary: Summary) -> str:
    state = summary.total_records_state
    if state in ("known", "known_zero"):
        return _count(summary.total_records)
    return "stale" if state == "stale" else _MISSING


def _compact_json(value: JsonValue) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def pill_cell(summary: Summary) -> Cell:
    """The verdict pill's label, coloured by its tone."""
    pill = summary.rendered_verdict.pill
    label = (pill.label if pill else None) or _MISSING
    tone = pill.tone if pill else None
    return Cell(label, TONE_COLORS.get(tone or ""))


# --- the overview table ----------------------------------------------------------------------

#: The overview's columns. Narrower than the whole table, the columns with the
#: highest priority go first: what stays is the connection, its verdict pill,
#: its last run and the next action, then freshness, health and its reason.
OVERVIEW_COLUMNS = (
    Column("CONNECTION"), Column("CONNECTOR", 5), Column("STATUS", 6), Column("VERDICT"),
    Column("HEALTH", 2), Column("REASON", 3), Column("LAST RUN"), Column("FRESHNESS", 1),
    Column("COVERAGE", 4), Column("RECORDS", 7), Column("SIZE", 8), Column("NEXT ACTION"),
)


def _last_run_cell(summary: Summary) -> str:
    run = summary.last_run
    if run is None:
        return "never"
    return f"{run.status or '?'} {format_relative(run.last_at, summary.observed_at)}"


def overview_row(summary: Summary) -> list[object]:
    health = summary.connection_health
    return [
        summary.connection_id,
        summary.connector_id,
        summary.status,
        pill_cell(summary),
        health.state,
        health.reason_code,
        _last_run_cell(summary),
        summary.freshness.status,
        summary.coverage,
        _records(summary),
        human_bytes(summary.total_retained_bytes),
        health.next_action,
    ]


def overview_table(summaries: Sequence[Summary], *, color: bool = False,
                   width: int | None = None) -> list[str]:
    """One row per connection, in overview order; `width`: see `table`."""
    return table(OVERVIEW_COLUMNS, [overview_row(s) for s in summaries], color=color,
                 width=width)


# --- the show block --------------------------------------------------------------------------


class _Block:
    """Sections of `label  value` lines, values aligned in one column and wrapped to `width`."""

    def __init__(self, width: int | None = None) -> None:
        self.lines: list[str] = []
        self.width = width

    def section(self, title: str, value: object = "") -> None:
        if self.lines:
            self.lines.append("")
        self._pair("", title, value)

    def field(self, label: str, value: object) -> None:
        self._pair("  ", label, value)

    def _pair(self, indent: str, label: str, value: object) -> None:
        text = value if isinstance(value, str) else _cell(value).text
        head = f"{indent}{label}"
        head = head.ljust(max(_LABEL_WIDTH, len(head) + 2))
        for n, line in enumerate(text.split("\n") if text else [""]):
            self.lines.extend(_hang(head if n == 0 else " " * len(head), line, self.width))


def _known_gaps(value: JsonValue) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, list):
        if not value:
            return "none"
        lines = []
        for gap in value:
            if isinstance(gap, dict) and "stream" in gap:
                line = f"{gap.get('stream')}: {gap.get('reason', '?')}"
                if gap.get("severity") is not None:
                    line += f" ({gap['severity']})"
                lines.append(line)
            else:
                lines.append(_compact_json(gap))
        return "\n".join(lines)
    return _compact_json(value)


def _collection_facts(value: JsonValue) -> str:
    if value is None:
        return "none"
    if not isinstance(value, dict) or set(value) != {"streams"}:
        return _compact_json(value)
    streams = value["streams"]
    if not isinstance(streams, list) or not all(isinstance(s, dict) for s in streams):
        return _compact_json(value)
    if not streams:
        return "none"
    lines = []
    for fact in streams:
        assert isinstance(fact, dict)
        parts = [f"{key} {fact[key]}" for key in ("collected", "considered", "covered")
                 if fact.get(key) is not None]
        lines.append(f"{fact.get('stream')}: {', '.join(parts) or 'no counts'}")
    return "\n".join(lines)


def _run_fields(block: _Block, run: RunSummary, now: datetime) -> None:
    block.field("started", _when(run.started_at, now, _MISSING))
    block.field("last event", _when(run.last_at, now, _MISSING))
    block.field("finished", _when(run.finished_at, now, "not finished"))
    block.field("events", run.event_count)
    block.field("failure reason", run.failure_reason or "none")
    surface = run.browser_surface
    if surface is not None:
        lines = [surface.status or _MISSING]
        if surface.wait_reason:
            lines.append(f"wait reason: {surface.wait_reason}")
        lines.append(f"profile: {surface.profile_key or _MISSING}")
        lines.append(f"lease: {surface.lease_id or _MISSING}")
        block.field("browser surface", "\n".join(lines))
    if "known_gaps" not in run.absent_keys:
        block.field("known gaps", _known_gaps(run.known_gaps))
    if "collection_facts" not in run.absent_keys:
        block.field("collection facts", _collection_facts(run.collection_facts))


def _run_title(run: RunSummary | None) -> str:
    return "none" if run is None else f"{run.run_id}: {run.status}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_block(summary: Summary, *, color: bool = False,
                  width: int | None = None) -> list[str]:
    """Every field group of one summary row, for humans; values wrap to `width`."""
    now = summary.observed_at
    health = summary.connection_health
    verdict = summary.rendered_verdict
    block = _Block(width)

    block.section(f"{summary.display_name} ({summary.connection_id})")
    block.field("owner", summary.owner_id)
    block.field("connector", f"{summary.connector_id} ({summary.connector_display_name})")
    block.field("status", f"{summary.status}, {summary.source_kind}")
    block.field("created", _when(summary.created_at, now))
    if summary.revoked_at is not None or summary.status == "revoked":
        block.field("revoked", _when(summary.revoked_at, now, _MISSING))
    block.field("observed at", f"{format_time(now)} ({summary.depth} read)")

    pill = pill_cell(summary)
    tone = verdict.pill.tone if verdict.pill else None
    block.section("verdict", f"{pill.render(color)} ({tone or _MISSING}, "
                             f"channel {verdict.channel or _MISSING})")
    block.field("statement", verdict.forward_statement)
    actions = verdict.required_actions or ()
    block.field("required actions", "\n".join(
        f"{a.action} (reason: {a.reason or _MISSING})" for a in actions) or "none")

    block.section("health", f"{health.state} (reason: {health.reason_code or _MISSING})")
    block.field("next action", health.next_action or "none")
    axes = health.axes
    if axes is not None:
        block.field("axes", "\n".join([
            f"freshness: {axes.freshness or _MISSING}",
            f"coverage: {axes.coverage or _MISSING}",
            f"attention: {axes.attention or _MISSING}",
            f"remote surface: {axes.remote_surface or _MISSING}",
        ]))
    badges = health.badges
    if badges is not None:
        on = [name for name, value in (("stale", badges.stale), ("syncing", badges.syncing))
              if value]
        block.field("badges", ", ".join(on) or "none")
    block.field("last success", _when(health.last_success_at, now))
    block.field("next attempt", _when(health.next_attempt_at, now, "none scheduled"))

    freshness = summary.freshness
    block.section("freshness", freshness.status)
    block.field("captured", _when(freshness.captured_at, now))
    block.field("last attempted", _when(freshness.last_attempted_at, now))

    block.section("coverage", summary.coverage)

    block.section("last run", _run_title(summary.last_run))
    if summary.last_run is not None:
        _run_fields(block, summary.last_run, now)
    block.section("last successful run", _run_title(summary.last_successful_run))
    if summary.last_successful_run is not None:
        _run_fields(block, summary.last_successful_run, now)

    declared = summary.streams or ()
    block.section("streams", f"{_plural(len(declared), 'declared stream')}, "
                             f"{_plural(summary.stream_count or 0, 'size row')}")
    for record in summary.stream_records or ():
        block.field(record.stream or "?", f"{_count(record.record_count)} ({record.count_state})")
    block.field("total records", f"{_count(summary.total_records)} "
                                 f"({summary.total_records_state})")

    retained = summary.retained_bytes
    if retained is None:
        block.section("retained size", "unknown (no clean size snapshot)")
    else:
        block.section("retained size", human_bytes(retained.total_bytes))
        block.field("current records", human_bytes(retained.record_json_bytes))
        block.field("record history", human_bytes(retained.record_changes_json_bytes))
        block.field("blobs", human_bytes(retained.blob_bytes))

    schedule = summary.schedule
    if schedule is None:
        block.section("schedule", "none")
    else:
        every = ("" if schedule.interval_seconds is None
                 else f", every {format_duration(schedule.interval_seconds)}")
        block.section("schedule", ("enabled" if schedule.enabled else "disabled") + every)
        block.field("next due", _when(schedule.next_due_at, now, _MISSING))
        backoff = schedule.backoff
        if backoff is not None:
            failures = _plural(backoff.consecutive_failures or 0, "consecutive failure")
            if backoff.active:
                text = (f"active until {_when(backoff.next_run_at, now, _MISSING)}\n"
                        f"reason: {backoff.reason_class or _MISSING}, {failures}")
            else:
                text = f"inactive, {failures}"
            block.field("backoff", text)
    return block.lines


# --- diagnostics -----------------------------------------------------------------------------


def _run_row(run: RunSummary) -> list[object]:
    took = (None if run.started_at is None or run.last_at is None
            or run.last_at in (TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY)
            else format_duration((run.last_at - run.started_at).total_seconds()))
    gaps = run.known_gaps
    return [
        run.run_id,
        run.status,
        format_time(run.started_at).removesuffix(" UTC"),
        took,
        run.event_count,
        run.browser_surface.status if run.browser_surface else None,
        len(gaps) if isinstance(gaps, list) else None,
        run.failure_reason,
    ]


#: The recent runs of `diagnostics`, and the latest run's events (see OVERVIEW_COLUMNS).
RUN_COLUMNS = (Column("RUN"), Column("STATUS"), Column("STARTED (UTC)", 1), Column("TOOK", 3),
               Column("EVENTS", 4), Column("SURFACE", 2), Column("GAPS", 5),
               Column("FAILURE REASON"))
EVENT_COLUMNS = (Column("SEQ"), Column("AT (UTC)", 1), Column("TYPE"), Column("STATUS"),
                 Column("CONNECTION", 2))
_EVENT_DATA = "        data "


def _event_lines(events: Sequence[RunEvent], width: int | None) -> list[str]:
    rows = [[e.event_seq, format_time(e.occurred_at).removesuffix(" UTC"), e.event_type,
             e.status, e.connector_instance_id or e.connection_id] for e in events]
    lines, hidden = _layout(EVENT_COLUMNS, rows, color=False, indent="  ", width=width)
    out = lines[:1]
    for line, event in zip(lines[1:], events, strict=True):
        out.append(line)
        if event.data not in (None, {}):
            out += _hang(_EVENT_DATA, _compact_json(event.data), width)
    return out + _hidden_note(hidden, width, "  ")


def diagnostics_block(diagnostics: Diagnostics, *, run_limit: int | None = None,
                      color: bool = False, width: int | None = None) -> list[str]:
    """The show block, then the recent runs and the latest run's events."""
    lines = summary_block(diagnostics.summary, color=color, width=width)
    runs = diagnostics.recent_runs
    limit = "" if run_limit is None else f", at most {run_limit}"
    lines += ["", f"recent runs ({len(runs)}, newest first{limit})"]
    if runs:
        lines += table(RUN_COLUMNS, [_run_row(r) for r in runs], indent="  ", width=width)
    else:
        lines.append("  none")
    last = diagnostics.summary.last_run
    events = diagnostics.latest_run_events
    lines += ["", f"latest run events ({last.run_id if last else 'no run'}, {len(events)})"]
    lines += _event_lines(events, width) if events else ["  none"]
    return lines
