/**
 * The fingerprint every manifest records for a table (`TableEntry.fingerprint` in manifest.ts),
 * as the SQL that computes it: `lifeboat.fingerprint` (both overloads) and
 * `lifeboat.fingerprint_sql`, the query they run. This is the one source of those definitions outside the database:
 *
 * - the migrations install exactly these functions (tests/stack/fingerprint_versions.test.ts compares
 *   each with what `pg_get_functiondef` reports after the migrations ran);
 * - a restore or drill into a target without Lifeboat creates them as temporary functions
 *   (restore/fingerprint.ts), so it fingerprints the restored tables with the same algorithm.
 *
 * They read only pg_catalog and the table, so the copies are complete. A change to the
 * algorithm is a new algorithm name (docs/sql.md, "Fingerprint"), made here and in a migration.
 * @module
 */

/** A function of the fingerprint: name, identity arguments and its `create` statement. */
export interface FingerprintFunction {
  /** The function's name in the `lifeboat` schema. */
  name: string;
  /** Its identity arguments, as `pg_get_function_identity_arguments` prints them. */
  args: string;
  /** `create or replace function lifeboat.<name>(…) …`, as the migration defines it. */
  sql: string;
}

/** Every function the fingerprint needs, callees first. */
export const FINGERPRINT_FUNCTIONS: readonly FingerprintFunction[] = [
  {
    name: "fingerprint_sql",
    args: "target regclass, algorithm text",
    sql: `create or replace function lifeboat.fingerprint_sql(target regclass, algorithm text)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  kind "char";
  row_alias name := 'r';
  col record;
  typ oid;
  is_domain boolean;
  v text;
  h text;
  pos int := 0;
  terms text[] := '{}';
  -- Built-in types whose extended hash depends only on the value, and the expression that
  -- hashes a value %1$s seeded with the position %2$s. Integers use the value itself as the
  -- 64-bit seed: hashint8extended folds a bigint to 32 bits first (1 and 4294967296 hash
  -- alike). The hashes of numeric and jsonb return the seed for some distinct values (numeric
  -- NaN and ±Infinity; jsonb [] and {}) and 0 for some jsonb (e.g. [[]]): those few values
  -- are hashed through their text instead. timestamptz is hashed as the same microseconds
  -- read as timestamp (TimeZone is UTC for the call). bytea's and date's hash functions cannot
  -- be called from SQL by name, so they are reached through hash_record_extended of a
  -- one-column row, which returns exactly that function's value.
  native constant jsonb := pg_catalog.jsonb_build_object(
    'smallint', 'pg_catalog.hashint4extended(%2$s, (%1$s)::int8)',
    'integer', 'pg_catalog.hashint4extended(%2$s, (%1$s)::int8)',
    'bigint', 'pg_catalog.hashint4extended(%2$s, %1$s)',
    'boolean', 'pg_catalog.hashint4extended((%1$s)::int4, %2$s)',
    'real', 'pg_catalog.hashfloat4extended(%1$s, %2$s)',
    'double precision', 'pg_catalog.hashfloat8extended(%1$s, %2$s)',
    'numeric', 'nullif(pg_catalog.hash_numeric_extended(%1$s, %2$s), %2$s), pg_catalog.hashtextextended((%1$s)::text, %2$s)',
    'text', 'pg_catalog.hashtextextended((%1$s) collate "C", %2$s)',
    'character varying', 'pg_catalog.hashtextextended(((%1$s)::text) collate "C", %2$s)',
    'character', 'pg_catalog.hashbpcharextended((%1$s) collate "C", %2$s)',
    'name', 'pg_catalog.hashnameextended((%1$s) collate "C", %2$s)',
    '"char"', 'pg_catalog.hashcharextended(%1$s, %2$s)',
    'bytea', 'case when (%1$s) is not null then pg_catalog.hash_record_extended(row(%1$s), %2$s) end',
    'date', 'case when (%1$s) is not null then pg_catalog.hash_record_extended(row(%1$s), %2$s) end',
    'time without time zone', 'pg_catalog.time_hash_extended(%1$s, %2$s)',
    'time with time zone', 'pg_catalog.timetz_hash_extended(%1$s, %2$s)',
    'timestamp without time zone', 'pg_catalog.timestamp_hash_extended(%1$s, %2$s)',
    'timestamp with time zone', 'pg_catalog.timestamp_hash_extended((%1$s)::timestamp, %2$s)',
    'interval', 'pg_catalog.interval_hash_extended(%1$s, %2$s)',
    'uuid', 'pg_catalog.uuid_hash_extended(%1$s, %2$s)',
    'jsonb', 'nullif(nullif(pg_catalog.jsonb_hash_extended(%1$s, %2$s), %2$s), 0), pg_catalog.hashtextextended((%1$s)::text, %2$s)',
    'inet', 'pg_catalog.hashinetextended(%1$s, %2$s)',
    'cidr', 'pg_catalog.hashinetextended((%1$s)::inet, %2$s)',
    'macaddr', 'pg_catalog.hashmacaddrextended(%1$s, %2$s)',
    'macaddr8', 'pg_catalog.hashmacaddr8extended(%1$s, %2$s)',
    'pg_lsn', 'pg_catalog.pg_lsn_hash_extended(%1$s, %2$s)');
begin
  if algorithm is null or algorithm not in ('lifeboat-fp-v1', 'lifeboat-fp-v2') then
    raise exception 'lifeboat.fingerprint: unknown algorithm %', coalesce(pg_catalog.quote_literal(algorithm), 'NULL')
      using errcode = '22023',
            hint = 'Use ''lifeboat-fp-v2'' (the default) or ''lifeboat-fp-v1'' (manifests written before v2).';
  end if;
  select c.relkind into kind from pg_catalog.pg_class c where c.oid = target;
  if kind is null then
    raise exception 'lifeboat.fingerprint: relation % does not exist', target using errcode = '42P01';
  end if;
  if kind not in ('r', 'p', 'm', 'f') then
    raise exception 'lifeboat.fingerprint: % is not a table (relkind %)', target, kind
      using errcode = '42809', hint = 'Pass a table, partitioned table, materialized view or foreign table.';
  end if;

  if algorithm = 'lifeboat-fp-v1' then
    -- Unchanged from the first definition (tests/fixtures/fingerprint_v1.sql), so v1 manifests still verify.
    -- A partitioned parent covers all its partitions; a plain table only itself (ONLY), so an
    -- inheritance child's rows are not counted twice.
    -- The whole-row reference \`alias::text\` is about twice as fast as \`(alias.*)::text\`, but a
    -- column of the same name would win over the alias, so pick an alias no column uses.
    while exists (select from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = row_alias) loop
      row_alias := row_alias || '_';
    end loop;
    return pg_catalog.format(
      'select count(*), coalesce(sum(pg_catalog.hashtextextended(%2$I::text, 0)), 0) from %1$s %3$s as %2$I',
      case when kind = 'r' then 'only' else '' end, row_alias, target);
  end if;

  for col in
    select a.attname, a.atttypid
    from pg_catalog.pg_attribute a
    where a.attrelid = target and a.attnum > 0 and not a.attisdropped
    order by a.attnum
  loop
    pos := pos + 1;
    -- A domain is hashed as its base type (its values are the base type's values).
    typ := col.atttypid;
    is_domain := false;
    while (select t.typtype from pg_catalog.pg_type t where t.oid = typ) = 'd' loop
      select t.typbasetype into typ from pg_catalog.pg_type t where t.oid = typ;
      is_domain := true;
    end loop;
    v := pg_catalog.format('%I', col.attname);
    h := native ->> pg_catalog.format_type(typ, null);
    if h is null and exists (
      -- An array of a type above: hash_array_extended hashes each element with that type's
      -- hash (element values and order, not the bounds). Collatable ones hash under "C".
      select from pg_catalog.pg_type e where e.typarray = typ and native ? pg_catalog.format_type(e.oid, null)
    ) then
      h := case when (select t.typcollation from pg_catalog.pg_type t where t.oid = typ) <> 0
        then 'pg_catalog.hash_array_extended((%1$s) collate "C", %2$s)'
        else 'pg_catalog.hash_array_extended(%1$s, %2$s)' end;
    end if;
    if h is not null and is_domain then
      -- format_type(t, -1): unconstrained (bpchar, not character = char(1), which truncates).
      v := pg_catalog.format('(%s)::%s', v, pg_catalog.format_type(typ, -1));
    end if;
    -- Every other type through its text (output settings are pinned by lifeboat.fingerprint).
    h := coalesce(h, 'pg_catalog.hashtextextended(((%1$s)::text) collate "C", %2$s)');
    terms := terms || pg_catalog.format('coalesce(' || h || ', pg_catalog.hashint4extended(-%2$s, 0))', v, pos);
  end loop;

  return pg_catalog.format(
    'select count(*), coalesce(sum(pg_catalog.hashint4extended(0, %s)), 0) from %s %s',
    coalesce(nullif(pg_catalog.array_to_string(terms, ' # '), ''), '0::int8'),
    case when kind = 'r' then 'only' else '' end, target);
end
$$`,
  },
  {
    name: "fingerprint",
    args: "target regclass",
    sql: `create or replace function lifeboat.fingerprint(target regclass)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return lifeboat.fingerprint(target, 'lifeboat-fp-v2');
end
$$`,
  },
  {
    name: "fingerprint",
    args: "target regclass, algorithm text",
    sql: `create or replace function lifeboat.fingerprint(target regclass, algorithm text)
returns jsonb
language plpgsql
stable
set search_path = ''
set row_security = off
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
set intervalstyle = 'postgres'
set extra_float_digits = 1
set bytea_output = 'hex'
set lc_monetary = 'C'
set jit = off
as $$
declare
  n bigint;
  s numeric;
  v text := case algorithm when 'lifeboat-fp-v1' then 'v1' else 'v2' end;
begin
  execute lifeboat.fingerprint_sql(target, algorithm) into n, s;
  return pg_catalog.jsonb_build_object(
    'algorithm', algorithm,
    'rows', n,
    'hash_sum', s::text,
    'fingerprint', pg_catalog.format('%s:%s:%s', v, n, s));
end
$$`,
  },
];
