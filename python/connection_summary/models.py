"""Typed results: frozen dataclasses that keep every column of a summary row.

Every class reads the JSON the SQL `*_json` functions give (`from_json`) and
writes it back unchanged (`to_json`): `Summary.from_json(j).to_json() == j`.
`Summary.from_row` reads the composite row `overview`/`for_route` return, with
psycopg's own types for the top-level columns; both give equal objects.

Three things keep the round trip exact whatever the SQL adds later:

* keys a class does not know are kept in `extra` and written back;
* a known key the JSON did not carry is remembered in `absent_keys` and left
  out again (rather than written as `null`);
* timestamps are `datetime`s written back in PostgreSQL's own jsonb format
  (`2026-01-01T00:00:00.5+00:00`: ISO 8601, fraction without trailing zeros,
  the offset the value was read with), and `infinity`/`-infinity` map to
  `datetime.max`/`datetime.min` (UTC), as psycopg's documentation suggests.

Results may be shared by the callers of one coalesced overview: sequences are
tuples, and the dicts inside (`extra`, free-form JSON) must be treated as
read-only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self, TypeAlias, TypeVar, cast

from .errors import ConnectionSummaryError

JsonValue: TypeAlias = (
    "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
)
JsonObject: TypeAlias = "dict[str, JsonValue]"

T = TypeVar("T")
M = TypeVar("M", bound="_JsonModel")

#: How `infinity` / `-infinity` timestamps are represented.
TIMESTAMP_INFINITY = datetime.max.replace(tzinfo=UTC)
TIMESTAMP_NEG_INFINITY = datetime.min.replace(tzinfo=UTC)


class UnexpectedShape(ConnectionSummaryError):
    """The database returned a value this code cannot read (a code/schema mismatch)."""


# --- JSON text ------------------------------------------------------------------------------

# Python refuses to convert decimal strings of more than 4300 digits to int
# (sys.get_int_max_str_digits()); jsonb holds integers of up to 131072 digits.
_INT_CHUNK = 4000


def _parse_int(text: str) -> int:
    """An integer of any length, exactly (chunk by chunk, under Python's digit limit)."""
    digits = text.lstrip("-")
    if len(digits) <= _INT_CHUNK:
        return int(text)
    value = 0
    for start in range(0, len(digits), _INT_CHUNK):
        chunk = digits[start:start + _INT_CHUNK]
        value = value * 10 ** len(chunk) + int(chunk)
    return -value if text.startswith("-") else value


def json_loads(text: str | bytes) -> JsonValue:
    """Read JSON text as PostgreSQL writes jsonb: every integer it can hold, exactly.

    `json.loads` raises ValueError on an integer of more than 4300 digits, which
    jsonb accepts (`1e5000` is stored and rendered as 5001 digits).
    """
    return cast(JsonValue, json.loads(text, parse_int=_parse_int))


# --- timestamps ------------------------------------------------------------------------------


def parse_timestamp(value: str) -> datetime:
    """Read a timestamp as PostgreSQL renders it in jsonb."""
    if value == "infinity":
        return TIMESTAMP_INFINITY
    if value == "-infinity":
        return TIMESTAMP_NEG_INFINITY
    return datetime.fromisoformat(value)


def format_timestamp(value: datetime) -> str:
    """Write a timestamp exactly as PostgreSQL's jsonb does (`to_jsonb(timestamptz)`)."""
    if value == TIMESTAMP_INFINITY and value.utcoffset() == timedelta(0):
        return "infinity"
    if value == TIMESTAMP_NEG_INFINITY and value.utcoffset() == timedelta(0):
        return "-infinity"
    text = (f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
            f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    offset = value.utcoffset()
    if offset is None:
        return text
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text += f"{sign}{hours:02d}:{minutes:02d}"
    if secs:
        text += f":{secs:02d}"
    return text


# --- field codecs ----------------------------------------------------------------------------
# A codec reads one JSON (or psycopg) value into its Python form and writes it back.


@dataclass(frozen=True)
class _Codec:
    decode: Callable[[object, str], object]
    encode: Callable[[Any], JsonValue]
    nullable: bool = True


def _shape_error(path: str, expected: str, value: object) -> UnexpectedShape:
    return UnexpectedShape(f"{path}: expected {expected}, got {type(value).__name__} {value!r:.80}")


def _decode_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _shape_error(path, "a string", value)
    return value


def _decode_int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _shape_error(path, "an integer", value)
    return value


def _decode_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _shape_error(path, "a boolean", value)
    return value


def _decode_timestamp(value: object, path: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise _shape_error(path, "an ISO 8601 timestamp", value) from exc
    raise _shape_error(path, "a timestamp", value)


def _decode_json(value: object, path: str) -> JsonValue:
    return cast(JsonValue, value)  # psycopg and json.loads give JSON values


def _decode_str_tuple(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _shape_error(path, "an array of strings", value)
    return tuple(_decode_str(v, f"{path}[{i}]") for i, v in enumerate(value))


def _identity(value: Any) -> JsonValue:
    return value  # type: ignore[no-any-return]


_STR = _Codec(_decode_str, _identity)
_INT = _Codec(_decode_int, _identity)
_BOOL = _Codec(_decode_bool, _identity)
_TIMESTAMP = _Codec(_decode_timestamp, format_timestamp)
_JSON = _Codec(_decode_json, _identity)
_STR_TUPLE = _Codec(_decode_str_tuple, list)


def _required(codec: _Codec) -> _Codec:
    return _Codec(codec.decode, codec.encode, nullable=False)


def _nested(model: type[_JsonModel]) -> _Codec:
    return _Codec(lambda value, path: model._load(value, path), lambda value: value.to_json())


def _load_tuple(model: type[M], value: object, path: str) -> tuple[M, ...]:
    if not isinstance(value, list | tuple):
        raise _shape_error(path, "an array of objects", value)
    return tuple(model._load(v, f"{path}[{i}]") for i, v in enumerate(value))


def _nested_tuple(model: type[_JsonModel]) -> _Codec:
    return _Codec(lambda value, path: _load_tuple(model, value, path),
                  lambda value: [v.to_json() for v in value])


# --- the base of every model -----------------------------------------------------------------


def _build(ctor: Callable[..., T], kwargs: dict[str, object]) -> T:
    return ctor(**kwargs)


class _JsonModel:
    """from_json/to_json driven by the class's `_FIELDS` (JSON key = attribute name)."""

    _FIELDS: ClassVar[Mapping[str, _Codec]]
    extra: JsonObject
    absent_keys: frozenset[str]

    @classmethod
    def _load(cls, value: object, path: str | None = None) -> Self:
        path = path or cls.__name__
        if not isinstance(value, Mapping):
            raise _shape_error(path, "an object", value)
        kwargs: dict[str, object] = {}
        absent: set[str] = set()
        for name, codec in cls._FIELDS.items():
            if name not in value:
                if not codec.nullable:
                    raise UnexpectedShape(f"{path}: missing key {name!r}")
                absent.add(name)
                kwargs[name] = None
            elif value[name] is None:
                if not codec.nullable:
                    raise UnexpectedShape(f"{path}.{name}: must not be null")
                kwargs[name] = None
            else:
                kwargs[name] = codec.decode(value[name], f"{path}.{name}")
        kwargs["extra"] = {str(k): v for k, v in value.items() if k not in cls._FIELDS}
        kwargs["absent_keys"] = frozenset(absent)
        return _build(cls, kwargs)

    @classmethod
    def from_json(cls, value: object) -> Self:
        """Read the object the SQL `*_json` functions give (or a part of it)."""
        return cls._load(value)

    def to_json(self) -> JsonObject:
        """The same JSON object `from_json` read: `from_json(j).to_json() == j`."""
        out: JsonObject = {}
        for name, codec in self._FIELDS.items():
            value = getattr(self, name)
            if value is None:
                if name not in self.absent_keys:
                    out[name] = None
            else:
                out[name] = codec.encode(value)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


# --- nested objects --------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamRecord(_JsonModel):
    """One entry of `stream_records`: `{stream, record_count, count_state}`."""

    stream: str | None = None
    record_count: int | None = None
    count_state: str | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "stream": _STR, "record_count": _INT, "count_state": _STR,
    }


@dataclass(frozen=True)
class RetainedBytes(_JsonModel):
    """`retained_bytes`: the connection's retained-size snapshot."""

    record_json_bytes: int | None = None
    record_changes_json_bytes: int | None = None
    blob_bytes: int | None = None
    total_bytes: int | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "record_json_bytes": _INT, "record_changes_json_bytes": _INT,
        "blob_bytes": _INT, "total_bytes": _INT,
    }


@dataclass(frozen=True)
class Backoff(_JsonModel):
    """`schedule.backoff`."""

    active: bool | None = None
    consecutive_failures: int | None = None
    next_run_at: datetime | None = None
    reason_class: str | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "active": _BOOL, "consecutive_failures": _INT,
        "next_run_at": _TIMESTAMP, "reason_class": _STR,
    }


@dataclass(frozen=True)
class Schedule(_JsonModel):
    """`schedule`: `{enabled, interval_seconds, next_due_at, backoff}`."""

    enabled: bool | None = None
    interval_seconds: int | None = None
    next_due_at: datetime | None = None
    backoff: Backoff | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "enabled": _BOOL, "interval_seconds": _INT, "next_due_at": _TIMESTAMP,
        "backoff": _nested(Backoff),
    }


