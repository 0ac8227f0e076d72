-- Continuous change capture (issue 20, capture side): a logical replication slot read by the
-- shipper (_shared/stream/: `backup-stream` on pg_cron, or `lifeboat stream run`), DDL captured
-- into lifeboat.stream_ddl by an event trigger, the shipper's state (single-flight lease, the
-- slot position it has stored up to), and the stored segments' ledger.
-- Runs as the project's owner role (postgres, not a superuser). Idempotent.
--
-- How the shipper stays exact (docs/pitr.md): it peeks the slot from confirmed_lsn, skips the
-- pending_records it already stored past that point (the head of a transaction that did not fit
-- a segment), writes a segment, records it here (next_seq, the new confirmed_lsn = the last
-- commit stored, the new pending_records) and only then advances the slot. A crash between the
-- record and the advance is repaired by the next claim (stream_claim advances the slot to
-- confirmed_lsn first), so the slot never passes what is stored and state never lags the slot.

insert into lifeboat.settings (key, value, default_value, description)
select v.key, v.default_value, v.default_value, v.description from (values
  ('stream.slot', '"lifeboat_stream"'::jsonb, 'Name of the logical replication slot (wal2json) the stream reads'),
  ('stream.no_primary_key', '"replica_identity_full"',
   'What stream_enable() does with a table without a primary key: "replica_identity_full" (its updates and deletes '
   || 'carry the whole old row, more WAL) or "exclude" (the table is not streamed; a point-in-time restore keeps it as of the full backup)'),
  ('stream.segment_bytes', '4194304', 'A segment is cut once its plaintext reaches this many bytes (bounded memory per segment)'),
  ('stream.max_records', '20000',
   'Peek rows one pass reads at most: Postgres decodes them all before the first arrives, so this bounds a pass''s latency (the next pass resumes)'),
  ('stream.budget.wall_ms', '20000', 'Wall-clock budget of one backup-stream invocation (hosted limit: 150 s)'),
  ('stream.budget.cpu_ms', '1000', 'CPU budget of one backup-stream invocation (hosted limit: 2 s); it stops reading past it'),
  ('stream.lease', '"60 seconds"', 'How long a shipper holds the stream (single-flight) before another may take it over'),
  ('stream.wal_warn_bytes', '536870912', 'Retained WAL of the stream slot above which the stream_wal_warning alert fires and health() warns'),
  ('stream.wal_critical_bytes', '1073741824', 'Retained WAL above which the stream_wal_critical alert fires (incident) and health() fails'),
  ('stream.wal_limit_bytes', '2147483648',
   'Hard limit: at this much retained WAL (or wal_status lost) stream_guard() drops the slot, fires stream_slot_dropped and opens an incident, so the disk never fills'),
  ('stream.rpo_floor', '"60 seconds"',
   'What an RPO objective of 0 means for the stream: as low as the shipper allows, measured against this floor (the edge schedule ships every few seconds)')
) v(key, default_value, description)
on conflict (key) do update set default_value = excluded.default_value, description = excluded.description;

-- DDL in commit order: the slot decodes inserts into this table like any other change.
create table if not exists lifeboat.stream_ddl (
  id bigint generated always as identity primary key,
  xid xid8 not null default pg_catalog.pg_current_xact_id(),
  command_tag text not null,
  object_identity text,
  statement text not null,
  search_path text not null,
  captured_at timestamptz not null default pg_catalog.clock_timestamp()
);
comment on table lifeboat.stream_ddl is
  'DDL captured by the stream event trigger, one row per top-level command; replay runs statement with search_path in commit order.';

-- The shipper's state per slot.
create table if not exists lifeboat.stream_state (
  slot text primary key check (slot ~ '^[a-z0-9_]{1,63}$'),
  enabled boolean not null default true,
  enabled_at timestamptz not null default pg_catalog.now(),
  -- The slot's consistent point when it was created: the stream covers every commit after it.
  start_lsn pg_lsn,
  -- Tables not streamed (no primary key, stream.no_primary_key = "exclude"), as wal2json names them (schema.table, escaped).
  excluded_tables text[] not null default '{}',
  next_seq bigint not null default 0,
  -- Where the slot is (or is about to be) advanced to: the last commit stored.
  confirmed_lsn pg_lsn,
  -- Records (peek rows) past confirmed_lsn already stored: the head of an open transaction.
  pending_records bigint not null default 0,
  last_commit_lsn pg_lsn,
  last_commit_at timestamptz,
  -- Every change committed before this moment is durably stored (the shipper read to the end of the WAL).
  durable_through timestamptz,
  last_run_at timestamptz,
  last_run_by text,
  last_error text,
  lease_owner text,
  lease_until timestamptz,
  dropped_at timestamptz,
  drop_reason text,
  updated_at timestamptz not null default pg_catalog.now()
);
comment on table lifeboat.stream_state is
  'Continuous capture: one row per stream slot (position stored up to, lease, achieved recovery point, guard actions).';

-- The ledger of stored segments (the store holds them; this says what and when).
create table if not exists lifeboat.stream_segments (
  slot text not null,
  seq bigint not null,
  start_lsn pg_lsn not null,
  end_lsn pg_lsn not null,
  first_commit_at timestamptz,
  last_commit_at timestamptz,
  transactions integer not null,
  changes integer not null,
  partial boolean not null,
  bytes bigint not null,
  plain_bytes bigint not null,
  sha256 text not null,
  stored_at timestamptz not null default pg_catalog.now(),
  shipped_by text,
  primary key (slot, seq)
);
comment on table lifeboat.stream_segments is 'Stream segments stored (stream/<slot>/<seq>.seg in the export target), per slot and seq.';

