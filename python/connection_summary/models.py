"""Typed results: frozen dataclasses, read from the SQL's JSON by their type hints.

A `Literal` is a closed vocabulary of the SQL, a non-Optional field one it always fills;
anything else is `UnexpectedShape`. `from_json(j).to_json() == j` (unknown keys kept).
Results may be shared by the callers of one coalesced overview: sequences are tuples.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Self, TypeAlias, Union, cast, get_args, get_origin, get_type_hints

from .errors import ConnectionSummaryError

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"

TIMESTAMP_INFINITY = datetime.max.replace(tzinfo=UTC)
TIMESTAMP_NEG_INFINITY = datetime.min.replace(tzinfo=UTC)

ConnectionStatus: TypeAlias = Literal["draft", "active", "paused", "revoked"]
SourceKind: TypeAlias = Literal["account", "local_device", "browser_collector", "manual"]
Depth: TypeAlias = Literal["overview", "deep"]
CountState: TypeAlias = Literal["known", "known_zero", "stale", "unobserved"]
FreshnessStatus: TypeAlias = Literal["current", "stale", "unknown"]
Coverage: TypeAlias = Literal["complete", "partial", "retryable_gap", "terminal_gap", "unknown"]
HealthState: TypeAlias = Literal["healthy", "idle", "unknown", "needs_attention", "cooling_off",
                                 "degraded", "blocked"]
AttentionAxis: TypeAlias = Literal["none", "required"]
Tone: TypeAlias = Literal["green", "grey", "amber", "red"]
PillLabel: TypeAlias = Literal["Healthy", "Checking", "Degraded", "Can't collect"]
Channel: TypeAlias = Literal["attention", "advisory", "calm"]


class UnexpectedShape(ConnectionSummaryError):
    """The database returned a value this code cannot read (a code/schema mismatch)."""


def json_loads(text: str | bytes) -> JsonValue:
    # int() refuses more than 4,300 digits (Decimal does not); jsonb holds up to 131,072.
    return cast(JsonValue, json.loads(text, parse_int=lambda digits: int(Decimal(digits))))


def parse_timestamp(value: str) -> datetime:
    if value in ("infinity", "-infinity"):
        return TIMESTAMP_INFINITY if value == "infinity" else TIMESTAMP_NEG_INFINITY
    return datetime.fromisoformat(value)


def format_timestamp(value: datetime) -> str:
    """As `to_jsonb(timestamptz)` writes it, so that to_json gives back the SQL's JSON."""
    if value.utcoffset() == timedelta(0) and value in (TIMESTAMP_INFINITY,
                                                       TIMESTAMP_NEG_INFINITY):
        return "infinity" if value == TIMESTAMP_INFINITY else "-infinity"
    text = value.replace(microsecond=0).isoformat()  # the offset, if any, after 19 characters
    return text[:19] + f".{value.microsecond:06d}".rstrip("0").rstrip(".") + text[19:]


def _shape_error(path: str, expected: str, value: object) -> UnexpectedShape:
    return UnexpectedShape(f"{path}: expected {expected}, got {type(value).__name__} {value!r:.80}")


def _decode(hint: Any, value: object, path: str) -> object:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) > 1:  # JsonValue: the caller's free-form JSON, kept as it is
            return value
        return None if value is None else _decode(rest[0], value, path)
    if value is None:
        raise UnexpectedShape(f"{path}: missing or null, which the SQL never gives")
    if origin is Literal:
        if value not in args or not isinstance(value, str):
            raise _shape_error(path, " or ".join(map(repr, args)), value)
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _shape_error(path, "an array", value)
        return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, _Model):
        return hint._load(value, path)
    if hint is datetime:
        if isinstance(value, str):
            try:
                value = parse_timestamp(value)
            except ValueError as exc:
                raise _shape_error(path, "an ISO 8601 timestamp", value) from exc
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise _shape_error(path, "a timestamp with a time zone", value)
        return value.astimezone(UTC)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise _shape_error(path, f"a {hint.__name__}", value)
    return value


def _encode(value: object) -> JsonValue:
    if isinstance(value, _Model):
        return value.to_json()
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return cast(JsonValue, value)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        hints = get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in fields(cls) if f.init}
    return _HINTS[cls]


@dataclass(frozen=True)
class _Model:
    """from_json/to_json driven by the dataclass fields (JSON key = attribute name)."""
    # Keys the class does not know, written back by to_json (and compared).
    _extra: JsonObject = field(default_factory=dict, init=False, repr=False)
    # Known keys the JSON did not carry: left out again by to_json.
    _absent: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    @classmethod
    def _load(cls, value: object, path: str) -> Self:
        if not isinstance(value, dict):
            raise _shape_error(path, "an object", value)
        hints = _hints(cls)
        obj = cls(**{name: _decode(hint, value.get(name), f"{path}.{name}")
                     for name, hint in hints.items()})
        object.__setattr__(obj, "_extra", {k: v for k, v in value.items() if k not in hints})
        object.__setattr__(obj, "_absent", frozenset(hints.keys() - value.keys()))
        return obj

    @classmethod
    def from_json(cls, value: object) -> Self:
        return cls._load(value, cls.__name__)

    def to_json(self) -> JsonObject:
        return {name: _encode(getattr(self, name)) for name in _hints(type(self))
                if name not in self._absent} | self._extra