@dataclass(frozen=True)
class BrowserSurface(_JsonModel):
    """`browser_surface` of a run: the newest browser-surface lease event's fields."""

    profile_key: str | None = None
    status: str | None = None
    wait_reason: str | None = None
    lease_id: str | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "profile_key": _STR, "status": _STR, "wait_reason": _STR, "lease_id": _STR,
    }


@dataclass(frozen=True)
class RunSummary(_JsonModel):
    """A run summary (CONTRACT §4): `last_run`, `last_successful_run`, `recent_runs[]`.

    `known_gaps` and `collection_facts` are carried as the JSON the run's
    terminal event holds (caller-written data, kept verbatim).
    """

    run_id: str | None = None
    status: str | None = None
    started_at: datetime | None = None
    last_at: datetime | None = None
    finished_at: datetime | None = None
    event_count: int | None = None
    failure_reason: str | None = None
    browser_surface: BrowserSurface | None = None
    known_gaps: JsonValue = None
    collection_facts: JsonValue = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "run_id": _STR, "status": _STR, "started_at": _TIMESTAMP, "last_at": _TIMESTAMP,
        "finished_at": _TIMESTAMP, "event_count": _INT, "failure_reason": _STR,
        "browser_surface": _nested(BrowserSurface), "known_gaps": _JSON,
        "collection_facts": _JSON,
    }


