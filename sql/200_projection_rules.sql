-- Synthesis rules (docs/contract.md §Freshness, §Coverage, §Health,
-- §Verdict): freshness, coverage, health, verdict, and the record-count,
-- retained-size, schedule and attention rules.
--
-- Pure functions of already-gathered evidence. Those without p_now are
-- applied when a connection_states row is stored; those with it at read time.
-- Each is one SQL statement the planner inlines into its caller: a summary
-- costs no nested statement per connection. Callers pass plain columns (not
-- expressions), which keeps them inlinable.

-- Freshness: {status: current|stale|unknown, captured_at, last_attempted_at}.
create or replace function connection_summary.freshness(
    p_last_run jsonb,
    p_last_successful_run jsonb,
    p_schedule_last_successful_at timestamptz,
    p_schedule_last_started_at timestamptz,
    p_maximum_staleness_seconds numeric,
    p_now timestamptz
)
returns jsonb
language sql
stable
parallel safe
as $$
    select jsonb_build_object(
        'status', case
            -- A failed or cancelled attempt at least as new as the last capture
            -- (or with nothing ever captured) means the data is not current.
            when p_last_run ->> 'status' in ('failed', 'cancelled')
                and (
                    coalesce((p_last_successful_run ->> 'last_at')::timestamptz,
                        p_schedule_last_successful_at) is null
                    or (p_last_run ->> 'last_at')::timestamptz
                    >= coalesce((p_last_successful_run ->> 'last_at')::timestamptz,
                        p_schedule_last_successful_at)
                )
                then 'stale'
            when coalesce((p_last_successful_run ->> 'last_at')::timestamptz,
                    p_schedule_last_successful_at) is not null
                and p_maximum_staleness_seconds > 0
                then case
                    -- Compared as numeric seconds: any manifest number is
                    -- accepted, and an interval of it could overflow.
                    when extract(epoch from p_now - coalesce(
                        (p_last_successful_run ->> 'last_at')::timestamptz,
                        p_schedule_last_successful_at))
                        <= p_maximum_staleness_seconds
                        then 'current'
                    else 'stale'
                end
            else 'unknown'
        end,
        'captured_at', coalesce((p_last_successful_run ->> 'last_at')::timestamptz,
            p_schedule_last_successful_at),
        'last_attempted_at', coalesce((p_last_run ->> 'started_at')::timestamptz,
            p_schedule_last_started_at)
    )
$$;

-- Coverage: complete | partial | retryable_gap | terminal_gap | unknown.
-- p_last_terminal_run is the newest attributed run with a terminal event, with
-- its known_gaps and collection_facts (a deep run summary).
create or replace function connection_summary.coverage(
    p_has_terminal_detail_gap boolean,
    p_has_open_detail_gap boolean,
    p_last_terminal_run jsonb
)
returns text
language sql
stable
parallel safe
as $$
    select case
        when p_has_terminal_detail_gap
            or jsonb_path_exists(p_last_terminal_run -> 'known_gaps',
                '$[*] ? (@.severity == "actionable")', '{}', true)
            then 'terminal_gap'
        when p_has_open_detail_gap
            or jsonb_path_exists(p_last_terminal_run -> 'known_gaps',
                '$[*] ? (@.severity == "transient")', '{}', true)
            then 'retryable_gap'
        when p_last_terminal_run is null then 'unknown'
        when p_last_terminal_run ->> 'status' = 'succeeded' then case
            -- Some stream considered more than it covered (covered, else collected).
            when jsonb_path_exists(p_last_terminal_run -> 'collection_facts',
                '$.streams[*] ? (@.considered.type() == "number" && (
                    (@.covered.type() == "number" && @.covered < @.considered)
                    || (!(@.covered.type() == "number") && @.collected.type() == "number"
                        && @.collected < @.considered)))',
                '{}', true)
                then 'partial'
            else 'complete'
        end
        when p_last_terminal_run ->> 'status' in ('failed', 'cancelled', 'abandoned') then 'partial'
        else 'unknown'
    end