@dataclass(frozen=True)
class StreamRecord(_Model):
    stream: str
    record_count: int | None
    count_state: CountState


@dataclass(frozen=True)
class RetainedBytes(_Model):
    record_json_bytes: int
    record_changes_json_bytes: int
    blob_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class Backoff(_Model):
    active: bool
    consecutive_failures: int
    next_run_at: datetime | None
    reason_class: str | None


@dataclass(frozen=True)
class Schedule(_Model):
    enabled: bool
    interval_seconds: int | None
    next_due_at: datetime | None
    backoff: Backoff


@dataclass(frozen=True)
class BrowserSurface(_Model):
    profile_key: str | None
    status: str | None
    wait_reason: str | None
    lease_id: str | None


@dataclass(frozen=True)
class RunSummary(_Model):
    """A run (docs/contract.md); `known_gaps`/`collection_facts` only in deep reads."""
    run_id: str
    status: str | None
    started_at: datetime
    last_at: datetime
    finished_at: datetime | None
    event_count: int
    failure_reason: str | None
    browser_surface: BrowserSurface | None = None
    known_gaps: JsonValue = None
    collection_facts: JsonValue = None


@dataclass(frozen=True)
class Freshness(_Model):
    status: FreshnessStatus
    captured_at: datetime | None
    last_attempted_at: datetime | None


@dataclass(frozen=True)
class HealthAxes(_Model):
    """`connection_health.axes`; `remote_surface` is a lease or run surface status, or 'none'."""
    freshness: FreshnessStatus
    coverage: Coverage
    attention: AttentionAxis
    remote_surface: str


@dataclass(frozen=True)
class HealthBadges(_Model):
    stale: bool
    syncing: bool


@dataclass(frozen=True)
class ConnectionHealth(_Model):
    state: HealthState
    reason_code: str
    axes: HealthAxes
    badges: HealthBadges
    last_success_at: datetime | None
    next_attempt_at: datetime | None
    next_action: str | None


@dataclass(frozen=True)
class Pill(_Model):
    tone: Tone
    label: PillLabel


@dataclass(frozen=True)
class RequiredAction(_Model):
    action: str
    reason: str


@dataclass(frozen=True)
class RenderedVerdict(_Model):
    pill: Pill
    channel: Channel
    forward_statement: str
    required_actions: tuple[RequiredAction, ...]


@dataclass(frozen=True)
class RunEvent(_Model):
    event_seq: int
    event_type: str
    status: str | None
    occurred_at: datetime
    connector_instance_id: str | None
    connection_id: str | None
    data: JsonValue


@dataclass(frozen=True)
class Summary(_Model):
    """One row of `connection_summary.summary`, every column kept, in column order."""
    connection_id: str
    connector_instance_id: str
    connector_id: str
    owner_id: str
    display_name: str
    connector_display_name: str
    status: ConnectionStatus
    source_kind: SourceKind
    created_at: datetime
    revoked_at: datetime | None
    depth: Depth
    observed_at: datetime
    cursor: str
    streams: tuple[str, ...]
    stream_records: tuple[StreamRecord, ...]
    stream_count: int
    total_records: int | None
    total_records_state: CountState
    retained_bytes: RetainedBytes | None
    total_retained_bytes: int | None
    schedule: Schedule | None
    last_run: RunSummary | None
    last_successful_run: RunSummary | None
    freshness: Freshness
    coverage: Coverage
    connection_health: ConnectionHealth
    rendered_verdict: RenderedVerdict

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        """A row of `overview`/`for_route` fetched with psycopg's `dict_row`."""
        return cls.from_json(row)


@dataclass(frozen=True)
class Diagnostics(_Model):
    """`diagnostics(...)`: one JSON object, the summary's columns plus two lists."""
    summary: Summary
    recent_runs: tuple[RunSummary, ...]
    latest_run_events: tuple[RunEvent, ...]

    @classmethod
    def _load(cls, value: object, path: str) -> Self:
        # The summary's columns are top-level keys: read them as the nested `summary`.
        if isinstance(value, dict):
            columns = _hints(Summary)
            value = {k: v for k, v in value.items() if k not in columns} | {
                "summary": {k: v for k, v in value.items() if k in columns}}
        return super()._load(value, path)

    def to_json(self) -> JsonObject:
        return self.summary.to_json() | {k: v for k, v in super().to_json().items()
                                         if k != "summary"}