@dataclass(frozen=True)
class Freshness(_JsonModel):
    """`freshness`: `{status: current|stale|unknown, captured_at, last_attempted_at}`."""

    status: str | None = None
    captured_at: datetime | None = None
    last_attempted_at: datetime | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "status": _STR, "captured_at": _TIMESTAMP, "last_attempted_at": _TIMESTAMP,
    }


@dataclass(frozen=True)
class HealthAxes(_JsonModel):
    """`connection_health.axes`."""

    freshness: str | None = None
    coverage: str | None = None
    attention: str | None = None
    remote_surface: str | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "freshness": _STR, "coverage": _STR, "attention": _STR, "remote_surface": _STR,
    }


@dataclass(frozen=True)
class HealthBadges(_JsonModel):
    """`connection_health.badges`."""

    stale: bool | None = None
    syncing: bool | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {"stale": _BOOL, "syncing": _BOOL}


@dataclass(frozen=True)
class ConnectionHealth(_JsonModel):
    """`connection_health` (CONTRACT §5)."""

    state: str | None = None
    reason_code: str | None = None
    axes: HealthAxes | None = None
    badges: HealthBadges | None = None
    last_success_at: datetime | None = None
    next_attempt_at: datetime | None = None
    next_action: str | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "state": _STR, "reason_code": _STR, "axes": _nested(HealthAxes),
        "badges": _nested(HealthBadges), "last_success_at": _TIMESTAMP,
        "next_attempt_at": _TIMESTAMP, "next_action": _STR,
    }


@dataclass(frozen=True)
class Pill(_JsonModel):
    """`rendered_verdict.pill`: one of green/Healthy, grey/Checking, amber/Degraded,
    red/Can't collect."""

    tone: str | None = None
    label: str | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {"tone": _STR, "label": _STR}


@dataclass(frozen=True)
class RequiredAction(_JsonModel):
    """One entry of `rendered_verdict.required_actions`: `{action, reason}`."""

    action: str | None = None
    reason: str | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {"action": _STR, "reason": _STR}


@dataclass(frozen=True)
class RenderedVerdict(_JsonModel):
    """`rendered_verdict`: `{pill, channel, forward_statement, required_actions}`."""

    pill: Pill | None = None
    channel: str | None = None
    forward_statement: str | None = None
    required_actions: tuple[RequiredAction, ...] | None = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "pill": _nested(Pill), "channel": _STR, "forward_statement": _STR,
        "required_actions": _nested_tuple(RequiredAction),
    }