$$;

-- Does a failure reason look like rejected credentials?
create or replace function connection_summary.is_credential_failure(p_reason text)
returns boolean
language sql
immutable
parallel safe
as $$
    select coalesce(p_reason ~* '(auth|credential|401|token|session_expired|login|password)', false)
$$;

-- Connection health (docs/contract.md §Health): the state ladder, first match wins, with
-- its reason code and next action, plus axes and badges.
create or replace function connection_summary.connection_health(
    p_connection_status text,
    p_schedule jsonb,
    p_schedule_active_run_id text,
    p_attention jsonb,
    p_last_run jsonb,
    p_freshness jsonb,
    p_coverage text,
    p_surface_lease jsonb,
    p_now timestamptz
)
returns jsonb
language sql
stable
parallel safe
as $$
    select
        case
            when p_attention is not null then jsonb_build_object(
                'state', 'needs_attention',
                'reason_code', coalesce(p_attention ->> 'reason_code', 'attention_required'),
                'next_action', coalesce(p_attention ->> 'owner_action', 'add_info')
            )
            when p_connection_status = 'revoked' then jsonb_build_object(
                'state', 'idle', 'reason_code', 'revoked', 'next_action', null
            )
            when p_connection_status = 'paused' or (p_schedule ->> 'enabled')::boolean is false
                then jsonb_build_object(
                    'state', 'idle', 'reason_code', 'schedule_paused', 'next_action', null
                )
            when p_last_run ->> 'status' = 'failed'
                and connection_summary.is_credential_failure(p_last_run ->> 'failure_reason')
                then jsonb_build_object(
                    'state', 'blocked', 'reason_code', 'credentials_rejected', 'next_action', 'reauth'
                )
            when (p_schedule #>> '{backoff,consecutive_failures}')::int >= 7
                and (p_schedule #>> '{backoff,active}')::boolean
                then jsonb_build_object(
                    'state', 'blocked', 'reason_code', 'repeated_failures', 'next_action', 'code_fix'
                )
            -- Backoff is cleared by a success newer than the failures it reacts to.
            when (p_schedule #>> '{backoff,active}')::boolean
                and p_last_run ->> 'status' is distinct from 'succeeded'
                then jsonb_build_object(
                    'state', 'cooling_off',
                    'reason_code', coalesce(p_schedule #>> '{backoff,reason_class}', 'backoff'),
                    'next_action', 'wait'
                )
            when p_last_run ->> 'status' in ('failed', 'abandoned', 'surface_failed')
                then jsonb_build_object(
                    'state', 'degraded', 'reason_code', 'last_run_failed', 'next_action', 'refresh_now'
                )
            when p_coverage = 'terminal_gap' then jsonb_build_object(
                'state', 'degraded', 'reason_code', 'terminal_gap', 'next_action', 'code_fix'
            )
            when p_coverage = 'retryable_gap' then jsonb_build_object(
                'state', 'degraded', 'reason_code', 'retryable_gap', 'next_action', 'retry_gap'
            )
            when p_coverage = 'partial' then jsonb_build_object(
                'state', 'degraded', 'reason_code', 'partial_coverage', 'next_action', 'refresh_now'
            )
            when p_freshness ->> 'status' = 'stale' then jsonb_build_object(
                'state', 'degraded', 'reason_code', 'stale', 'next_action', 'refresh_now'
            )
            when p_surface_lease ->> 'status' = 'surface_failed' then jsonb_build_object(
                'state', 'degraded', 'reason_code', 'browser_surface_failed',
                'next_action', 'refresh_now'
            )
            when p_last_run is null and p_freshness ->> 'last_attempted_at' is null
                then jsonb_build_object(
                    'state', 'idle', 'reason_code', 'never_run', 'next_action', 'refresh_now'
                )
            when p_last_run ->> 'status' = 'succeeded' and p_coverage = 'complete'
                and p_freshness ->> 'status' = 'current'
                then jsonb_build_object('state', 'healthy', 'reason_code', 'ok', 'next_action', null)
            else jsonb_build_object(
                'state', 'unknown',
                'reason_code', case
                    when p_last_run ->> 'status' in ('in_progress', 'waiting_for_browser_surface',
                        'starting_surface', 'leased', 'deferred')
                        then 'run_in_progress'
                    when p_freshness ->> 'status' = 'unknown' then 'freshness_unknown'
                    when p_coverage = 'unknown' then 'coverage_unknown'
                    else 'insufficient_evidence'
                end,
                'next_action', null
            )
        end
        || jsonb_build_object(
            'axes', jsonb_build_object(
                'freshness', p_freshness ->> 'status',
                'coverage', p_coverage,
                'attention', case when p_attention is null then 'none' else 'required' end,
                'remote_surface', coalesce(
                    p_surface_lease ->> 'status', p_last_run #>> '{browser_surface,status}', 'none'
                )
            ),
            'badges', jsonb_build_object(
                'stale', coalesce(p_freshness ->> 'status' = 'stale', false),
                'syncing', p_schedule_active_run_id is not null
                or coalesce(p_last_run ->> 'status' = 'in_progress', false)
            ),
            'last_success_at', p_freshness -> 'captured_at',
            'next_attempt_at', case
                when p_connection_status in ('revoked', 'paused') then null
                when (p_schedule #>> '{backoff,active}')::boolean then p_schedule #> '{backoff,next_run_at}'
                when (p_schedule ->> 'enabled')::boolean then p_schedule -> 'next_due_at'
            end
        )
$$;

-- Pill tone: the worst of the state's, the coverage's and the freshness's
-- tone; red > amber > grey > green.
create or replace function connection_summary.verdict_tone(
    p_state text,
    p_coverage text,
    p_freshness_status text
)
returns text
language sql
immutable
parallel safe
as $$
    select (array['green', 'grey', 'amber', 'red'])[1 + greatest(
        case p_state
            when 'healthy' then 0 when 'idle' then 0 when 'unknown' then 1
            when 'needs_attention' then 2 when 'cooling_off' then 2 when 'degraded' then 2
            when 'blocked' then 3 else 1
        end,
        case p_coverage
            when 'complete' then 0 when 'partial' then 2 when 'retryable_gap' then 2
            when 'terminal_gap' then 3 else 1
        end,
        case p_freshness_status
            when 'current' then 0 when 'stale' then 0 else 1
        end
    )]
$$;

-- The rendered verdict: pill (fixed tone/label bijection), channel, a
-- forward-looking sentence and the actions the owner or the platform should take.
create or replace function connection_summary.rendered_verdict(
    p_health jsonb,
    p_tone text,
    p_coverage text
)
returns jsonb
language sql
stable
parallel safe
as $$
    select jsonb_build_object(
        'pill', jsonb_build_object(
            'tone', p_tone,
            'label', case p_tone
                when 'green' then 'Healthy' when 'grey' then 'Checking'
                when 'amber' then 'Degraded' when 'red' then 'Can''t collect'
            end
        ),
        'channel', case
            when p_health ->> 'state' = 'needs_attention'
                or p_health ->> 'next_action' in ('reauth', 'add_info')
                then 'attention'
            when p_health ->> 'next_action' is not null
                or p_coverage in ('retryable_gap', 'terminal_gap')
                then 'advisory'
            else 'calm'
        end,
        'forward_statement', case p_health ->> 'state'
            when 'needs_attention' then 'Waiting for you: ' || replace(p_health ->> 'reason_code', '_', ' ') || '.'
            when 'blocked' then case p_health ->> 'reason_code'
                when 'credentials_rejected' then 'Can''t collect until you sign in again.'
                else 'Can''t collect: runs keep failing and need a fix.'
            end
            when 'cooling_off' then 'Recent runs failed; the next attempt is scheduled'
                || coalesce(' for ' || to_char((p_health ->> 'next_attempt_at')::timestamptz
                    at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), '') || '.'
            when 'degraded' then 'Collecting with problems: ' || replace(p_health ->> 'reason_code', '_', ' ') || '.'
            when 'idle' then case p_health ->> 'reason_code'
                when 'revoked' then 'Revoked: nothing more will be collected.'
                when 'schedule_paused' then 'Paused: nothing will be collected until it is resumed.'
                else 'Not run yet: the first collection has not happened.'
            end
            when 'healthy' then 'Up to date; collection continues on schedule.'
            else 'Checking: not enough evidence yet to say more.'
        end,
        'required_actions', to_jsonb(array_remove(array[
            case when p_health ->> 'next_action' is not null then jsonb_build_object(
                'action', p_health ->> 'next_action', 'reason', p_health ->> 'reason_code'
            ) end,
            case
                when p_coverage = 'retryable_gap' and p_health ->> 'next_action' is distinct from 'retry_gap'
                    then jsonb_build_object('action', 'retry_gap', 'reason', 'retryable_gap')
                when p_coverage = 'terminal_gap' and p_health ->> 'next_action' is distinct from 'code_fix'
                    then jsonb_build_object('action', 'code_fix', 'reason', 'terminal_gap')
            end
        ], null))
    )
$$;

-- Record counts: the declared streams (manifest order) merged with the
-- observed retained-size rows ([{stream, record_count, dirty}, ...]); a count
-- is reported only where it was observed, and a total only when every
-- observed row has a clean count whose sum a bigint holds.
create or replace function connection_summary.stream_counts(
    p_manifest jsonb,
    p_stream_rows jsonb
)
returns table (
    streams text[],
    stream_records jsonb,
    stream_count int,
    total_records bigint,
    total_records_state text
)
language sql
-- STABLE, not IMMUTABLE: jsonb_build_object is stable, and a function is
-- only inlined when its body is no more volatile than declared.
stable
parallel safe
as $$
    select
        st.streams,
        st.stream_records,
        st.stream_count,
        case when st.total_records_state in ('known', 'known_zero') then st.record_sum::bigint end,
        st.total_records_state
    from (
        select
            coalesce(
                (array_agg(d.stream order by d.ord) filter (where d.stream is not null)),
                '{}'::text []
            ) as streams,
            coalesce(jsonb_agg(jsonb_build_object(
                'stream', coalesce(d.stream, o.stream),
                'record_count', o.record_count,
                'count_state', case
                    when o.stream is null or (o.record_count is null and not o.dirty) then 'unobserved'
                    when o.dirty then 'stale'
                    when o.record_count > 0 then 'known'
                    else 'known_zero'
                end
            ) order by d.ord nulls last, coalesce(d.stream, o.stream)), '[]'::jsonb) as stream_records,
            count(o.stream)::int as stream_count,
            sum(o.record_count) as record_sum,
            case
                when count(o.stream) = 0 then 'unobserved'
                when bool_or(o.dirty) filter (where o.stream is not null) then 'stale'
                when bool_and(o.record_count is null) filter (where o.stream is not null)
                    then 'unobserved'
                -- A row without a count next to counted ones: the sum would be a guess.
                when bool_or(o.record_count is null) filter (where o.stream is not null)
                    then 'stale'
                -- Counts whose sum no bigint holds: no total can be reported.
                when sum(o.record_count) > 9223372036854775807 then 'stale'
                when sum(o.record_count) > 0 then 'known'
                else 'known_zero'
            end as total_records_state
        from (
            select s.item ->> 'name' as stream, s.ord
            from jsonb_array_elements(
                case when jsonb_typeof(p_manifest -> 'streams') = 'array'
                    then p_manifest -> 'streams' else '[]'::jsonb end
            ) with ordinality as s (item, ord)
            where jsonb_typeof(s.item) = 'object' and s.item ->> 'name' is not null
        ) as d
        full join (
            select
                r.row ->> 'stream' as stream,
                (r.row ->> 'record_count')::bigint as record_count,
                coalesce((r.row ->> 'dirty')::boolean, false) as dirty
            from jsonb_array_elements(coalesce(p_stream_rows, '[]'::jsonb)) as r (row)
        ) as o on d.stream = o.stream
    ) as st
$$;

-- Retained size: never a made-up 0. A missing (p_present false), dirty or
-- incomplete size row is NULL.
create or replace function connection_summary.retained_bytes(
    p_present boolean,
    p_dirty boolean,
    p_record_json_bytes bigint,
    p_record_changes_json_bytes bigint,
    p_blob_bytes bigint
)
returns jsonb
language sql
-- STABLE, not IMMUTABLE: jsonb_build_object is stable, and a function is
-- only inlined when its body is no more volatile than declared.
stable
parallel safe
as $$
    select case
        when not p_present or p_dirty or p_record_json_bytes is null
            or p_record_changes_json_bytes is null or p_blob_bytes is null
            then null
        else jsonb_build_object(
            'record_json_bytes', p_record_json_bytes,
            'record_changes_json_bytes', p_record_changes_json_bytes,
            'blob_bytes', p_blob_bytes,
            'total_bytes', p_record_json_bytes::numeric + p_record_changes_json_bytes + p_blob_bytes
        )
    end
$$;

-- The manifest's refresh_policy.maximum_staleness_seconds, when it is a number.
create or replace function connection_summary.maximum_staleness_seconds(p_manifest jsonb)
returns numeric
language sql
immutable
parallel safe
as $$
    select case
        when jsonb_typeof(p_manifest #> '{refresh_policy,maximum_staleness_seconds}') = 'number'
            then (p_manifest #>> '{refresh_policy,maximum_staleness_seconds}')::numeric
    end
$$;

-- The schedule object at p_now (NULL without a schedule row): backoff is
-- active while its next run is still ahead.
create or replace function connection_summary.schedule_at(
    p_state connection_summary.connection_states,
    p_now timestamptz
)
returns jsonb
language sql
stable
parallel safe
as $$
    select case when p_state.has_schedule then jsonb_build_object(
        'enabled', p_state.schedule_enabled,
        'interval_seconds', p_state.schedule_interval_seconds,
        'next_due_at', p_state.schedule_next_due_at,
        'backoff', jsonb_build_object(
            'active', coalesce(p_state.schedule_backoff_next_run_at > p_now, false),
            'consecutive_failures', p_state.schedule_consecutive_failures,
            'next_run_at', p_state.schedule_backoff_next_run_at,
            'reason_class', p_state.schedule_backoff_reason_class
        )
    ) end
$$;

-- The attention record that asks the owner for something at p_now: the
-- newest open candidate that has not expired (no row: none). Set-returning,
-- joined laterally: a scalar SQL function holding a subquery is never inlined.
create or replace function connection_summary.attention_at(
    p_candidates jsonb,
    p_now timestamptz
)
returns table (attention jsonb)
language sql
stable
parallel safe
as $$
    select c.item - 'expires_at'
    from jsonb_array_elements(p_candidates) with ordinality as c (item, ord)
    where c.item ->> 'expires_at' is null or (c.item ->> 'expires_at')::timestamptz > p_now
    order by c.ord
    limit 1
$$;

-- The browser-surface lease object of a connection (NULL without one).
create or replace function connection_summary.surface_lease(
    p_state connection_summary.connection_states
)
returns jsonb
language sql
stable
parallel safe
as $$
    select case when p_state.surface_lease_id is not null then jsonb_build_object(
        'lease_id', p_state.surface_lease_id,
        'status', p_state.surface_lease_status,
        'wait_reason', p_state.surface_lease_wait_reason,
        'requested_at', p_state.surface_lease_requested_at
    ) end
$$;
