-- 0009_claim_index_order: the claim indexes of run_evidence, keyed by the
-- claim before the connector.
-- migrate: no-transaction
--
-- Why: with (owner_id, source_kind, source_id, claim_kind, ...) a lookup of one
-- run by its primary key could be planned (generic plans price both at one
-- row) as a scan of the claim index bounded by (owner_id, source_kind,
-- source_id) and filtered on run_id: every run of the connector, growing with
-- its history. Keyed (owner_id, claim_kind, claim_value, ...), a claim index
-- is bounded by the owner alone for such a lookup, and the primary key wins.
--
-- Locks: CREATE INDEX CONCURRENTLY and DROP INDEX CONCURRENTLY take SHARE
-- UPDATE EXCLUSIVE on run_evidence: inserts (the commit-time merge), reads and
-- updates continue; only DDL and VACUUM wait. Each waits for the transactions
-- already running against the table. Duration: three passes over run_evidence
-- (about 1 s per 100,000 runs on 2 cores). Old and new code keep serving
-- throughout: both read heads through whichever claim index exists.
-- An interrupted build leaves an INVALID index; the next migrate drops and
-- rebuilds it.
create index concurrently if not exists run_evidence_latest_by_claim_idx
on connection_summary.run_evidence (
    owner_id, claim_kind, claim_value, source_kind, source_id, last_at desc, run_id desc
);

create index concurrently if not exists run_evidence_succeeded_by_claim_idx
on connection_summary.run_evidence (
    owner_id, claim_kind, claim_value, source_kind, source_id, last_at desc, run_id desc
)
where settled_status = 'succeeded';

create index concurrently if not exists run_evidence_terminal_by_claim_idx
on connection_summary.run_evidence (
    owner_id, claim_kind, claim_value, source_kind, source_id, last_at desc, run_id desc
)
where terminal_status is not null;

drop index concurrently if exists connection_summary.run_evidence_claim_latest_idx;
drop index concurrently if exists connection_summary.run_evidence_claim_succeeded_idx;
drop index concurrently if exists connection_summary.run_evidence_claim_terminal_idx;