create or replace function lifeboat.stream_slot_name()
returns text
language sql
stable
set search_path = ''
as $$
  select lifeboat.setting('stream.slot') #>> '{}'
$$;
comment on function lifeboat.stream_slot_name() is 'The stream slot name (setting stream.slot).';

-- ---------------------------------------------------------------------------------------
-- DDL capture.
-- ---------------------------------------------------------------------------------------

-- stream_capture_ddl(): one row in stream_ddl per top-level DDL command (DROP … from sql_drop,
-- everything else from ddl_command_end), unless every object it touched is in lifeboat or a
-- temporary schema. Security definer: any role's DDL is captured; a failure warns, never blocks DDL.
create or replace function lifeboat.stream_capture_ddl()
returns event_trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  ids text;
  schemas text[];
begin
  if not exists (select from lifeboat.stream_state s where s.enabled and s.dropped_at is null) then
    return;
  end if;
  if tg_event = 'sql_drop' then
    if tg_tag not like 'DROP %' then
      return;  -- ALTER … DROP COLUMN and the like are captured at ddl_command_end
    end if;
    select pg_catalog.string_agg(d.object_identity, ', '), pg_catalog.array_agg(d.schema_name)
      into ids, schemas
    from pg_catalog.pg_event_trigger_dropped_objects() d where d.original;
  else
    if tg_tag like 'DROP %' then
      return;
    end if;
    select pg_catalog.string_agg(c.object_identity, ', '), pg_catalog.array_agg(c.schema_name)
      into ids, schemas
    from pg_catalog.pg_event_trigger_ddl_commands() c where not c.in_extension;
  end if;
  if schemas is not null and not exists (
    select from pg_catalog.unnest(schemas) s(n) where s.n is null or (s.n <> 'lifeboat' and s.n !~ '^pg_(toast_)?temp')) then
    return;
  end if;
  if ids is null and tg_event = 'ddl_command_end' and tg_tag not in ('COMMENT', 'GRANT', 'REVOKE', 'ALTER DEFAULT PRIVILEGES') then
    return;  -- nothing a replay needs (e.g. a command inside an extension script)
  end if;
  insert into lifeboat.stream_ddl (command_tag, object_identity, statement, search_path)
  values (tg_tag, ids, pg_catalog.current_query(), pg_catalog.current_setting('search_path'));
exception when others then
  raise warning 'lifeboat: DDL not captured for the stream (%): %', tg_tag, sqlerrm;
end
$$;
comment on function lifeboat.stream_capture_ddl() is
  'Event trigger: records each top-level DDL command into lifeboat.stream_ddl while a stream is enabled.';

-- ---------------------------------------------------------------------------------------
-- Enable, disable.
-- ---------------------------------------------------------------------------------------

-- stream_tables_without_pk(): user tables without a primary key, and their replica identity.
create or replace function lifeboat.stream_tables_without_pk()
returns table (schema_name text, table_name text, replica_identity text)
language sql
stable
set search_path = ''
as $$
  select u.schema_name::text, u.table_name::text,
    case c.relreplident when 'd' then 'default' when 'f' then 'full' when 'i' then 'index' else 'nothing' end
  from lifeboat.user_tables() u
  join pg_catalog.pg_class c on c.oid = u.relid
  where not u.relispartition
    and not exists (select from pg_catalog.pg_constraint k where k.conrelid = u.relid and k.contype = 'p')
  order by 1, 2
$$;
comment on function lifeboat.stream_tables_without_pk() is
  'User tables without a primary key (their updates and deletes need replica identity full to be replayed) and their replica identity.';

