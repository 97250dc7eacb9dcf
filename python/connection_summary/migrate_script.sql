-- The psql script `connection-summary migrate --sql` prints: str.format
-- templates that migrations.pending_sql fills in (doubled braces are literal).
-- migrate() runs migration_lock too: one way to take the lock, whichever tool migrates.

-- name: script_head
-- connection-summary: the pending migrations, printed by `migrate --sql`.
-- Apply it with psql, outside any transaction (never -1/--single-transaction):
--
--     psql "$DSN" -X -v ON_ERROR_STOP=1 -f pending.sql
--
-- It is the procedure `connection-summary migrate` follows: the migration lock,
-- polled for at most :lock_wait; lock_timeout = :lock_timeout for every
-- statement; the ledger checked under the lock; an INVALID index left by an
-- interrupted CONCURRENTLY build dropped and built again; the routines in one
-- transaction, the routines the files no longer define dropped before the
-- privileges; a ledger row per migration. A step another migrator applied
-- meanwhile is skipped, so after a failure, fix the cause and run it again.
-- Other waits: psql -v lock_wait=10min -v lock_timeout=0 ... (0: no limit).
\set ON_ERROR_STOP on
\set AUTOCOMMIT on
\if :{{?lock_wait}}
\else
\set lock_wait '{lock_wait}'
\endif
\if :{{?lock_timeout}}
\else
\set lock_timeout '{lock_timeout}'
\endif

-- ===== the migration lock: one migrator at a time =====
set connection_summary.lock_wait = :'lock_wait';
{migration_lock}set lock_timeout = :'lock_timeout';

-- ===== the ledger (created by every migrate; safe to run again), checked as migrate does =====
set client_min_messages = warning;
{ensure_ledger}reset client_min_messages;
do $check$
declare
    unknown text;
    edited text;
begin
    select string_agg(lpad(l.version::text, 4, '0') || '_' || l.name, ', ' order by l.version)
    into unknown
    from connection_summary.schema_migrations as l
    where l.version <> all (array[{versions}]::int[]);
    if unknown is not null then
        raise exception 'the database has migration(s) % that this script does not know '
            '(it knows up to {last}); print it with the newer connection-summary', unknown;
    end if;
    select string_agg(lpad(l.version::text, 4, '0') || '_' || l.name, ', ' order by l.version)
    into edited
    from connection_summary.schema_migrations as l
    inner join (values
        {checksums}
    ) as k (version, checksum) on l.version = k.version
    where l.checksum <> k.checksum;
    if edited is not null then
        raise exception 'migration(s) % were edited after they were applied (the file''s '
            'sha256 differs from the ledger''s)', edited
            using hint = 'restore the file and put the change in a new migration';
    end if;{routines_check}
end
$check$;

-- name: migration_lock
do $lock$
declare
    wait interval := current_setting('connection_summary.lock_wait')::interval;
    deadline timestamptz := clock_timestamp() + wait;
    pause float8 := 0.02;
    told boolean := false;
    holder text;
begin
    if transaction_timestamp() <> statement_timestamp() then
        raise exception 'this script must run outside a transaction block'
            using hint = 'apply it with psql -X -v ON_ERROR_STOP=1 -f FILE, '
                'without -1/--single-transaction';
    end if;
    -- Polled, never waited for inside one statement: a waiting statement holds a
    -- snapshot, and the holder's CREATE INDEX CONCURRENTLY waits for every older
    -- snapshot, so the two would deadlock. Each attempt and each pause ends its
    -- transaction, and with it its snapshot.
    while not pg_try_advisory_lock({key}) loop
        select string_agg(l.pid::text, ', ') into holder
        from pg_locks as l
        where l.locktype = 'advisory' and (l.classid::bigint << 32 | l.objid::bigint) = {key}
            and l.objsubid = 1 and l.granted;
        if clock_timestamp() >= deadline then
            raise exception 'another migration has held the migration lock '
                '(pg_advisory_lock({key}), pid %) for longer than %',
                coalesce(holder, '?'), wait
                using errcode = 'lock_not_available',
                hint = 'let it finish, then run this script again: it skips whatever '
                    'the other migration applied (psql -v lock_wait=10min waits longer)';
        end if;
        if not told then
            raise notice 'waiting at most % for the migration lock, held by pid % '
                '(another migration is running)', wait, coalesce(holder, '?');
            told := true;
        end if;
        commit;
        perform pg_sleep(pause);
        commit;
        pause := least(pause * 1.5, 0.5);
    end loop;
end
$lock$;

-- name: script_routines_check
    -- Routines another release recorded since the script was printed: never
    -- replace them with this script's older ones.
    if coalesce((select r.checksum from connection_summary.schema_routines as r), '')
        not in ({recorded}, '{checksum}') then
        raise exception 'the routines of the database changed since this script was printed'
            using hint = 'print the script again (connection-summary migrate --sql)';
    end if;