@dataclass(frozen=True)
class RunEvent(_JsonModel):
    """One event of the latest run, as `diagnostics` lists them."""

    event_seq: int | None = None
    event_type: str | None = None
    status: str | None = None
    occurred_at: datetime | None = None
    connector_instance_id: str | None = None
    connection_id: str | None = None
    data: JsonValue = None
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "event_seq": _INT, "event_type": _STR, "status": _STR,
        "occurred_at": _TIMESTAMP, "connector_instance_id": _STR, "connection_id": _STR,
        "data": _JSON,
    }


# --- the summary row -------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary(_JsonModel):
    """One row of `connection_summary.summary` (CONTRACT §3), every column kept."""

    connection_id: str
    connector_instance_id: str
    connector_id: str
    owner_id: str
    display_name: str
    connector_display_name: str
    status: str
    source_kind: str
    created_at: datetime
    revoked_at: datetime | None
    depth: str
    observed_at: datetime
    cursor: str | None
    streams: tuple[str, ...] | None
    stream_records: tuple[StreamRecord, ...] | None
    stream_count: int | None
    total_records: int | None
    total_records_state: str
    retained_bytes: RetainedBytes | None
    total_retained_bytes: int | None
    schedule: Schedule | None
    last_run: RunSummary | None
    last_successful_run: RunSummary | None
    freshness: Freshness
    coverage: str
    connection_health: ConnectionHealth
    rendered_verdict: RenderedVerdict
    extra: JsonObject = field(default_factory=dict, repr=False)
    absent_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    _FIELDS: ClassVar[Mapping[str, _Codec]] = {
        "connection_id": _required(_STR),
        "connector_instance_id": _required(_STR),
        "connector_id": _required(_STR),
        "owner_id": _required(_STR),
        "display_name": _required(_STR),
        "connector_display_name": _required(_STR),
        "status": _required(_STR),
        "source_kind": _required(_STR),
        "created_at": _required(_TIMESTAMP),
        "revoked_at": _TIMESTAMP,
        "depth": _required(_STR),
        "observed_at": _required(_TIMESTAMP),
        "cursor": _STR,
        "streams": _STR_TUPLE,
        "stream_records": _nested_tuple(StreamRecord),
        "stream_count": _INT,
        "total_records": _INT,
        "total_records_state": _required(_STR),
        "retained_bytes": _nested(RetainedBytes),
        "total_retained_bytes": _INT,
        "schedule": _nested(Schedule),
        "last_run": _nested(RunSummary),
        "last_successful_run": _nested(RunSummary),
        "freshness": _required(_nested(Freshness)),
        "coverage": _required(_STR),
        "connection_health": _required(_nested(ConnectionHealth)),
        "rendered_verdict": _required(_nested(RenderedVerdict)),
    }

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Self:
        """Read one row of `overview`/`for_route` fetched with psycopg's `dict_row`."""
        return cls._load(row)


# --- diagnostics -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Diagnostics:
    """`diagnostics(...)`: the deep summary plus `recent_runs` and `latest_run_events`.

    The JSON is one object: every summary column at the top level, plus
    `recent_runs` (newest first) and `latest_run_events`.
    """

    summary: Summary
    recent_runs: tuple[RunSummary, ...]
    latest_run_events: tuple[RunEvent, ...]
    extra: JsonObject = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, value: object) -> Self:
        if not isinstance(value, Mapping):
            raise _shape_error("Diagnostics", "an object", value)
        for key in ("recent_runs", "latest_run_events"):
            if value.get(key) is None:
                raise UnexpectedShape(f"Diagnostics: missing key {key!r}")
        known = Summary._FIELDS.keys() | {"recent_runs", "latest_run_events"}
        summary = Summary._load({k: v for k, v in value.items() if k in Summary._FIELDS},
                                "Diagnostics")
        return cls(
            summary=summary,
            recent_runs=_load_tuple(RunSummary, value["recent_runs"], "Diagnostics.recent_runs"),
            latest_run_events=_load_tuple(RunEvent, value["latest_run_events"],
                                          "Diagnostics.latest_run_events"),
            extra={str(k): v for k, v in value.items() if k not in known},
        )

    def to_json(self) -> JsonObject:
        out = self.summary.to_json()
        out["recent_runs"] = [run.to_json() for run in self.recent_runs]
        out["latest_run_events"] = [event.to_json() for event in self.latest_run_events]
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out
