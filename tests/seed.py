"""A small, realistic data set for the client and coalescing tests (two owners).

alice: six non-draft connections over three connectors (one paused, one revoked,
two sibling browser connections, runs that succeeded, failed and surface-failed,
retained sizes and a schedule) plus a draft that must never appear.
bob: two connections, one of them of a connector alice also uses.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

ALICE = "alice"
BOB = "bob"
# alice's non-draft connections in overview order (connector_id, created_at, instance id).
ALICE_CONNECTIONS = ["bank-a1", "bank-a2", "chase-a1", "mail-a1", "mail-a2", "mail-a3"]
BOB_CONNECTIONS = ["chase-b1", "mail-b1"]

_CONNECTORS = [
    ("mail", "Mail", {
        "streams": [{"name": "messages"}, {"name": "labels", "required": False}],
        "refresh_policy": {"maximum_staleness_seconds": 86400, "background_safe": True},
    }),
    ("chase", "Chase", {"streams": [{"name": "accounts"}, {"name": "transactions"}]}),
    ("bank", None, {"streams": [{"name": "statements"}],
                    "browser_surface": {"profile_key": "bankweb"}}),
]

_CONNECTIONS = [
    # id, owner, connector, display name, status, source kind, created_at, revoked_at
    ("mail-a1", ALICE, "mail", "Work mail", "active", "account", "2026-01-01", None),
    ("mail-a2", ALICE, "mail", None, "paused", "account", "2026-01-02", None),
    ("mail-a3", ALICE, "mail", "Old mail", "revoked", "account", "2026-01-03", "2026-02-01"),
    ("mail-draft", ALICE, "mail", "Draft", "draft", "account", "2026-01-04", None),
    ("chase-a1", ALICE, "chase", "Checking", "active", "account", "2026-01-01", None),
    ("bank-a1", ALICE, "bank", "Bank (home)", "active", "browser_collector", "2026-01-01", None),
    ("bank-a2", ALICE, "bank", "Bank (work)", "active", "browser_collector", "2026-01-02", None),
    ("mail-b1", BOB, "mail", "Bob's mail", "active", "account", "2026-01-05", None),
    ("chase-b1", BOB, "chase", None, "active", "account", "2026-01-05", None),
]


def _event(cur: psycopg.Cursor[tuple[object, ...]], owner: str, connector: str, run: str,
           event_type: str, status: str | None, at: str, instance: str | None = None,
           data: dict[str, object] | None = None) -> None:
    cur.execute(
        "insert into connection_summary.spine_events (owner_id, event_type, status, "
        "source_kind, source_id, run_id, occurred_at, connector_instance_id, data) "
        "values (%s, %s, %s, 'connector', %s, %s, %s, %s, %s)",
        (owner, event_type, status, connector, run, at, instance, Jsonb(data or {})),
    )


def seed(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into connection_summary.connectors (connector_id, display_name, manifest) "
            "values (%s, %s, %s)",
            [(cid, name, Jsonb(manifest)) for cid, name, manifest in _CONNECTORS])
        cur.executemany(
            "insert into connection_summary.connections (connector_instance_id, owner_id, "
            "connector_id, display_name, status, source_kind, created_at, revoked_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s)", _CONNECTIONS)
        # mail-a1: a succeeded run with collection facts, then a failed one.
        _event(cur, ALICE, "mail", "r-mail-1", "run.started", "started",
               "2026-02-28T10:00:00.123456+00", "mail-a1")
        _event(cur, ALICE, "mail", "r-mail-1", "run.completed", "succeeded",
               "2026-02-28T10:05:00.5+00", "mail-a1",
               {"collection_facts": {"streams": [
                   {"stream": "messages", "collected": 10, "considered": 10}]}})
        _event(cur, ALICE, "mail", "r-mail-2", "run.started", "started",
               "2026-03-01T09:00:00+00", "mail-a1")
        _event(cur, ALICE, "mail", "r-mail-2", "run.failed", "failed",
               "2026-03-01T09:01:00+00", "mail-a1", {"reason": "rate_limited"})
        # chase-a1: a credential failure.
        _event(cur, ALICE, "chase", "r-chase-1", "run.started", "started",
               "2026-02-27T08:00:00+00", "chase-a1")
        _event(cur, ALICE, "chase", "r-chase-1", "run.failed", "failed",
               "2026-02-27T08:00:30+00", "chase-a1", {"reason": "auth_expired"})
        # bank-a2: a browser surface that failed to start, with a wait reason.
        _event(cur, ALICE, "bank", "r-bank-1", "run.browser_surface_failed", "surface_failed",
               "2026-02-28T07:00:00+00", None,
               {"browser_surface": {"browser_surface_profile_key": "bankweb:bank-a2",
                                    "browser_surface_status": "surface_failed",
                                    "browser_surface_wait_reason": "profile_locked",
                                    "browser_surface_lease_id": "lease-1"}})
        # bob's mail: one succeeded run.
        _event(cur, BOB, "mail", "r-bob-1", "run.started", "started",
               "2026-02-28T11:00:00+00", "mail-b1")
        _event(cur, BOB, "mail", "r-bob-1", "run.completed", "succeeded",
               "2026-02-28T11:02:00+00", "mail-b1")
        cur.executemany(
            "insert into connection_summary.retained_size_streams (connector_instance_id, "
            "stream, owner_id, connector_id, record_count, current_record_json_bytes, "
            "record_history_json_bytes, blob_bytes) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [("mail-a1", "messages", ALICE, "mail", 10, 1000, 200, 0),
             ("mail-a1", "labels", ALICE, "mail", 3, 30, 0, 0)])
        cur.execute(
            "insert into connection_summary.retained_size_connections (connector_instance_id, "
            "owner_id, current_record_json_bytes, record_history_json_bytes, blob_bytes) "
            "values ('mail-a1', %s, 1030, 200, 0)", (ALICE,))
        cur.execute(
            "insert into connection_summary.schedules (connector_instance_id, owner_id, "
            "enabled, interval_seconds, next_due_at, last_successful_at) "
            "values ('mail-a1', %s, true, 3600, '2026-03-01T13:00:00+00', "
            "'2026-02-28T10:05:00.5+00')", (ALICE,))
