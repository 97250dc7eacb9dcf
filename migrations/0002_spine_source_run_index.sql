-- 0002_spine_source_run_index: the required source/run index on spine_events.
-- migrate: no-transaction
--
-- Locks: CREATE INDEX CONCURRENTLY takes SHARE UPDATE EXCLUSIVE on
-- spine_events: inserts, updates and reads continue while it builds; only
-- other DDL and VACUUM on the table wait. It waits for transactions already
-- running against the table to finish before it starts and before it ends.
-- Duration: one pass over spine_events plus a validation pass (about 1-2 s
-- per million events on 2 cores). Old code keeps serving throughout.
-- Interrupted builds leave an INVALID index; the next migrate drops and
-- rebuilds it. A DBA may pre-build it by hand (docs/migrations.md); IF NOT
-- EXISTS then makes this migration a no-op.
create index concurrently if not exists spine_events_source_run_idx
on connection_summary.spine_events (source_kind, source_id, run_id, occurred_at desc)
where run_id is not null;
