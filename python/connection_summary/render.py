"""Text for the command line: pure functions from the typed results to lines.

Nothing here decides anything: every state, reason and label comes from the SQL. Times
are in UTC, ages relative to the row's `observed_at` (the read's `p_now`), so a fixed
`--now` renders the same text every time. Only the verdict pill is coloured, when the
caller asks. `width` (None: no limit): `table` leaves out the least important columns
until the table fits and names them under it, then cuts the widest cells with `…`;
the `label  value` blocks wrap their values. Colour codes never count as width.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .models import (
    TIMESTAMP_INFINITY,
    TIMESTAMP_NEG_INFINITY,
    Diagnostics,
    JsonValue,
    RunSummary,
    Summary,
)

#: ANSI SGR codes of the pill tones.
TONE_COLORS = {"green": "1;32", "grey": "1;90", "amber": "1;33", "red": "1;31"}
_MISSING = "-"
_LABEL_WIDTH = 22
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MIN_CUT_WIDTH = 4  # a cell cut to fit keeps at least this many characters (with the `…`)
_MIN_WRAP_WIDTH = 20  # values wrap at no fewer characters than this, however narrow the width
_INFINITE = (TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY)


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and an ANSI SGR code to colour it with (or None)."""
    text: str
    sgr: str | None = None

    def render(self, color: bool) -> str:
        return f"\x1b[{self.sgr}m{self.text}\x1b[0m" if color and self.sgr else self.text


@dataclass(frozen=True)
class Column:
    """A table column. Priority 0 always shows; to fit a width, the highest priority goes
    first (of equal ones, the rightmost)."""
    header: str
    priority: int = 0


def _cell(value: object) -> Cell:
    if isinstance(value, Cell):
        return value
    return Cell(_MISSING if value is None or value == "" else str(value))


def table(columns: Sequence[str | Column], rows: Iterable[Sequence[object]], *,
          color: bool = False, indent: str = "", width: int | None = None,
          after_row: Sequence[list[str]] = ()) -> list[str]:
    """Left-aligned columns two spaces apart, fitted to `width`; `after_row[i]`: lines
    printed under row i."""
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
        lines.append((indent + "  ".join(
            c.render(color) + ("" if i == shown[-1] else " " * (widths[i] - len(c.text)))
            for i, c in zip(shown, cells, strict=True))).rstrip())
        lines += after_row[n - 1] if 0 < n <= len(after_row) else []
    hidden = [c.header for i, c in enumerate(cols) if i not in shown]
    note = f"(not shown, to fit {width} columns: {', '.join(hidden)}; --wide shows them)"
    return lines + (["", *(indent + line for line in wrap(
        note, None if width is None else width - len(indent)))] if hidden else [])


def _visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def wrap(text: str, width: int | None) -> list[str]:
    """`text` in lines of at most `width` visible characters, broken at spaces; a longer
    word is split unless it holds a colour code. Leading spaces start every line."""
    if width is None or _visible_len(text) <= width:
        return [text]
    lead = text[:len(text) - len(text.lstrip(" "))]
    room = max(width - len(lead), _MIN_WRAP_WIDTH)
    lines: list[str] = []
    line = ""
    for word in text.split():
        while _visible_len(word) > room and not _ANSI.search(word):
            lines += [line, word[:room]] if line else [word[:room]]
            line, word = "", word[room:]
        if line and _visible_len(line) + 1 + _visible_len(word) > room:
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
    return [f"{head}{parts[0]}".rstrip(), *(f"{' ' * len(head)}{p}".rstrip() for p in parts[1:])]


