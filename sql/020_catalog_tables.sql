-- Connector catalog and connector instances ("connections").

create table connection_summary.connectors (
    connector_id text primary key,
    display_name text,
    manifest jsonb not null default '{}',
    constraint connectors_manifest_is_object check (jsonb_typeof(manifest) = 'object')
);

create table connection_summary.connections (
    connector_instance_id text not null,
    owner_id text not null,
    connector_id text not null references connection_summary.connectors (connector_id),
    display_name text,
    status text not null,
    source_kind text not null default 'account',
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    -- Owner-keyed (docs/scale-out.md): a connection id is unique per owner.
    primary key (owner_id, connector_instance_id),
    constraint connections_status_check
    check (status in ('draft', 'active', 'paused', 'revoked')),
    constraint connections_source_kind_check
    check (source_kind in ('account', 'local_device', 'browser_collector', 'manual')),
    constraint connections_id_not_empty check (connector_instance_id <> '')
);

-- Overview order and keyset paging: (connector_id, created_at, connector_instance_id)
-- within one owner.
create index connections_owner_order_idx
on connection_summary.connections (owner_id, connector_id, created_at, connector_instance_id);