-- stream_enable(no_primary_key): creates the wal2json slot (must be the first thing the
-- transaction does: Postgres refuses to create a logical slot after writes), the event
-- triggers and the state row, handles tables without a primary key as asked (null = the
-- setting stream.no_primary_key), and installs the ship and guard schedules.
-- Returns what it did and warnings.
create or replace function lifeboat.stream_enable(no_primary_key text default null)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_slot text := lifeboat.stream_slot_name();
  choice text := coalesce(no_primary_key, lifeboat.setting('stream.no_primary_key') #>> '{}');
  created boolean := false;
  consistent pg_lsn;
  t record;
  warnings jsonb := '[]';
  excluded text[] := '{}';
begin
  if choice not in ('replica_identity_full', 'exclude') then
    raise exception 'no_primary_key must be ''replica_identity_full'' or ''exclude'', not %', pg_catalog.quote_literal(choice)
      using errcode = '22023';
  end if;
  if not exists (select from pg_catalog.pg_replication_slots s where s.slot_name = v_slot) then
    select r.lsn into consistent from pg_catalog.pg_create_logical_replication_slot(v_slot, 'wal2json') r;
    created := true;
  elsif exists (select from pg_catalog.pg_replication_slots s where s.slot_name = v_slot and (s.plugin is distinct from 'wal2json' or s.slot_type <> 'logical')) then
    raise exception 'replication slot % exists but is not a wal2json logical slot: drop it or set stream.slot to another name', v_slot
      using errcode = '55000';
  end if;

  for t in select * from lifeboat.stream_tables_without_pk() loop
    if choice = 'exclude' then
      -- As wal2json's filter-tables wants it: '.', ',' and '\' escaped with '\'.
      excluded := excluded || (pg_catalog.regexp_replace(t.schema_name, '([,.\\])', '\\\1', 'g') || '.'
        || pg_catalog.regexp_replace(t.table_name, '([,.\\])', '\\\1', 'g'));
      warnings := warnings || pg_catalog.jsonb_build_object('table', pg_catalog.format('%I.%I', t.schema_name, t.table_name),
        'warning', 'no primary key: excluded from the stream (a point-in-time restore keeps it as of the full backup)');
    elsif t.replica_identity <> 'full' then
      execute pg_catalog.format('alter table %I.%I replica identity full', t.schema_name, t.table_name);
      warnings := warnings || pg_catalog.jsonb_build_object('table', pg_catalog.format('%I.%I', t.schema_name, t.table_name),
        'warning', 'no primary key: set to replica identity full so its updates and deletes can be replayed (each writes the whole old row to WAL)');
    end if;
  end loop;

  insert into lifeboat.stream_state as s (slot, enabled, enabled_at, start_lsn, excluded_tables, confirmed_lsn, next_seq)
  values (v_slot, true, pg_catalog.now(), consistent, excluded, consistent,
    coalesce((select max(g.seq) + 1 from lifeboat.stream_segments g where g.slot = v_slot), 0))
  on conflict on constraint stream_state_pkey do update
    set enabled = true, excluded_tables = excluded.excluded_tables, updated_at = pg_catalog.now(),
      -- A new slot starts a new stream: the old one's position means nothing for it.
      enabled_at = case when created then excluded.enabled_at else s.enabled_at end,
      start_lsn = case when created then excluded.start_lsn else s.start_lsn end,
      confirmed_lsn = case when created then excluded.confirmed_lsn else s.confirmed_lsn end,
      pending_records = case when created then 0 else s.pending_records end,
      dropped_at = case when created then null else s.dropped_at end,
      drop_reason = case when created then null else s.drop_reason end,
      durable_through = case when created then null else s.durable_through end,
      last_commit_at = case when created then null else s.last_commit_at end,
      last_commit_lsn = case when created then null else s.last_commit_lsn end;

  if not exists (select from pg_catalog.pg_event_trigger where evtname = 'lifeboat_stream_ddl') then
    create event trigger lifeboat_stream_ddl on ddl_command_end execute function lifeboat.stream_capture_ddl();
  end if;
  if not exists (select from pg_catalog.pg_event_trigger where evtname = 'lifeboat_stream_ddl_drop') then
    create event trigger lifeboat_stream_ddl_drop on sql_drop execute function lifeboat.stream_capture_ddl();
  end if;

  update lifeboat.schedules set enabled = true, updated_at = pg_catalog.now() where name in ('stream-ship', 'stream-guard');
  perform lifeboat.apply_schedules();

  return pg_catalog.jsonb_build_object('slot', v_slot, 'created', created, 'start_lsn', consistent,
    'no_primary_key', choice, 'excluded_tables', pg_catalog.to_jsonb(excluded), 'warnings', warnings);
end
$$;
comment on function lifeboat.stream_enable(text) is
  'Starts continuous capture: the wal2json slot, DDL event triggers, state, schedules. Call it first in its transaction.';

-- stream_drop_slot(slot): drops the slot if it exists, ending a session that holds it.
create or replace function lifeboat.stream_drop_slot(slot text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  holder integer;
begin
  select s.active_pid into holder from pg_catalog.pg_replication_slots s where s.slot_name = slot;
  if not found then
    return false;
  end if;
  if holder is not null then
    perform pg_catalog.pg_terminate_backend(holder, 5000);
  end if;
  perform pg_catalog.pg_drop_replication_slot(slot);
  return true;
end
$$;
comment on function lifeboat.stream_drop_slot(text) is 'Drops a replication slot, ending the session holding it first.';

-- stream_disable(): drops the slot cleanly, removes the event triggers and the schedules.
-- Stored segments and the ledger stay (retention prunes them with the backups).
create or replace function lifeboat.stream_disable()
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_slot text := lifeboat.stream_slot_name();
  dropped boolean;
begin
  update lifeboat.schedules set enabled = false, updated_at = pg_catalog.now() where name in ('stream-ship', 'stream-guard');
  perform lifeboat.apply_schedules();
  dropped := lifeboat.stream_drop_slot(v_slot);
  update lifeboat.stream_state s set enabled = false, lease_owner = null, lease_until = null, updated_at = pg_catalog.now()
  where s.slot = v_slot;
  drop event trigger if exists lifeboat_stream_ddl;
  drop event trigger if exists lifeboat_stream_ddl_drop;
  return pg_catalog.jsonb_build_object('slot', v_slot, 'slot_dropped', dropped);
end
$$;
comment on function lifeboat.stream_disable() is 'Stops continuous capture: drops the slot, the DDL event triggers and the schedules.';

-- ---------------------------------------------------------------------------------------
-- The shipper's SQL: claim (single-flight), sequences, record a segment.
-- ---------------------------------------------------------------------------------------

-- stream_advance(): moves the slot to what stream_state says is stored (confirmed_lsn), if it
-- lags; never past it, never backwards. Returns the slot's position afterwards.
create or replace function lifeboat.stream_advance()
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  s lifeboat.stream_state;
  at_lsn pg_lsn;
begin
  select * into s from lifeboat.stream_state x where x.slot = lifeboat.stream_slot_name();
  select r.confirmed_flush_lsn into at_lsn from pg_catalog.pg_replication_slots r where r.slot_name = s.slot;
  if at_lsn is null or s.confirmed_lsn is null or at_lsn >= s.confirmed_lsn then
    return at_lsn::text;
  end if;
  perform pg_catalog.pg_replication_slot_advance(s.slot, s.confirmed_lsn);
  return s.confirmed_lsn::text;
end
$$;
comment on function lifeboat.stream_advance() is
  'Advances the stream slot to stream_state.confirmed_lsn (the last commit durably stored) when it lags.';

-- stream_filter_tables(excluded): the wal2json filter-tables option: Lifeboat's own tables
-- (except stream_ddl, which carries DDL in commit order), pg_cron's and pg_net's, and the
-- tables excluded at enable time. Names are escaped as wal2json wants (\, \. \\).
create or replace function lifeboat.stream_filter_tables(excluded text[] default '{}')
returns text
language sql
stable
set search_path = ''
as $$
  select pg_catalog.string_agg(f, ',' order by f) from (
    select pg_catalog.regexp_replace(t.schemaname::text, '([,.\\])', '\\\1', 'g') || '.'
      || pg_catalog.regexp_replace(t.tablename::text, '([,.\\])', '\\\1', 'g') as f
    from pg_catalog.pg_tables t where t.schemaname = 'lifeboat' and t.tablename <> 'stream_ddl'
    union all select pg_catalog.unnest(array['cron.*', 'net.*', 'realtime.*', 'supabase_functions.*', 'supabase_migrations.*'])
    union all select e from pg_catalog.unnest(excluded) e
  ) x
$$;
comment on function lifeboat.stream_filter_tables(text[]) is
  'The wal2json filter-tables value of the stream: Lifeboat''s own tables but stream_ddl, cron, net, realtime, and excluded tables.';

-- stream_advance_idle(owner, lsn): the shipper passed only transactions with nothing to store
-- (Lifeboat's own bookkeeping, cron runs): the position moves without a segment.
create or replace function lifeboat.stream_advance_idle(p_owner text, p_confirmed_lsn pg_lsn)
returns boolean
language sql
volatile
set search_path = ''
as $$
  update lifeboat.stream_state x set confirmed_lsn = p_confirmed_lsn, pending_records = 0, updated_at = pg_catalog.now()
  where x.slot = lifeboat.stream_slot_name() and x.lease_owner = p_owner and x.pending_records = 0
    and x.confirmed_lsn < p_confirmed_lsn
  returning true
$$;

-- stream_claim(owner, lease): takes the stream for `owner` until now + lease, unless another
-- owner holds an unexpired lease (then no row). Repairs an interrupted advance: the slot is
-- moved to confirmed_lsn when it lags it. Returns the state and the slot's position.
create or replace function lifeboat.stream_claim(p_owner text, p_lease interval default null)
returns table (slot text, next_seq bigint, confirmed_lsn text, pending_records bigint, excluded_tables text[],
  slot_lsn text, last_commit_at timestamptz, durable_through timestamptz, peek_started_at timestamptz, enabled_at timestamptz)
language plpgsql
volatile
set search_path = ''
as $$
declare
  s lifeboat.stream_state;
  at_lsn pg_lsn;
  lease interval := coalesce(p_lease, (lifeboat.setting('stream.lease') #>> '{}')::interval);
begin
  select * into s from lifeboat.stream_state x where x.slot = lifeboat.stream_slot_name() for update;
  if s.slot is null or not s.enabled then
    raise exception 'the stream is not enabled: run lifeboat stream enable (select lifeboat.stream_enable())' using errcode = '55000';
  end if;
  if s.dropped_at is not null then
    raise exception 'the stream slot % was dropped at % (%): run lifeboat stream enable to start a new stream, then take a full backup',
      s.slot, s.dropped_at, s.drop_reason using errcode = '55000';
  end if;
  if s.lease_owner is not null and s.lease_owner <> p_owner and s.lease_until > pg_catalog.clock_timestamp() then
    return;
  end if;
  select r.confirmed_flush_lsn into at_lsn from pg_catalog.pg_replication_slots r where r.slot_name = s.slot;
  if not found then
    raise exception 'the stream slot % does not exist: run lifeboat stream enable to start a new stream', s.slot using errcode = '55000';
  end if;
  if s.confirmed_lsn is not null and at_lsn < s.confirmed_lsn then
    perform lifeboat.stream_advance();
    at_lsn := s.confirmed_lsn;
  elsif s.confirmed_lsn is null or at_lsn > s.confirmed_lsn then
    -- A slot ahead of what is stored was advanced by someone else: what lies between is lost.
    if s.confirmed_lsn is not null then
      raise exception 'the stream slot % is at %, past what the stream stored (%): it was advanced outside Lifeboat; run lifeboat stream disable and enable, then take a full backup',
        s.slot, at_lsn, s.confirmed_lsn using errcode = '55000';
    end if;
    update lifeboat.stream_state x set confirmed_lsn = at_lsn where x.slot = s.slot;
    s.confirmed_lsn := at_lsn;
  end if;
  update lifeboat.stream_state x
  set lease_owner = p_owner, lease_until = pg_catalog.clock_timestamp() + lease, last_run_at = pg_catalog.clock_timestamp(),
    last_run_by = p_owner, updated_at = pg_catalog.now()
  where x.slot = s.slot;
  return query select s.slot, s.next_seq, s.confirmed_lsn::text, s.pending_records, s.excluded_tables, at_lsn::text,
    s.last_commit_at, s.durable_through, pg_catalog.clock_timestamp(), s.enabled_at;
end
$$;
comment on function lifeboat.stream_claim(text, interval) is
  'Single-flight claim of the stream for a shipper (no row when another holds it); repairs an interrupted slot advance.';

-- stream_release(owner, error): gives the lease back, recording the run's error (or clearing it).
create or replace function lifeboat.stream_release(p_owner text, p_error text default null)
returns void
language sql
volatile
set search_path = ''
as $$
  update lifeboat.stream_state x set lease_owner = null, lease_until = null, last_error = p_error, updated_at = pg_catalog.now()
  where x.slot = lifeboat.stream_slot_name() and x.lease_owner = p_owner
$$;

-- stream_sequences(): every sequence in scope with last_value and is_called, read without
-- keeping locks (one subtransaction each, as lifeboat.sequence_last_values does).
create or replace function lifeboat.stream_sequences()
returns table (schema_name text, sequence_name text, last_value text, is_called boolean)
language plpgsql
volatile
set search_path = ''
set jit = off
as $$
declare
  rec record;
  v bigint;
  called boolean;
begin
  for rec in
    select n.nspname, c.relname
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relkind = 'S'
      and n.nspname <> all ((select lifeboat.excluded_schemas())::text[])
      and n.nspname !~ '^pg_(toast_)?temp_'
      and case when c.relkind = 'S' then pg_catalog.has_sequence_privilege(c.oid, 'select') else false end
    order by 1, 2
  loop
    begin
      execute pg_catalog.format('select s.last_value, s.is_called from %I.%I s', rec.nspname, rec.relname) into v, called;
      raise sqlstate 'LB001';
    exception
      when sqlstate 'LB001' then
        schema_name := rec.nspname;
        sequence_name := rec.relname;
        last_value := v::text;
        is_called := called;
        return next;
      when others then
        null;
    end;
  end loop;
end
$$;
comment on function lifeboat.stream_sequences() is 'Sequences in scope with last_value and is_called, recorded in each stream segment.';

-- stream_record_segment(...): records a durably stored segment and the new position, if
-- `owner` still holds the lease (false otherwise: another shipper took over, this one stops).
-- The caller advances the slot to p_confirmed_lsn after this commits.
create or replace function lifeboat.stream_record_segment(
  p_owner text, p_seq bigint, p_start_lsn pg_lsn, p_end_lsn pg_lsn, p_first_commit_at timestamptz, p_last_commit_at timestamptz,
  p_transactions integer, p_changes integer, p_partial boolean, p_bytes bigint, p_plain_bytes bigint, p_sha256 text,
  p_confirmed_lsn pg_lsn, p_pending_records bigint, p_last_commit_lsn pg_lsn
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  s lifeboat.stream_state;
begin
  select * into s from lifeboat.stream_state x where x.slot = lifeboat.stream_slot_name() for update;
  if s.lease_owner is distinct from p_owner or s.next_seq <> p_seq then
    return false;
  end if;
  insert into lifeboat.stream_segments (slot, seq, start_lsn, end_lsn, first_commit_at, last_commit_at, transactions, changes,
    partial, bytes, plain_bytes, sha256, shipped_by)
  values (s.slot, p_seq, p_start_lsn, p_end_lsn, p_first_commit_at, p_last_commit_at, p_transactions, p_changes,
    p_partial, p_bytes, p_plain_bytes, p_sha256, p_owner)
  on conflict (slot, seq) do update set start_lsn = excluded.start_lsn, end_lsn = excluded.end_lsn,
    first_commit_at = excluded.first_commit_at, last_commit_at = excluded.last_commit_at, transactions = excluded.transactions,
    changes = excluded.changes, partial = excluded.partial, bytes = excluded.bytes, plain_bytes = excluded.plain_bytes,
    sha256 = excluded.sha256, stored_at = pg_catalog.now(), shipped_by = excluded.shipped_by;
  update lifeboat.stream_state x
  set next_seq = p_seq + 1, confirmed_lsn = p_confirmed_lsn, pending_records = p_pending_records,
    last_commit_lsn = coalesce(p_last_commit_lsn, x.last_commit_lsn),
    last_commit_at = coalesce(p_last_commit_at, x.last_commit_at),
    lease_until = greatest(x.lease_until, pg_catalog.clock_timestamp() + (lifeboat.setting('stream.lease') #>> '{}')::interval),
    updated_at = pg_catalog.now()
  where x.slot = s.slot;
  return true;
end
$$;
comment on function lifeboat.stream_record_segment(text, bigint, pg_lsn, pg_lsn, timestamptz, timestamptz, integer, integer, boolean, bigint, bigint, text, pg_lsn, bigint, pg_lsn) is
  'Records a stored segment and the stream position it reaches (only for the lease holder); the slot is advanced after.';

-- stream_caught_up(owner, at): the shipper read to the end of the WAL at `at` and stored
-- everything before it: the achieved recovery point moves to `at`.
create or replace function lifeboat.stream_caught_up(p_owner text, p_at timestamptz)
returns void
language sql
volatile
set search_path = ''
as $$
  update lifeboat.stream_state x set durable_through = greatest(x.durable_through, p_at), updated_at = pg_catalog.now()
  where x.slot = lifeboat.stream_slot_name() and x.lease_owner = p_owner and x.pending_records = 0
$$;

-- ---------------------------------------------------------------------------------------
-- Safety of the source: retained WAL, health, guard, alerts.
-- ---------------------------------------------------------------------------------------

-- stream_slot_wal(): the stream slot's WAL figures (no row when it does not exist).
create or replace function lifeboat.stream_slot_wal()
returns table (slot text, active boolean, wal_status text, retained_bytes bigint, lag_bytes bigint, safe_wal_size bigint,
  restart_lsn text, confirmed_flush_lsn text)
language sql
stable
set search_path = ''
as $$
  select s.slot_name::text, s.active, s.wal_status,
    pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint,
    pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
    s.safe_wal_size, s.restart_lsn::text, s.confirmed_flush_lsn::text
  from pg_catalog.pg_replication_slots s
  where s.slot_name = lifeboat.stream_slot_name()
$$;
comment on function lifeboat.stream_slot_wal() is 'The stream slot: retained WAL (current - restart_lsn), lag (current - confirmed_flush), wal_status, safe_wal_size.';

-- check_stream_slot(now): health of the stream's slot: ok, warn past stream.wal_warn_bytes,
-- error past stream.wal_critical_bytes, when WAL was lost, when the guard dropped the slot,
-- or when the slot is missing. No row while no stream is enabled.
create or replace function lifeboat.check_stream_slot(now timestamptz default pg_catalog.now())
returns table ("check" text, level text, object text, detail text, remediation text, metadata jsonb)
language sql
stable
set search_path = ''
as $$
  with st as (select * from lifeboat.stream_state x where x.slot = lifeboat.stream_slot_name() and x.enabled),
  w as (select * from lifeboat.stream_slot_wal()),
  cfg as (select (lifeboat.setting('stream.wal_warn_bytes'))::text::bigint as warn,
    (lifeboat.setting('stream.wal_critical_bytes'))::text::bigint as crit,
    (lifeboat.setting('stream.wal_limit_bytes'))::text::bigint as lim)
  select 'stream_slot',
    case when st.dropped_at is not null or w.slot is null or w.wal_status = 'lost' or w.retained_bytes > cfg.crit then 'error'
      when w.retained_bytes > cfg.warn or w.wal_status = 'unreserved' then 'warn' else 'ok' end,
    st.slot,
    case when st.dropped_at is not null then pg_catalog.format('the stream slot was dropped at %s: %s', st.dropped_at, st.drop_reason)
      when w.slot is null then 'the stream is enabled but its slot does not exist'
      when w.wal_status = 'lost' then 'the stream slot lost WAL it needed'
      else pg_catalog.format('the stream slot retains %s of WAL (warn %s, critical %s, dropped at %s); lag %s',
        pg_catalog.pg_size_pretty(w.retained_bytes), pg_catalog.pg_size_pretty(cfg.warn), pg_catalog.pg_size_pretty(cfg.crit),
        pg_catalog.pg_size_pretty(cfg.lim), pg_catalog.pg_size_pretty(w.lag_bytes)) end,
    case when st.dropped_at is not null or w.slot is null or w.wal_status = 'lost'
        then 'Start a new stream (lifeboat stream enable) and take a full backup: point-in-time restores after the drop need both.'
      when w.retained_bytes > cfg.warn
        then 'The shipper is not keeping up or not running: check lifeboat stream status, the stream-ship cron job and export.target.'
      else '' end,
    pg_catalog.jsonb_build_object('observed_value', w.retained_bytes, 'observed_unit', 'bytes', 'warn', cfg.warn,
      'critical', cfg.crit, 'limit', cfg.lim, 'wal_status', w.wal_status, 'safe_wal_size', w.safe_wal_size, 'lag_bytes', w.lag_bytes,
      'active', w.active)
  from st cross join cfg left join w on true
$$;
comment on function lifeboat.check_stream_slot(timestamptz) is
  'Retained WAL of the stream slot against stream.wal_warn_bytes / stream.wal_critical_bytes (uniform check shape).';

insert into lifeboat.checks (name, suite, position, description) values
  ('check_stream_slot', 'health', 45, 'Retained WAL of the continuous-capture slot against its thresholds')
on conflict (name) do update set suite = excluded.suite, position = excluded.position, description = excluded.description;

-- stream_guard(now): the hard limit. When the stream slot retains stream.wal_limit_bytes or
-- more, or its WAL is lost, the slot is dropped (so the disk never fills), the drop is
-- recorded, and the alerts are evaluated at once (stream_slot_dropped: critical, incident).
create or replace function lifeboat.stream_guard(now timestamptz default pg_catalog.now())
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  w record;
  lim bigint := (lifeboat.setting('stream.wal_limit_bytes'))::text::bigint;
  reason text;
begin
  select * into w from lifeboat.stream_slot_wal();
  if w.slot is null or not exists (select from lifeboat.stream_state x where x.slot = w.slot and x.enabled and x.dropped_at is null) then
    return pg_catalog.jsonb_build_object('action', 'none');
  end if;
  if w.wal_status = 'lost' then
    reason := 'the slot lost WAL it needed (wal_status lost)';
  elsif w.retained_bytes >= lim then
    reason := pg_catalog.format('the slot retained %s of WAL, at or over the hard limit stream.wal_limit_bytes (%s)',
      pg_catalog.pg_size_pretty(w.retained_bytes), pg_catalog.pg_size_pretty(lim));
  else
    return pg_catalog.jsonb_build_object('action', 'none', 'retained_bytes', w.retained_bytes, 'limit', lim);
  end if;
  perform lifeboat.stream_drop_slot(w.slot);
  update lifeboat.stream_state x set dropped_at = $1, drop_reason = reason, lease_owner = null, lease_until = null, updated_at = $1
  where x.slot = w.slot;
  insert into lifeboat.maintenance_log (type, description, outcome, details)
  values ('stream_guard', pg_catalog.format('dropped replication slot %s: %s', w.slot, reason), 'success',
    pg_catalog.jsonb_build_object('slot', w.slot, 'retained_bytes', w.retained_bytes, 'limit', lim, 'wal_status', w.wal_status));
  perform lifeboat.evaluate_alerts($1);
  return pg_catalog.jsonb_build_object('action', 'dropped', 'slot', w.slot, 'reason', reason, 'retained_bytes', w.retained_bytes, 'limit', lim);
end
$$;
comment on function lifeboat.stream_guard(timestamptz) is
  'Hard limit on retained WAL: drops the stream slot at stream.wal_limit_bytes (or lost WAL), records it and raises the critical alert.';

-- stream_achieved_rpo(now): now minus the newest moment up to which every change is durably
-- stored: the commit time of the newest stored change, or later when the shipper read to the
-- end of the WAL (an idle database loses nothing). Null while nothing was shipped.
create or replace function lifeboat.stream_recovery_point()
returns timestamptz
language sql
stable
set search_path = ''
as $$
  select greatest(x.last_commit_at, x.durable_through)
  from lifeboat.stream_state x where x.slot = lifeboat.stream_slot_name() and x.enabled and x.dropped_at is null
$$;
comment on function lifeboat.stream_recovery_point() is
  'The stream''s recovery point: every change committed before it is durably stored (null without a running stream).';

-- stream_window(now): the point-in-time window: earliest = the recovery point of the oldest
-- kept full backup whose snapshot the stream covers (taken after the slot was created),
-- latest = the stream's recovery point.
create or replace function lifeboat.stream_window(now timestamptz default pg_catalog.now())
returns jsonb
language sql
stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'earliest', (select min(coalesce(r.snapshot_at, r.started_at))
      from lifeboat.backup_runs r
      where r.kind = 'full' and r.state = 'completed' and r.finished_at <= $1
        and coalesce(r.snapshot_at, r.started_at) >= x.enabled_at),
    'latest', lifeboat.stream_recovery_point())
  from lifeboat.stream_state x where x.slot = lifeboat.stream_slot_name() and x.enabled and x.dropped_at is null
$$;
comment on function lifeboat.stream_window(timestamptz) is
  'Point-in-time window: earliest (oldest kept full backup the stream covers) and latest (the stream''s recovery point).';

-- status_stream(now): the stream section of the status (null when no stream was ever enabled).
create or replace function lifeboat.status_stream(now timestamptz default pg_catalog.now())
returns jsonb
language sql
stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'slot', x.slot, 'enabled', x.enabled, 'enabled_at', x.enabled_at,
    'running', x.enabled and x.dropped_at is null and w.slot is not null,
    'dropped_at', x.dropped_at, 'drop_reason', x.drop_reason,
    'achieved_rpo_seconds', pg_catalog.round(extract(epoch from $1 - lifeboat.stream_recovery_point())::numeric, 1),
    'recovery_point', lifeboat.stream_recovery_point(),
    'last_commit_at', x.last_commit_at, 'last_run_at', x.last_run_at,
    'lag_bytes', w.lag_bytes, 'retained_bytes', w.retained_bytes, 'wal_status', w.wal_status, 'safe_wal_size', w.safe_wal_size,
    'segments', (select count(*) from lifeboat.stream_segments g where g.slot = x.slot),
    'segment_bytes', (select coalesce(sum(g.bytes), 0) from lifeboat.stream_segments g where g.slot = x.slot),
    'window', lifeboat.stream_window($1),
    'last_error', x.last_error is not null)
  from lifeboat.stream_state x
  left join lifeboat.stream_slot_wal() w on true
  where x.slot = lifeboat.stream_slot_name()
$$;
comment on function lifeboat.status_stream(timestamptz) is
  'Continuous capture status: achieved RPO, lag and retained WAL, point-in-time window (no error text: the status token sees it).';

insert into lifeboat.alert_rules
  (rule, severity, threshold, unit, lookback, params, incident_severity, evaluator, description, source, remediation) values
  ('stream_wal_warning', 'warning', null, 'bytes', null, '{}', null, 'evaluate_alerts',
   'The stream slot retains more WAL than stream.wal_warn_bytes',
   'lifeboat.stream_slot_wal(): pg_current_wal_lsn() - restart_lsn of the stream slot, against setting stream.wal_warn_bytes',
   'Check that the shipper runs (lifeboat stream status, the lifeboat-stream-ship cron job, export.target reachable).'),
  ('stream_wal_critical', 'critical', null, 'bytes', null, '{}', 'high', 'evaluate_alerts',
   'The stream slot retains more WAL than stream.wal_critical_bytes; at stream.wal_limit_bytes it is dropped',
   'lifeboat.stream_slot_wal(), against setting stream.wal_critical_bytes',
   'Restore the shipper now (lifeboat stream run from a machine works too), or disable the stream before the guard drops it.'),
  ('stream_slot_dropped', 'critical', null, '', null, '{}', 'critical', 'evaluate_alerts',
   'The stream slot was dropped by the WAL guard (or is missing/lost) while the stream is enabled: no continuous capture',
   'lifeboat.stream_state.dropped_at, pg_replication_slots',
   'Find why the shipper stopped, then lifeboat stream enable (a new stream) and take a full backup to start a new window.'),
  ('rpo', 'critical', null, 's', null, '{}', 'high', 'evaluate_alerts',
   'The stream''s achieved RPO exceeds a data class''s recovery point objective (0 = stream.rpo_floor)',
   'now - lifeboat.stream_recovery_point(), against lifeboat.recovery_point_objectives (the rpo_data_class rows of lifeboat.objectives)',
   'Check that the shipper runs and keeps up (lifeboat stream status); lag grows when it is slower than the write rate.')
on conflict (rule) do nothing;

-- stream_wal_alert(rule, level, threshold_key): the condition of the two retained-WAL rules:
-- the stream slot retains more than the setting `threshold_key` (the critical one also fires on lost WAL).
create or replace function lifeboat.stream_wal_alert(rule text, level text, threshold_key text)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select rule || ':' || w.slot,
    pg_catalog.format('stream slot %s retains %s of WAL (%s at %s; dropped at %s)', w.slot, pg_catalog.pg_size_pretty(w.retained_bytes),
      level, pg_catalog.pg_size_pretty(t.v), pg_catalog.pg_size_pretty(t.lim)),
    pg_catalog.jsonb_build_object('observed_value', w.retained_bytes, 'threshold', t.v, 'limit', t.lim, 'slot', w.slot,
      'wal_status', w.wal_status, 'safe_wal_size', w.safe_wal_size, 'active', w.active)
  from lifeboat.stream_slot_wal() w
  cross join (select (lifeboat.setting(threshold_key))::text::bigint as v,
    (lifeboat.setting('stream.wal_limit_bytes'))::text::bigint as lim) t
  where w.retained_bytes > t.v or (level = 'critical' and w.wal_status = 'lost')
$$;

create or replace function lifeboat.alert_stream_wal_warning(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select * from lifeboat.stream_wal_alert('stream_wal_warning', 'warning', 'stream.wal_warn_bytes')
$$;

create or replace function lifeboat.alert_stream_wal_critical(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select * from lifeboat.stream_wal_alert('stream_wal_critical', 'critical', 'stream.wal_critical_bytes')
$$;

create or replace function lifeboat.alert_stream_slot_dropped(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  select 'stream_slot_dropped:' || x.slot,
    case when x.dropped_at is not null then pg_catalog.format('stream slot %s was dropped at %s: %s', x.slot, x.dropped_at, x.drop_reason)
      else pg_catalog.format('stream slot %s is missing while the stream is enabled', x.slot) end,
    pg_catalog.jsonb_build_object('slot', x.slot, 'dropped_at', x.dropped_at, 'reason', x.drop_reason)
  from lifeboat.stream_state x
  where x.enabled and (x.dropped_at is not null
    or not exists (select from pg_catalog.pg_replication_slots s where s.slot_name = x.slot))
$$;

-- alert_rpo: per data class, the stream's achieved RPO against its objective (an objective of
-- 0 is measured against stream.rpo_floor). Only while a stream runs and has a recovery point.
create or replace function lifeboat.alert_rpo(now timestamptz, r lifeboat.alert_rules)
returns table (dedup_key text, summary text, details jsonb)
language sql
stable
set search_path = ''
as $$
  with p as (select lifeboat.stream_recovery_point() as at,
    (lifeboat.setting('stream.rpo_floor') #>> '{}')::interval as floor)
  select 'rpo:' || o.data_class,
    pg_catalog.format('achieved RPO %s exceeds the %s objective of %s', pg_catalog.date_trunc('second', $1 - p.at), o.data_class,
      greatest(o.rpo, p.floor)),
    pg_catalog.jsonb_build_object('observed_value', pg_catalog.round(extract(epoch from $1 - p.at)::numeric, 1),
      'threshold', extract(epoch from greatest(o.rpo, p.floor)), 'data_class', o.data_class, 'recovery_point', p.at)
  from lifeboat.recovery_point_objectives o cross join p
  where p.at is not null and $1 - p.at > greatest(o.rpo, p.floor)
$$;

-- Bookkeeping rows once their content is in the stored segments: purged by purge_expired().
insert into lifeboat.retention_policies (schema_name, table_name, timestamp_column, keep, filter, position, description) values
  ('lifeboat', 'stream_ddl', 'captured_at', interval '30 days', null, 80,
   'Captured DDL: 30 days (the stream''s segments hold it from the moment they are shipped)'),
  ('lifeboat', 'stream_segments', 'stored_at', interval '400 days', null, 85,
   'The ledger of stored stream segments: 400 days (the store''s retention prunes the segments themselves)')
on conflict (schema_name, table_name) do nothing;

-- Schedules: ship every 5 seconds (pg_cron 1.6 second schedules) while export.target is set,
-- guard every 10 seconds. Both are off until stream_enable() turns them on.
insert into lifeboat.schedules (name, schedule, command, enabled, requires_setting, description) values
  ('stream-ship', '5 seconds', $c$select lifeboat.invoke('backup-stream', '{}')$c$, false, 'export.target',
   'Every 5 seconds while a stream is enabled: backup-stream ships the slot''s changes to export.target'),
  ('stream-guard', '10 seconds', 'select lifeboat.stream_guard()', false, null,
   'Every 10 seconds while a stream is enabled: drops the slot at stream.wal_limit_bytes of retained WAL')
on conflict (name) do nothing;

revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;