def format_time(value: datetime | None) -> str:
    """`2026-11-27 08:12:30 UTC` (seconds, no fraction); `-` for None."""
    if value is None:
        return _MISSING
    if value in _INFINITE:
        return "infinity" if value == TIMESTAMP_INFINITY else "-infinity"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """A compact duration: `45s`, `35m`, `2h05m`, `3d`, `2d04h`."""
    minutes, secs = divmod(int(abs(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{secs}s"


def format_relative(value: datetime | None, now: datetime) -> str:
    """`35m ago` or `in 5h`, relative to `now`; `-` for None."""
    if value is None or value in _INFINITE:
        return format_time(value)
    seconds = (now - value).total_seconds()
    if abs(seconds) < 1:
        return "now"
    return f"{format_duration(seconds)} ago" if seconds > 0 else f"in {format_duration(seconds)}"


def human_bytes(value: int | None) -> str:
    """Binary units: `512 B`, `1.5 KiB`, `257.0 MiB`; `-` for None."""
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


def _pill(summary: Summary) -> Cell:
    pill = summary.rendered_verdict.pill
    return Cell(pill.label, TONE_COLORS[pill.tone])


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


#: The overview's columns; narrower than the table, the highest priority goes first, so
#: what stays is the connection, its pill, its last run and the next action.
OVERVIEW_COLUMNS = (
    Column("CONNECTION"), Column("CONNECTOR", 5), Column("STATUS", 6), Column("VERDICT"),
    Column("HEALTH", 2), Column("REASON", 3), Column("LAST RUN"), Column("FRESHNESS", 1),
    Column("COVERAGE", 4), Column("RECORDS", 7), Column("SIZE", 8), Column("NEXT ACTION"),
)


def overview_table(summaries: Sequence[Summary], *, color: bool = False,
                   width: int | None = None) -> list[str]:
    """One row per connection, in overview order; `width`: see `table`."""
    rows = [[s.connection_id, s.connector_id, s.status, _pill(s), s.connection_health.state,
             s.connection_health.reason_code,
             "never" if s.last_run is None else
             f"{s.last_run.status or '?'} {format_relative(s.last_run.last_at, s.observed_at)}",
             s.freshness.status, s.coverage,
             {"known": _count(s.total_records), "known_zero": _count(s.total_records),
              "stale": "stale"}.get(s.total_records_state),
             human_bytes(s.total_retained_bytes), s.connection_health.next_action]
            for s in summaries]
    return table(OVERVIEW_COLUMNS, rows, color=color, width=width)


def _entries(value: JsonValue, line: Callable[[dict[str, JsonValue]], str]) -> str:
    """A run's free-form JSON list (`known_gaps`, `collection_facts`' `streams`), one line
    an entry; its JSON when it is not such a list."""
    if isinstance(value, dict) and set(value) == {"streams"}:
        value = value["streams"]
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        return _json(value)
    return "\n".join(line(e) for e in value if isinstance(e, dict)) or "none"


def _gap(gap: dict[str, JsonValue]) -> str:
    severity = "" if gap.get("severity") is None else f" ({gap['severity']})"
    return f"{gap.get('stream')}: {gap.get('reason', '?')}{severity}"


def _facts(fact: dict[str, JsonValue]) -> str:
    return f"{fact.get('stream')}: " + (", ".join(
        f"{k} {fact[k]}" for k in ("collected", "considered", "covered")
        if fact.get(k) is not None) or "no counts")


def _run_fields(run: RunSummary, when: Callable[[datetime | None, str], str],
                ) -> list[tuple[str, object]]:
    surface = run.browser_surface
    return [
        ("started", when(run.started_at, _MISSING)), ("last event", when(run.last_at, _MISSING)),
        ("finished", when(run.finished_at, "not finished")), ("events", run.event_count),
        ("failure reason", run.failure_reason or "none"),
        *([("browser surface", "\n".join([
            surface.status or _MISSING,
            *([f"wait reason: {surface.wait_reason}"] if surface.wait_reason else []),
            f"profile: {surface.profile_key or _MISSING}",
            f"lease: {surface.lease_id or _MISSING}"]))] if surface else []),
        *([("known gaps", _MISSING if run.known_gaps is None else _entries(run.known_gaps, _gap)),
           ("collection facts", "none" if run.collection_facts is None
            else _entries(run.collection_facts, _facts))] if run.is_deep else [])]


def summary_block(summary: Summary, *, color: bool = False,
                  width: int | None = None) -> list[str]:
    """Every field group of one summary row, for humans: sections of `label  value` lines,
    the values aligned in one column and wrapped to `width`."""
    s, now, health, verdict = (summary, summary.observed_at, summary.connection_health,
                               summary.rendered_verdict)

    def when(value: datetime | None, missing: str = "never") -> str:
        return missing if value is None else f"{format_time(value)} ({format_relative(value, now)})"

    sections: list[tuple[str, str, list[tuple[str, object]]]] = [
        (f"{s.display_name} ({s.connection_id})", "", [
            ("owner", s.owner_id), ("connector", f"{s.connector_id} ({s.connector_display_name})"),
            ("status", f"{s.status}, {s.source_kind}"), ("created", when(s.created_at)),
            *([("revoked", when(s.revoked_at, _MISSING))]
              if s.revoked_at is not None or s.status == "revoked" else []),
            ("observed at", f"{format_time(now)} ({s.depth} read)")]),
        ("verdict", f"{_pill(s).render(color)} ({verdict.pill.tone}, channel {verdict.channel})",
         [("statement", verdict.forward_statement),
          ("required actions", "\n".join(f"{a.action} (reason: {a.reason})"
                                         for a in verdict.required_actions) or "none")]),
        ("health", f"{health.state} (reason: {health.reason_code})", [
            ("next action", health.next_action or "none"),
            ("axes", "\n".join(f"{k.replace('_', ' ')}: {v}" for k, v in
                               health.axes.to_json().items())),
            ("badges", ", ".join(k for k, on in health.badges.to_json().items() if on) or "none"),
            ("last success", when(health.last_success_at)),
            ("next attempt", when(health.next_attempt_at, "none scheduled"))]),
        ("freshness", s.freshness.status, [
            ("captured", when(s.freshness.captured_at)),
            ("last attempted", when(s.freshness.last_attempted_at))]),
        ("coverage", s.coverage, []),
    ]
    for title, run in (("last run", s.last_run), ("last successful run", s.last_successful_run)):
        sections.append((title, "none", []) if run is None else
                        (title, f"{run.run_id}: {run.status}", _run_fields(run, when)))
    retained, schedule = s.retained_bytes, s.schedule
    sections += [
        ("streams", f"{_plural(len(s.streams), 'declared stream')}, "
                    f"{_plural(s.stream_count, 'size row')}",
         [*((r.stream, f"{_count(r.record_count)} ({r.count_state})") for r in s.stream_records),
          ("total records", f"{_count(s.total_records)} ({s.total_records_state})")]),
        ("retained size", "unknown (no clean size snapshot)", []) if retained is None else
        ("retained size", human_bytes(retained.total_bytes), [
            ("current records", human_bytes(retained.record_json_bytes)),
            ("record history", human_bytes(retained.record_changes_json_bytes)),
            ("blobs", human_bytes(retained.blob_bytes))]),
    ]
    if schedule is None:
        sections.append(("schedule", "none", []))
    else:
        backoff = schedule.backoff
        failures = _plural(backoff.consecutive_failures, "consecutive failure")
        sections.append((
            "schedule", ("enabled" if schedule.enabled else "disabled") + (
                "" if schedule.interval_seconds is None
                else f", every {format_duration(schedule.interval_seconds)}"),
            [("next due", when(schedule.next_due_at, _MISSING)),
             ("backoff", f"active until {when(backoff.next_run_at, _MISSING)}\n"
                         f"reason: {backoff.reason_class or _MISSING}, {failures}"
              if backoff.active else f"inactive, {failures}")]))
    lines: list[str] = []
    for title, headline, fields in sections:
        for n, (indent, label, value) in enumerate([("", title, headline),
                                                    *(("  ", *f) for f in fields)]):
            text = value if isinstance(value, str) else _cell(value).text
            head = f"{indent}{label}".ljust(max(_LABEL_WIDTH, len(indent + label) + 2))
            lines += [""] if n == 0 and lines else []
            for i, line in enumerate(text.split("\n") if text else [""]):
                lines += _hang(head if i == 0 else " " * len(head), line, width)
    return lines


#: The recent runs of `diagnostics`, and the latest run's events (see OVERVIEW_COLUMNS).
RUN_COLUMNS = (Column("RUN"), Column("STATUS"), Column("STARTED (UTC)", 1), Column("TOOK", 3),
               Column("EVENTS", 4), Column("SURFACE", 2), Column("GAPS", 5),
               Column("FAILURE REASON"))
EVENT_COLUMNS = (Column("SEQ"), Column("AT (UTC)", 1), Column("TYPE"), Column("STATUS"),
                 Column("CONNECTION", 2))


def diagnostics_block(diagnostics: Diagnostics, *, run_limit: int | None = None,
                      color: bool = False, width: int | None = None) -> list[str]:
    """The show block, then the recent runs and the latest run's events."""
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
