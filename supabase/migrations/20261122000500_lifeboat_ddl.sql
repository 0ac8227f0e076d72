-- Lifeboat schema DDL, part 1: scope (which schemas and roles are exported), roles.sql and
-- the dependency order of schema objects. The edge runtime has no pg_dump, so the export
-- engine gets all DDL from these functions, inside its export snapshot: every function here
-- is read-only, STABLE, security invoker (it runs as the caller, normally `postgres`, which
-- is not a superuser), and pins `search_path = ''` so pg_get_*def output is schema-qualified.
-- Note: pg_get_*def read the catalogs through the catalog cache, not the transaction
-- snapshot; DDL committed during an export can show up (pg_dump has the same caveat).
-- Idempotent.

create schema if not exists lifeboat;

-- --- scope -----------------------------------------------------------------------------------

-- Which schemas are left out by default is lifeboat.excluded_schemas() (migration 0300:
-- lifeboat.managed_schemas() plus the `scope.extra_excluded_schemas` setting), shared with
-- the checks, so checks and exports always agree.

-- Roles every Supabase project already has. roles.sql never creates or alters them (it still
-- grants memberships between them and the user's own roles). Also reserved: pg_* and supabase_*.
create or replace function lifeboat.reserved_roles()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array[
    'postgres', 'anon', 'authenticated', 'service_role', 'authenticator', 'dashboard_user',
    'pgbouncer', 'pgsodium_keyholder', 'pgsodium_keyiduser', 'pgsodium_keymaker', 'pgtle_admin',
    'supabase_admin', 'supabase_auth_admin', 'supabase_storage_admin', 'supabase_functions_admin',
    'supabase_realtime_admin', 'supabase_replication_admin', 'supabase_read_only_user',
    'supabase_etl_admin', 'supabase_superuser', 'supabase_privileged_role', 'cli_login_postgres'
  ]::text[]
$$;
comment on function lifeboat.reserved_roles() is
  'Roles a Supabase project already has; roles.sql leaves them alone (together with pg_* and supabase_*).';

create or replace function lifeboat.is_reserved_role(role_name text)
returns boolean
language sql
immutable
set search_path = ''
as $$
  select role_name = any (lifeboat.reserved_roles())
      or role_name like 'pg\_%'
      or role_name like 'supabase\_%'
$$;
comment on function lifeboat.is_reserved_role(text) is
  'True for roles that roles.sql must not create: system (pg_*), Supabase-managed, or listed in reserved_roles().';

-- ddl_scope(): the namespaces an export covers, as oids. System schemas, excluded schemas
-- and schemas that belong to an extension are never in it.
create or replace function lifeboat.ddl_scope(schemas text[] default null, exclude_schemas text[] default null)
returns oid[]
language sql
stable
set search_path = ''
as $$
  select coalesce(pg_catalog.array_agg(n.oid order by n.nspname), '{}')
  from pg_catalog.pg_namespace n
  where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
    and n.nspname !~ '^pg_(toast_)?temp_'
    and n.nspname <> all (coalesce(exclude_schemas, lifeboat.excluded_schemas()))
    and (schemas is null or n.nspname = any (schemas))
    and not exists (
      select from pg_catalog.pg_depend d
      where d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass and d.objid = n.oid and d.deptype = 'e')
$$;
comment on function lifeboat.ddl_scope(text[], text[]) is
  'Namespace oids an export covers: schemas (null = all) minus exclude_schemas (null = lifeboat.excluded_schemas()), never system or extension schemas.';

-- --- helpers ---------------------------------------------------------------------------------

-- A DO block around a plpgsql body, dollar-quoted with a tag the body does not contain
-- ($lifeboat$, else $lifeboat_1$, …): a role, publication or cron command holding
-- "$lifeboat$" must not end the quote early.
create or replace function lifeboat.ddl_do(body text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  tag text := '$lifeboat$';
  n int := 0;
begin
  while pg_catalog.strpos(body, tag) > 0 loop
    n := n + 1;
    tag := '$lifeboat_' || n || '$';
  end loop;
  return 'do ' || tag || E'\n' || body || E'\n' || tag;
end
$$;
comment on function lifeboat.ddl_do(text) is
  'A DO block around a plpgsql body, dollar-quoted with a tag the body does not contain.';

-- A role name as it appears in GRANT/REVOKE/TO lists (oid 0 is PUBLIC).
create or replace function lifeboat.ddl_role_ident(role_oid oid)
returns text
language sql
stable
set search_path = ''
as $$
  select case when role_oid = 0 then 'public'
    else (select pg_catalog.quote_ident(r.rolname) from pg_catalog.pg_roles r where r.oid = role_oid) end
$$;

-- Reloption arrays (name=value) as a WITH (...) list; values quoted unless plain words.
create or replace function lifeboat.ddl_reloptions(options text[], skip text[] default '{}')
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.string_agg(
      pg_catalog.split_part(o, '=', 1) || '=' ||
        case when pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1) ~ '^[A-Za-z0-9_.]+$'
          then pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)
          else pg_catalog.quote_literal(pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)) end,
      ', ' order by ord)
  from pg_catalog.unnest(options) with ordinality as u(o, ord)
  where pg_catalog.split_part(o, '=', 1) <> all (skip)
$$;

-- Splits a list-valued setting (search_path, *_preload_libraries, temp_tablespaces) as stored
-- in pg_db_role_setting into literals: 'a', 'b'. A single quoted literal would become one
-- element named "a, b".
create or replace function lifeboat.ddl_guc_list(value text)
returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce(pg_catalog.string_agg(pg_catalog.quote_literal(
      case when m[1] like '"%' then pg_catalog.replace(pg_catalog.substr(m[1], 2, pg_catalog.length(m[1]) - 2), '""', '"')
        else m[1] end), ', ' order by ord), '''''')
  from pg_catalog.regexp_matches(value, '\s*("(?:[^"]|"")*"|[^,\s]+)\s*(?:,|$)', 'g') with ordinality as t(m, ord)
$$;

-- `name = value` of a role/database setting, ready for ALTER ROLE ... SET.
create or replace function lifeboat.ddl_setting_assignment(setting text)
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.quote_ident(pg_catalog.split_part(setting, '=', 1)) || ' to ' ||
    case when pg_catalog.lower(pg_catalog.split_part(setting, '=', 1)) in
        ('search_path', 'temp_tablespaces', 'session_preload_libraries', 'local_preload_libraries', 'shared_preload_libraries')
      then lifeboat.ddl_guc_list(pg_catalog.substr(setting, pg_catalog.strpos(setting, '=') + 1))
      else pg_catalog.quote_literal(pg_catalog.substr(setting, pg_catalog.strpos(setting, '=') + 1)) end
$$;

-- --- roles.sql -------------------------------------------------------------------------------

-- ddl_roles(): a psql script that recreates the user's own roles (never reserved ones): each
-- created only if missing, then its attributes, memberships, settings and comments. Passwords
-- are never exported (hosted Supabase does not let anyone read them): the script ends with
-- the list of roles that need one.
create or replace function lifeboat.ddl_roles()
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  r record;
  lines text[] := array[
    '-- Lifeboat roles.sql: roles, memberships and role settings, without passwords.',
    '-- Run it before the schema (pre-data). Safe to run twice: roles are created only if missing.',
    ''];
  privileged text;
  need_password text[] := '{}';
  authid_readable boolean := pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'select');
  has_password boolean;
begin
  for r in
    select a.oid, a.rolname, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin,
           a.rolconnlimit, a.rolvaliduntil, a.rolsuper, a.rolreplication, a.rolbypassrls
    from pg_catalog.pg_roles a
    where a.oid >= 16384 and not lifeboat.is_reserved_role(a.rolname)
    order by a.rolname
  loop
    lines := lines || (lifeboat.ddl_do(pg_catalog.format(
      E'begin\n  if not exists (select from pg_catalog.pg_roles where rolname = %L) then\n    create role %I;\n  end if;\nend',
      r.rolname, r.rolname)) || ';');
    lines := lines || pg_catalog.format('alter role %I with %s %s %s %s connection limit %s%s;',
      r.rolname,
      case when r.rolcanlogin then 'login' else 'nologin' end,
      case when r.rolinherit then 'inherit' else 'noinherit' end,
      case when r.rolcreaterole then 'createrole' else 'nocreaterole' end,
      case when r.rolcreatedb then 'createdb' else 'nocreatedb' end,
      r.rolconnlimit,
      case when r.rolvaliduntil is not null then pg_catalog.format(' valid until %L', r.rolvaliduntil) else '' end);
    -- Only a superuser may grant these; warn instead of failing the whole script.
    privileged := pg_catalog.concat_ws(' ',
      case when r.rolsuper then 'superuser' end,
      case when r.rolreplication then 'replication' end,
      case when r.rolbypassrls then 'bypassrls' end);
    if privileged <> '' then
      lines := lines || (lifeboat.ddl_do(pg_catalog.format(
        E'begin\n  alter role %I with %s;\nexception when insufficient_privilege then\n  raise warning %L;\nend',
        r.rolname, privileged,
        pg_catalog.format('lifeboat: role %s had %s in the source database; a superuser must grant it', r.rolname, pg_catalog.upper(privileged)))) || ';');
    end if;
    if authid_readable then
      execute 'select rolpassword is not null from pg_catalog.pg_authid where oid = $1' into has_password using r.oid;
    else
      has_password := r.rolcanlogin;
    end if;
    if has_password then
      need_password := need_password || r.rolname::text;
    end if;
  end loop;

  -- Memberships that involve at least one exported role. Superuser roles cannot be granted.
  for r in
    select g.rolname as granted, m.rolname as member, am.admin_option
    from pg_catalog.pg_auth_members am
    join pg_catalog.pg_roles g on g.oid = am.roleid
    join pg_catalog.pg_roles m on m.oid = am.member
    where (not lifeboat.is_reserved_role(g.rolname) and g.oid >= 16384
           or not lifeboat.is_reserved_role(m.rolname) and m.oid >= 16384)
      and not g.rolsuper
    order by g.rolname, m.rolname
  loop
    lines := lines || pg_catalog.format('grant %I to %I%s;', r.granted, r.member,
      case when r.admin_option then ' with admin option' else '' end);
  end loop;

  -- Role settings: for every database, and for this one (applied to the restore target).
  for r in
    select a.rolname, s.setdatabase, c.setting
    from pg_catalog.pg_db_role_setting s
    join pg_catalog.pg_roles a on a.oid = s.setrole
    cross join lateral pg_catalog.unnest(s.setconfig) with ordinality as c(setting, ord)
    where a.oid >= 16384 and not lifeboat.is_reserved_role(a.rolname)
      and (s.setdatabase = 0 or s.setdatabase = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database()))
    order by a.rolname, s.setdatabase, c.ord
  loop
    if r.setdatabase = 0 then
      lines := lines || pg_catalog.format('alter role %I set %s;', r.rolname, lifeboat.ddl_setting_assignment(r.setting));
    else
      lines := lines || (lifeboat.ddl_do(pg_catalog.format(
        E'begin\n  execute pg_catalog.format(%L, pg_catalog.current_database());\nend',
        pg_catalog.format('alter role %I in database %%I set %s', r.rolname,
          pg_catalog.replace(lifeboat.ddl_setting_assignment(r.setting), '%', '%%')))) || ';');
    end if;
  end loop;

  for r in
    select a.rolname, d.description
    from pg_catalog.pg_shdescription d
    join pg_catalog.pg_roles a on a.oid = d.objoid
    where d.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
      and a.oid >= 16384 and not lifeboat.is_reserved_role(a.rolname)
    order by a.rolname
  loop
    lines := lines || pg_catalog.format('comment on role %I is %L;', r.rolname, r.description);
  end loop;

  lines := lines || ''::text
    || '-- Passwords are never exported: reset them after the restore, for example'::text
    || '--   alter role "name" with password ''...'';'::text;
  if pg_catalog.cardinality(need_password) > 0 then
    lines := lines || (case when authid_readable
      then '-- Roles that had a password in the source database:'
      else '-- Roles that can log in (whether they had a password could not be read):' end)::text;
    lines := lines || array(select '--   ' || pg_catalog.quote_ident(x) from pg_catalog.unnest(need_password) x);
  end if;
  return pg_catalog.array_to_string(lines, E'\n') || E'\n';
end
$$;
comment on function lifeboat.ddl_roles() is
  'roles.sql: idempotent CREATE ROLE/ALTER ROLE for non-reserved roles, memberships, role settings and comments; no passwords (listed for the restorer).';

-- --- schema objects and their order -------------------------------------------------------

-- ddl_nodes(): the schema objects (collations, types, functions, sequences, tables, views)
-- that an export creates, one row each. Objects that belong to an extension are left to
-- CREATE EXTENSION; identity sequences are part of their table.
create or replace function lifeboat.ddl_nodes(nsps oid[])
returns table (classid oid, objid oid, kind text, prio int, schema_name text, object_name text)
language sql
stable
set search_path = ''
as $$
  with ext as (
    select d.classid, d.objid from pg_catalog.pg_depend d where d.deptype = 'e'
  )
  select 'pg_catalog.pg_collation'::pg_catalog.regclass::oid, c.oid, 'collation', 1, n.nspname::text, c.collname::text
  from pg_catalog.pg_collation c
  join pg_catalog.pg_namespace n on n.oid = c.collnamespace
  where c.collnamespace = any (nsps)
    and not exists (select from ext where ext.classid = 'pg_catalog.pg_collation'::pg_catalog.regclass and ext.objid = c.oid)
  union all
  select 'pg_catalog.pg_type'::pg_catalog.regclass::oid, t.oid,
    case t.typtype when 'e' then 'enum' when 'r' then 'range' when 'd' then 'domain' else 'composite type' end,
    case t.typtype when 'e' then 2 when 'r' then 3 when 'c' then 4 else 5 end,
    n.nspname::text, t.typname::text
  from pg_catalog.pg_type t
  join pg_catalog.pg_namespace n on n.oid = t.typnamespace
  left join pg_catalog.pg_class r on r.oid = t.typrelid
  where t.typnamespace = any (nsps)
    and (t.typtype in ('e', 'r', 'd') or (t.typtype = 'c' and r.relkind = 'c'))
    and not exists (select from ext where ext.classid = 'pg_catalog.pg_type'::pg_catalog.regclass and ext.objid = t.oid)
  union all
  select 'pg_catalog.pg_proc'::pg_catalog.regclass::oid, p.oid,
    case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end,
    case p.prokind when 'a' then 7 else 6 end,
    n.nspname::text, p.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  where p.pronamespace = any (nsps)
    and not exists (select from ext where ext.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and ext.objid = p.oid)
    and not exists (select from pg_catalog.pg_depend di -- a range type's constructors come with the type
      where di.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and di.objid = p.oid and di.deptype = 'i')
  union all
  select 'pg_catalog.pg_class'::pg_catalog.regclass::oid, c.oid,
    case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view'
      when 'f' then 'foreign table' else 'table' end,
    case c.relkind when 'S' then 8 when 'v' then 10 when 'm' then 11 else 9 end,
    n.nspname::text, c.relname::text
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.relnamespace = any (nsps)
    and c.relkind in ('r', 'p', 'S', 'v', 'm', 'f')
    and not exists (select from ext where ext.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and ext.objid = c.oid)
    and not exists (
      select from pg_catalog.pg_depend d
      where c.relkind = 'S' and d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid
        and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.deptype = 'i')
$$;

-- ddl_node_members(): catalog entries that are created together with a node (a table's row
-- type, defaults and CHECK constraints, a view's rule, a type's array type, a domain's
-- constraints...), mapped to that node. pg_depend rows between members give the order.
create or replace function lifeboat.ddl_node_members(nsps oid[])
returns table (classid oid, objid oid, node_classid oid, node_objid oid, node_kind text)
language sql
stable
set search_path = ''
as $$
  with nodes as (select * from lifeboat.ddl_nodes(nsps)),
  rels as (select n.* from nodes n where n.classid = 'pg_catalog.pg_class'::pg_catalog.regclass),
  types as (select n.* from nodes n where n.classid = 'pg_catalog.pg_type'::pg_catalog.regclass)
  select n.classid, n.objid, n.classid, n.objid, n.kind from nodes n
  union all
  select 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, r.classid, r.objid, r.kind
  from rels r join pg_catalog.pg_class c on c.oid = r.objid
  join pg_catalog.pg_type t on t.oid = c.reltype or (t.typelem = c.reltype and c.reltype <> 0 and t.typcategory = 'A')
  union all
  select 'pg_catalog.pg_attrdef'::pg_catalog.regclass, ad.oid, r.classid, r.objid, r.kind
  from rels r join pg_catalog.pg_attrdef ad on ad.adrelid = r.objid
  union all
  select 'pg_catalog.pg_constraint'::pg_catalog.regclass, co.oid, r.classid, r.objid, r.kind
  from rels r join pg_catalog.pg_constraint co on co.conrelid = r.objid and co.contype = 'c'
  union all
  select 'pg_catalog.pg_rewrite'::pg_catalog.regclass, rw.oid, r.classid, r.objid, r.kind
  from rels r join pg_catalog.pg_rewrite rw on rw.ev_class = r.objid and rw.rulename = '_RETURN'
  union all
  select 'pg_catalog.pg_class'::pg_catalog.regclass, d.objid, r.classid, r.objid, r.kind
  from rels r join pg_catalog.pg_depend d
    on d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.refobjid = r.objid
   and d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.deptype = 'i'
  union all
  select 'pg_catalog.pg_type'::pg_catalog.regclass, a.oid, t.classid, t.objid, t.kind
  from types t
  join pg_catalog.pg_type a on a.typelem = t.objid and a.typcategory = 'A'
  union all
  select 'pg_catalog.pg_type'::pg_catalog.regclass, m.oid, t.classid, t.objid, t.kind
  from types t
  join pg_catalog.pg_range rg on rg.rngtypid = t.objid
  join pg_catalog.pg_type m on m.oid = rg.rngmultitypid or (m.typelem = rg.rngmultitypid and m.typcategory = 'A')
  union all
  select 'pg_catalog.pg_constraint'::pg_catalog.regclass, co.oid, t.classid, t.objid, t.kind
  from types t join pg_catalog.pg_constraint co on co.contypid = t.objid
  union all
  select 'pg_catalog.pg_class'::pg_catalog.regclass, ty.typrelid, t.classid, t.objid, t.kind
  from types t join pg_catalog.pg_type ty on ty.oid = t.objid and ty.typrelid <> 0
$$;

-- ddl_node_order(): every node with its level (1 + the highest level of what it depends on)
-- and whether it must wait for the views (post-data): views, materialized views, and what
-- depends on them. Sorting by (level, prio, name) creates each object after its
-- dependencies. A dependency cycle (rare, e.g. a CHECK calling a function that takes the
-- table's row type) is cut at level 100 and can need a manual fix.
create or replace function lifeboat.ddl_node_order(nsps oid[])
returns table (classid oid, objid oid, kind text, prio int, schema_name text, object_name text, level int, post boolean)
language sql
stable
set search_path = ''
as $$
  with recursive
  nodes as (select * from lifeboat.ddl_nodes(nsps)),
  members as (select * from lifeboat.ddl_node_members(nsps)),
  edges as (
    select distinct s.node_classid as sc, s.node_objid as so, r.node_classid as rc, r.node_objid as ro
    from pg_catalog.pg_depend d
    join members s on s.classid = d.classid and s.objid = d.objid
    join members r on r.classid = d.refclassid and r.objid = d.refobjid
    where d.deptype in ('n', 'a', 'i')
      and (s.node_classid, s.node_objid) <> (r.node_classid, r.node_objid)
      -- a sequence OWNED BY a column points at its table; the table's default points back
      and s.node_kind <> 'sequence'
    union
    select 'pg_catalog.pg_class'::pg_catalog.regclass, i.inhrelid, 'pg_catalog.pg_class'::pg_catalog.regclass, i.inhparent
    from pg_catalog.pg_inherits i
    join nodes a on a.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and a.objid = i.inhrelid
    join nodes b on b.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and b.objid = i.inhparent
  ),
  levels (classid, objid, level) as (
    select n.classid, n.objid, 0 from nodes n
    union
    select e.sc, e.so, l.level + 1
    from levels l join edges e on e.rc = l.classid and e.ro = l.objid
    where l.level < 100
  ),
  post (classid, objid) as (
    select n.classid, n.objid from nodes n where n.kind in ('view', 'materialized view')
    union
    select e.sc, e.so from post p join edges e on e.rc = p.classid and e.ro = p.objid
  )
  select n.classid, n.objid, n.kind, n.prio, n.schema_name, n.object_name,
    (select pg_catalog.max(l.level) from levels l where l.classid = n.classid and l.objid = n.objid),
    exists (select from post p where p.classid = n.classid and p.objid = n.objid)
  from nodes n
$$;
-- --- object DDL --------------------------------------------------------------------------------

-- CREATE TYPE/DOMAIN for an enum, range, composite type or domain. Validated domain CHECKs
-- are inline; NOT VALID ones are added in post-data.
create or replace function lifeboat.ddl_type(type_oid oid)
returns text[]
language plpgsql
stable
set search_path = ''
as $$
declare
  t record;
  q text;
  body text;
begin
  select ty.*, n.nspname into t
  from pg_catalog.pg_type ty join pg_catalog.pg_namespace n on n.oid = ty.typnamespace
  where ty.oid = type_oid;
  q := pg_catalog.format('%I.%I', t.nspname, t.typname);
  if t.typtype = 'e' then
    select pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' order by e.enumsortorder) into body
    from pg_catalog.pg_enum e where e.enumtypid = type_oid;
    return array[pg_catalog.format('create type %s as enum (%s)', q, coalesce(body, ''))];
  elsif t.typtype = 'c' then
    select pg_catalog.string_agg(pg_catalog.format('%I %s%s', a.attname,
        pg_catalog.format_type(a.atttypid, a.atttypmod),
        case when a.attcollation <> 0 and a.attcollation <> ty.typcollation
          then pg_catalog.format(' collate %I.%I', cn.nspname, co.collname) else '' end),
      ', ' order by a.attnum) into body
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_type ty on ty.oid = a.atttypid
    left join pg_catalog.pg_collation co on co.oid = a.attcollation
    left join pg_catalog.pg_namespace cn on cn.oid = co.collnamespace
    where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped;
    return array[pg_catalog.format('create type %s as (%s)', q, coalesce(body, ''))];
  elsif t.typtype = 'r' then
    select pg_catalog.concat_ws(', ',
        'subtype = ' || pg_catalog.format_type(rg.rngsubtype, null),
        case when not oc.opcdefault then pg_catalog.format('subtype_opclass = %I.%I', ocn.nspname, oc.opcname) end,
        case when rg.rngcollation <> 0 and rg.rngcollation <> st.typcollation
          then pg_catalog.format('collation = %I.%I', cn.nspname, co.collname) end,
        case when rg.rngcanonical <> 0 then 'canonical = ' || rg.rngcanonical::pg_catalog.regproc::text end,
        case when rg.rngsubdiff <> 0 then 'subtype_diff = ' || rg.rngsubdiff::pg_catalog.regproc::text end,
        pg_catalog.format('multirange_type_name = %I.%I', mn.nspname, mt.typname))
      into body
    from pg_catalog.pg_range rg
    join pg_catalog.pg_type st on st.oid = rg.rngsubtype
    join pg_catalog.pg_opclass oc on oc.oid = rg.rngsubopc
    join pg_catalog.pg_namespace ocn on ocn.oid = oc.opcnamespace
    join pg_catalog.pg_type mt on mt.oid = rg.rngmultitypid
    join pg_catalog.pg_namespace mn on mn.oid = mt.typnamespace
    left join pg_catalog.pg_collation co on co.oid = rg.rngcollation
    left join pg_catalog.pg_namespace cn on cn.oid = co.collnamespace
    where rg.rngtypid = type_oid;
    return array[pg_catalog.format('create type %s as range (%s)', q, body)];
  else
    select pg_catalog.concat_ws(' ',
        pg_catalog.format('create domain %s as %s', q, pg_catalog.format_type(t.typbasetype, t.typtypmod)),
        (select pg_catalog.format('collate %I.%I', cn.nspname, co.collname)
           from pg_catalog.pg_collation co join pg_catalog.pg_namespace cn on cn.oid = co.collnamespace
           join pg_catalog.pg_type bt on bt.oid = t.typbasetype
          where co.oid = t.typcollation and t.typcollation <> bt.typcollation),
        case when t.typdefaultbin is not null then 'default ' || pg_catalog.pg_get_expr(t.typdefaultbin, 0) end,
        case when t.typnotnull then 'not null' end,
        (select pg_catalog.string_agg(pg_catalog.format('constraint %I %s', c.conname, pg_catalog.pg_get_constraintdef(c.oid)), ' ' order by c.conname)
           from pg_catalog.pg_constraint c where c.contypid = type_oid and c.contype = 'c' and c.convalidated))
      into body;
    return array[body];
  end if;
end
$$;

-- CREATE COLLATION for a user-defined collation.
create or replace function lifeboat.ddl_collation(coll_oid oid)
returns text[]
language sql
stable
set search_path = ''
as $$
  select array[pg_catalog.format('create collation %I.%I (%s, deterministic = %s)', n.nspname, c.collname,
    case c.collprovider
      when 'i' then pg_catalog.format('provider = icu, locale = %L', c.colliculocale)
      when 'c' then pg_catalog.format('provider = libc, lc_collate = %L, lc_ctype = %L', c.collcollate, c.collctype)
      else pg_catalog.format('lc_collate = %L, lc_ctype = %L', c.collcollate, c.collctype) end,
    case when c.collisdeterministic then 'true' else 'false' end)]
  from pg_catalog.pg_collation c join pg_catalog.pg_namespace n on n.oid = c.collnamespace
  where c.oid = coll_oid
$$;

-- CREATE FUNCTION/PROCEDURE (pg_get_functiondef) or CREATE AGGREGATE (plain aggregates only;
-- ordered-set aggregates become a note for the restorer).
create or replace function lifeboat.ddl_function(proc_oid oid)
returns text[]
language sql
stable
set search_path = ''
as $$
  select case when p.prokind <> 'a' then
      array[pg_catalog.rtrim(pg_catalog.pg_get_functiondef(p.oid), E'\n')]
    when a.aggkind <> 'n' then
      array[pg_catalog.format('-- lifeboat: ordered-set aggregate %I.%I(%s) is not exported; recreate it by hand',
        n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))]
    else array[pg_catalog.format('create aggregate %I.%I(%s) (%s)', n.nspname, p.proname,
      pg_catalog.pg_get_function_identity_arguments(p.oid),
      pg_catalog.concat_ws(', ',
        'sfunc = ' || a.aggtransfn::text,
        'stype = ' || pg_catalog.format_type(a.aggtranstype, null),
        case when a.aggtransspace <> 0 then 'sspace = ' || a.aggtransspace end,
        case when a.aggfinalfn <> 0 then 'finalfunc = ' || a.aggfinalfn::text end,
        case when a.aggfinalextra then 'finalfunc_extra' end,
        case when a.aggcombinefn <> 0 then 'combinefunc = ' || a.aggcombinefn::text end,
        case when a.aggserialfn <> 0 then 'serialfunc = ' || a.aggserialfn::text end,
        case when a.aggdeserialfn <> 0 then 'deserialfunc = ' || a.aggdeserialfn::text end,
        case when a.agginitval is not null then 'initcond = ' || pg_catalog.quote_literal(a.agginitval) end,
        case when a.aggsortop <> 0 then 'sortop = operator(' || a.aggsortop::pg_catalog.regoperator::text || ')' end,
        case p.proparallel when 's' then 'parallel = safe' when 'r' then 'parallel = restricted' end))]
    end
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  left join pg_catalog.pg_aggregate a on a.aggfnoid = p.oid
  where p.oid = proc_oid
$$;

-- CREATE SEQUENCE with its settings. Not its value: the export records values separately.
create or replace function lifeboat.ddl_sequence(seq_oid oid)
returns text[]
language sql
stable
set search_path = ''
as $$
  select array[pg_catalog.format(
    'create %ssequence %I.%I as %s start with %s increment by %s minvalue %s maxvalue %s cache %s%s',
    case when c.relpersistence = 'u' then 'unlogged ' else '' end, n.nspname, c.relname,
    pg_catalog.format_type(s.seqtypid, null), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
    case when s.seqcycle then ' cycle' else '' end)]
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_sequence s on s.seqrelid = c.oid
  where c.oid = seq_oid
$$;

-- One column of CREATE TABLE: type, collation, generated/identity/default, NOT NULL.
create or replace function lifeboat.ddl_column(rel oid, attnum int2)
returns text
language sql
stable
set search_path = ''
as $$
  select pg_catalog.concat_ws(' ',
    pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod),
    case when a.attcollation <> 0 and a.attcollation <> ty.typcollation
      then pg_catalog.format('collate %I.%I', cn.nspname, co.collname) end,
    case when a.attgenerated = 's'
      then pg_catalog.format('generated always as (%s) stored', pg_catalog.pg_get_expr(ad.adbin, ad.adrelid))
      when a.attidentity in ('a', 'd') then
      (select pg_catalog.format(
          'generated %s as identity (sequence name %I.%I start with %s increment by %s minvalue %s maxvalue %s cache %s%s)',
          case a.attidentity when 'a' then 'always' else 'by default' end, sn.nspname, sc.relname,
          s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, case when s.seqcycle then ' cycle' else '' end)
         from pg_catalog.pg_depend d
         join pg_catalog.pg_class sc on sc.oid = d.objid
         join pg_catalog.pg_namespace sn on sn.oid = sc.relnamespace
         join pg_catalog.pg_sequence s on s.seqrelid = sc.oid
        where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.deptype = 'i'
          and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.refobjid = rel and d.refobjsubid = a.attnum
          and sc.relkind = 'S'
        limit 1)
      when ad.adbin is not null then 'default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) end,
    case when a.attnotnull then 'not null' end)
  from pg_catalog.pg_attribute a
  join pg_catalog.pg_type ty on ty.oid = a.atttypid
  left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
  left join pg_catalog.pg_collation co on co.oid = a.attcollation
  left join pg_catalog.pg_namespace cn on cn.oid = co.collnamespace
  where a.attrelid = rel and a.attnum = ddl_column.attnum
$$;

-- CREATE TABLE: local columns and validated local CHECKs inline; INHERITS or PARTITION OF;
-- PARTITION BY; UNLOGGED; access method; storage parameters. Then ALTERs for what a child
-- table changes on inherited columns, and per-column storage/statistics settings.
-- PK/UNIQUE/FK/EXCLUDE constraints and indexes come in post-data, after the data.
create or replace function lifeboat.ddl_table(rel oid)
returns text[]
language plpgsql
stable
set search_path = ''
as $$
declare
  c record;
  a record;
  q text;
  parts text[] := '{}';
  extra text[] := '{}';
  stmt text;
begin
  select cl.*, n.nspname, am.amname into c
  from pg_catalog.pg_class cl
  join pg_catalog.pg_namespace n on n.oid = cl.relnamespace
  left join pg_catalog.pg_am am on am.oid = cl.relam
  where cl.oid = rel;
  q := pg_catalog.format('%I.%I', c.nspname, c.relname);

  for a in
    select at.attnum, at.attname, at.attislocal, at.attnotnull, at.attstattarget, at.attstorage,
           ty.typstorage, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) as def, at.attgenerated,
           (select pg_catalog.bool_or(pa.attnotnull) from pg_catalog.pg_inherits i
              join pg_catalog.pg_attribute pa on pa.attrelid = i.inhparent and pa.attname = at.attname
             where i.inhrelid = rel) as parent_notnull,
           (select pg_catalog.pg_get_expr(pd.adbin, pd.adrelid) from pg_catalog.pg_inherits i
              join pg_catalog.pg_attribute pa on pa.attrelid = i.inhparent and pa.attname = at.attname
              join pg_catalog.pg_attrdef pd on pd.adrelid = pa.attrelid and pd.adnum = pa.attnum
             where i.inhrelid = rel order by i.inhseqno limit 1) as parent_def
    from pg_catalog.pg_attribute at
    join pg_catalog.pg_type ty on ty.oid = at.atttypid
    left join pg_catalog.pg_attrdef ad on ad.adrelid = at.attrelid and ad.adnum = at.attnum
    where at.attrelid = rel and at.attnum > 0 and not at.attisdropped
    order by at.attnum
  loop
    if a.attislocal and not c.relispartition then
      parts := parts || lifeboat.ddl_column(rel, a.attnum);
    else
      -- Inherited columns come from the parent; carry over only what this table changed.
      if a.attnotnull and not coalesce(a.parent_notnull, false) then
        extra := extra || pg_catalog.format('alter table only %s alter column %I set not null', q, a.attname);
      end if;
      if a.attgenerated = '' and a.def is distinct from a.parent_def then
        extra := extra || case when a.def is null
          then pg_catalog.format('alter table only %s alter column %I drop default', q, a.attname)
          else pg_catalog.format('alter table only %s alter column %I set default %s', q, a.attname, a.def) end;
      end if;
    end if;
    if a.attstattarget >= 0 then
      extra := extra || pg_catalog.format('alter table only %s alter column %I set statistics %s', q, a.attname, a.attstattarget);
    end if;
    if a.attstorage <> a.typstorage then
      extra := extra || pg_catalog.format('alter table only %s alter column %I set storage %s', q, a.attname,
        case a.attstorage when 'p' then 'plain' when 'e' then 'external' when 'm' then 'main' else 'extended' end);
    end if;
  end loop;

  parts := parts || array(
    select pg_catalog.format('constraint %I %s', co.conname, pg_catalog.pg_get_constraintdef(co.oid))
    from pg_catalog.pg_constraint co
    where co.conrelid = rel and co.contype = 'c' and co.convalidated and co.conislocal
    order by co.conname);

  if c.relispartition then
    stmt := pg_catalog.format('create %stable %s partition of %s%s %s',
      case when c.relpersistence = 'u' then 'unlogged ' else '' end, q,
      (select i.inhparent::pg_catalog.regclass::text from pg_catalog.pg_inherits i where i.inhrelid = rel),
      case when pg_catalog.cardinality(parts) > 0
        then E' (\n    ' || pg_catalog.array_to_string(parts, E',\n    ') || E'\n)' else '' end,
      pg_catalog.pg_get_expr(c.relpartbound, rel));
  else
    stmt := pg_catalog.format(E'create %stable %s (%s)%s',
      case when c.relpersistence = 'u' then 'unlogged ' else '' end, q,
      case when pg_catalog.cardinality(parts) > 0
        then E'\n    ' || pg_catalog.array_to_string(parts, E',\n    ') || E'\n' else '' end,
      coalesce((select ' inherits (' || pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::text, ', ' order by i.inhseqno) || ')'
        from pg_catalog.pg_inherits i where i.inhrelid = rel), ''));
  end if;
  if c.relkind = 'p' then
    stmt := stmt || ' partition by ' || pg_catalog.pg_get_partkeydef(rel);
  end if;
  if c.relkind = 'r' and c.amname is distinct from 'heap' then
    stmt := stmt || pg_catalog.format(' using %I', c.amname);
  end if;
  if c.reloptions is not null then
    stmt := stmt || ' with (' || lifeboat.ddl_reloptions(c.reloptions) || ')';
  end if;
  return array[stmt] || extra;
end
$$;

-- CREATE VIEW / CREATE MATERIALIZED VIEW ... WITH NO DATA (the restorer refreshes it).
create or replace function lifeboat.ddl_view(rel oid)
returns text[]
language sql
stable
set search_path = ''
as $$
  select array[case when c.relkind = 'v' then
      pg_catalog.format(E'create or replace view %I.%I%s as\n%s%s', n.nspname, c.relname,
        coalesce(' with (' || lifeboat.ddl_reloptions(c.reloptions, array['check_option']) || ')', ''),
        pg_catalog.rtrim(pg_catalog.pg_get_viewdef(c.oid), '; ' || E'\n'),
        coalesce((select pg_catalog.format(E'\n  with %s check option', pg_catalog.split_part(o, '=', 2))
          from pg_catalog.unnest(c.reloptions) o where o like 'check\_option=%'), ''))
    else
      pg_catalog.format(E'create materialized view %I.%I%s%s as\n%s\n  with no data', n.nspname, c.relname,
        case when am.amname is distinct from 'heap' then pg_catalog.format(' using %I', am.amname) else '' end,
        coalesce(' with (' || lifeboat.ddl_reloptions(c.reloptions) || ')', ''),
        pg_catalog.rtrim(pg_catalog.pg_get_viewdef(c.oid), '; ' || E'\n'))
    end]
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  left join pg_catalog.pg_am am on am.oid = c.relam
  where c.oid = rel
$$;

-- The statements that create one node, whatever its kind.
create or replace function lifeboat.ddl_node(classid oid, objid oid, kind text)
returns text[]
language sql
stable
set search_path = ''
as $$
  select case
    when kind = 'collation' then lifeboat.ddl_collation(objid)
    when kind in ('enum', 'range', 'domain', 'composite type') then lifeboat.ddl_type(objid)
    when kind in ('function', 'procedure', 'aggregate') then lifeboat.ddl_function(objid)
    when kind = 'sequence' then lifeboat.ddl_sequence(objid)
    when kind = 'table' then lifeboat.ddl_table(objid)
    when kind in ('view', 'materialized view') then lifeboat.ddl_view(objid)
    else array[pg_catalog.format('-- lifeboat: %s %s is not exported; recreate it by hand', kind,
      pg_catalog.pg_describe_object(classid, objid, 0))]
  end
$$;

-- --- pre-data ----------------------------------------------------------------------------------

-- Extensions the restore needs, each after its schema. A full export (schemas null) takes
-- every extension but plpgsql: on a Supabase target the pre-installed ones make
-- CREATE EXTENSION IF NOT EXISTS a no-op, and one the user enabled (in `extensions`, say)
-- is what their tables need. A partial export takes those in its schemas and those its
-- objects depend on (column types, defaults, indexes, triggers...).
create or replace function lifeboat.ddl_extensions(nsps oid[], full_export boolean)
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with scoped as (
    -- catalog entries that belong to the exported schemas
    select 'pg_catalog.pg_class'::pg_catalog.regclass::oid as classid, c.oid as objid
      from pg_catalog.pg_class c where c.relnamespace = any (nsps)
    union all select 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid from pg_catalog.pg_type t where t.typnamespace = any (nsps)
    union all select 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid from pg_catalog.pg_proc p where p.pronamespace = any (nsps)
    union all select 'pg_catalog.pg_attrdef'::pg_catalog.regclass, ad.oid from pg_catalog.pg_attrdef ad
      join pg_catalog.pg_class c on c.oid = ad.adrelid where c.relnamespace = any (nsps)
    union all select 'pg_catalog.pg_constraint'::pg_catalog.regclass, co.oid from pg_catalog.pg_constraint co
      where co.connamespace = any (nsps)
    union all select 'pg_catalog.pg_trigger'::pg_catalog.regclass, tg.oid from pg_catalog.pg_trigger tg
      join pg_catalog.pg_class c on c.oid = tg.tgrelid where c.relnamespace = any (nsps)
    union all select 'pg_catalog.pg_rewrite'::pg_catalog.regclass, rw.oid from pg_catalog.pg_rewrite rw
      join pg_catalog.pg_class c on c.oid = rw.ev_class where c.relnamespace = any (nsps)
    union all select 'pg_catalog.pg_policy'::pg_catalog.regclass, po.oid from pg_catalog.pg_policy po
      join pg_catalog.pg_class c on c.oid = po.polrelid where c.relnamespace = any (nsps)
  ),
  wanted as (
    select e.oid, e.extname, n.nspname
    from pg_catalog.pg_extension e
    join pg_catalog.pg_namespace n on n.oid = e.extnamespace
    where e.extname <> 'plpgsql'
      and (full_export
        or e.extnamespace = any (nsps)
        or exists (
          select from scoped s
          join pg_catalog.pg_depend d on d.classid = s.classid and d.objid = s.objid
          join pg_catalog.pg_depend x on x.classid = d.refclassid and x.objid = d.refobjid and x.deptype = 'e'
          where x.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass and x.refobjid = e.oid))
  )
  select (pg_catalog.row_number() over (order by w.extname))::int, 'extension', w.nspname::text, w.extname::text,
    case when w.nspname = 'pg_catalog' or (select n.oid from pg_catalog.pg_namespace n where n.nspname = w.nspname) = any (nsps)
      then '' else pg_catalog.format(E'create schema if not exists %I;\n', w.nspname) end
    || pg_catalog.format('create extension if not exists %I with schema %I cascade', w.extname, w.nspname)
  from wanted w
$$;

-- ddl_pre_data(): what must exist before the data is loaded, in order: schemas, extensions,
-- then collations, types, functions, sequences and tables (dependencies first), then
-- sequence ownership. Functions that depend on views wait for post-data.
create or replace function lifeboat.ddl_pre_data(schemas text[] default null, exclude_schemas text[] default null)
returns table (seq int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with scope as (select lifeboat.ddl_scope(schemas, exclude_schemas) as nsps),
  rows as (
    select 1 as grp, (pg_catalog.row_number() over (order by n.nspname))::int as ord, 0 as sub,
      'schema'::text as kind, n.nspname::text as schema_name, n.nspname::text as object_name,
      pg_catalog.format('create schema if not exists %I', n.nspname) as ddl
    from scope, pg_catalog.pg_namespace n where n.oid = any (scope.nsps)
    union all
    select 2, e.ord, 0, e.kind, e.schema_name, e.object_name, e.ddl
    from scope, lifeboat.ddl_extensions(scope.nsps, schemas is null) e
    union all
    select 3, (pg_catalog.row_number() over (order by o.level, o.prio, o.schema_name, o.object_name, o.objid, s.sub))::int,
      s.sub::int, o.kind, o.schema_name, o.object_name, s.stmt
    from scope, lifeboat.ddl_node_order(scope.nsps) o
    cross join lateral pg_catalog.unnest(lifeboat.ddl_node(o.classid, o.objid, o.kind)) with ordinality as s(stmt, sub)
    where not o.post
    union all
    select 4, (pg_catalog.row_number() over (order by sn.nspname, sc.relname))::int, 0, 'sequence owned by',
      sn.nspname::text, sc.relname::text,
      pg_catalog.format('alter sequence %I.%I owned by %I.%I.%I', sn.nspname, sc.relname, tn.nspname, tc.relname, a.attname)
    from scope, pg_catalog.pg_depend d
    join pg_catalog.pg_class sc on sc.oid = d.objid and sc.relkind = 'S'
    join pg_catalog.pg_namespace sn on sn.oid = sc.relnamespace
    join pg_catalog.pg_class tc on tc.oid = d.refobjid
    join pg_catalog.pg_namespace tn on tn.oid = tc.relnamespace
    join pg_catalog.pg_attribute a on a.attrelid = tc.oid and a.attnum = d.refobjsubid
    where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
      and d.deptype = 'a' and sc.relnamespace = any (scope.nsps) and tc.relnamespace = any (scope.nsps)
  )
  select (pg_catalog.row_number() over (order by r.grp, r.ord, r.sub))::int, r.kind, r.schema_name, r.object_name, r.ddl
  from rows r
  order by 1
$$;
comment on function lifeboat.ddl_pre_data(text[], text[]) is
  'Pre-data DDL rows (seq, kind, schema_name, object_name, ddl without ";"): schemas, extensions, types, functions, sequences, tables, sequence ownership.';
-- --- post-data ---------------------------------------------------------------------------------

-- PRIMARY KEY, UNIQUE and EXCLUDE constraints, and NOT VALID CHECKs (tables and domains).
-- On partitioned tables the parent's constraint is added ONLY to the parent, each
-- partition gets its own, and the partition's index is attached (as pg_dump does), so
-- every name matches the source.
create or replace function lifeboat.ddl_constraints(nsps oid[])
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with cons as (
    select co.oid, co.conname, co.contype, co.conindid, co.conparentid, c.oid as relid, c.relkind,
      n.nspname, c.relname,
      (select pg_catalog.count(*) from pg_catalog.pg_partition_ancestors(c.oid))::int as depth
    from pg_catalog.pg_constraint co
    join pg_catalog.pg_class c on c.oid = co.conrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace = any (nsps) and c.relkind in ('r', 'p', 'f')
      and (co.contype in ('p', 'u', 'x') or (co.contype = 'c' and not co.convalidated and co.conislocal))
      and not exists (select from pg_catalog.pg_depend d
        where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid and d.deptype = 'e')
  ),
  stmts as (
    select case when k.contype = 'c' then 2 else 1 end as grp, k.depth, k.nspname, k.relname, k.conname, 0 as sub,
      case when k.contype = 'c' then 'check constraint' else 'constraint' end as kind,
      pg_catalog.format('alter table %s%I.%I add constraint %I %s',
        case when k.contype = 'c' then '' else 'only ' end, k.nspname, k.relname, k.conname,
        pg_catalog.pg_get_constraintdef(k.oid)) as ddl
    from cons k
    union all
    select 1, k.depth, k.nspname, k.relname, k.conname, 1, 'index attach',
      pg_catalog.format('alter index %s attach partition %s',
        i.inhparent::pg_catalog.regclass::text, k.conindid::pg_catalog.regclass::text)
    from cons k join pg_catalog.pg_inherits i on i.inhrelid = k.conindid
    where k.conparentid <> 0 and k.contype in ('p', 'u', 'x')
    union all
    select 2, 0, n.nspname, t.typname, co.conname, 0, 'check constraint',
      pg_catalog.format('alter domain %I.%I add constraint %I %s', n.nspname, t.typname, co.conname,
        pg_catalog.pg_get_constraintdef(co.oid))
    from pg_catalog.pg_constraint co
    join pg_catalog.pg_type t on t.oid = co.contypid
    join pg_catalog.pg_namespace n on n.oid = t.typnamespace
    where t.typnamespace = any (nsps) and not co.convalidated
  )
  select (pg_catalog.row_number() over (order by s.grp, s.depth, s.nspname, s.relname, s.conname, s.sub))::int,
    s.kind, s.nspname::text, s.relname::text || '.' || s.conname::text, s.ddl
  from stmts s
$$;

-- Views, materialized views and the functions that depend on them, dependencies first.
create or replace function lifeboat.ddl_views(nsps oid[])
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  select (pg_catalog.row_number() over (order by o.level, o.prio, o.schema_name, o.object_name, o.objid, s.sub))::int,
    o.kind, o.schema_name, o.object_name, s.stmt
  from lifeboat.ddl_node_order(nsps) o
  cross join lateral pg_catalog.unnest(lifeboat.ddl_node(o.classid, o.objid, o.kind)) with ordinality as s(stmt, sub)
  where o.post
$$;

-- Indexes that no constraint owns (those come with their constraint), partition indexes
-- attached to their parent index, then replica identity and CLUSTER ON.
create or replace function lifeboat.ddl_indexes(nsps oid[])
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with idx as (
    select i.indexrelid, i.indisclustered, i.indisreplident, ic.relname as idxname, n.nspname, c.relname,
      c.oid as relid, (select pg_catalog.count(*) from pg_catalog.pg_partition_ancestors(i.indexrelid))::int as depth,
      exists (select from pg_catalog.pg_constraint co
        where co.conindid = i.indexrelid and co.contype in ('p', 'u', 'x')) as owned
    from pg_catalog.pg_index i
    join pg_catalog.pg_class ic on ic.oid = i.indexrelid
    join pg_catalog.pg_class c on c.oid = i.indrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace = any (nsps) and c.relkind in ('r', 'p', 'm')
      and not exists (select from pg_catalog.pg_depend d
        where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid and d.deptype = 'e')
  ),
  stmts as (
    select 1 as grp, x.depth, x.nspname, x.idxname, 0 as sub, 'index' as kind,
      pg_catalog.pg_get_indexdef(x.indexrelid) as ddl
    from idx x where not x.owned
    union all
    select 1, x.depth, x.nspname, x.idxname, 1, 'index attach',
      pg_catalog.format('alter index %s attach partition %s', i.inhparent::pg_catalog.regclass::text,
        x.indexrelid::pg_catalog.regclass::text)
    from idx x join pg_catalog.pg_inherits i on i.inhrelid = x.indexrelid
    where not x.owned
    union all
    select 2, 0, x.nspname, x.idxname, 0, 'replica identity',
      pg_catalog.format('alter table only %I.%I replica identity using index %I', x.nspname, x.relname, x.idxname)
    from idx x where x.indisreplident
    union all
    select 2, 0, x.nspname, x.idxname, 1, 'cluster',
      pg_catalog.format('alter table only %I.%I cluster on %I', x.nspname, x.relname, x.idxname)
    from idx x where x.indisclustered
    union all
    select 2, 0, n.nspname, c.relname, 0, 'replica identity',
      pg_catalog.format('alter table only %I.%I replica identity %s', n.nspname, c.relname,
        case c.relreplident when 'f' then 'full' else 'nothing' end)
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace = any (nsps) and c.relkind in ('r', 'p') and c.relreplident in ('f', 'n')
    union all
    select 3, 0, n.nspname, s.stxname, 0, 'statistics', pg_catalog.pg_get_statisticsobjdef(s.oid)
    from pg_catalog.pg_statistic_ext s join pg_catalog.pg_namespace n on n.oid = s.stxnamespace
    where s.stxnamespace = any (nsps)
  )
  select (pg_catalog.row_number() over (order by s.grp, s.depth, s.nspname, s.idxname, s.sub))::int,
    s.kind, s.nspname::text, s.idxname::text, s.ddl
  from stmts s
$$;

-- Rules (other than a view's own), triggers (not internal, not cloned onto partitions) with
-- their enabled state, then foreign keys: last, once every referenced key exists.
create or replace function lifeboat.ddl_triggers_and_keys(nsps oid[])
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with rels as (
    select c.oid, c.relkind, c.relname, n.nspname
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace = any (nsps) and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and not exists (select from pg_catalog.pg_depend d
        where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid and d.deptype = 'e')
  ),
  stmts as (
    select 1 as grp, r.nspname, r.relname, rw.rulename::text as name, 0 as sub, 'rule' as kind,
      pg_catalog.rtrim(pg_catalog.pg_get_ruledef(rw.oid), '; ' || E'\n') as ddl
    from rels r join pg_catalog.pg_rewrite rw on rw.ev_class = r.oid and rw.rulename <> '_RETURN'
    union all
    select 2, r.nspname, r.relname, t.tgname::text, 0, 'trigger', pg_catalog.pg_get_triggerdef(t.oid)
    from rels r join pg_catalog.pg_trigger t on t.tgrelid = r.oid
    where not t.tgisinternal and t.tgparentid = 0
    union all
    select 2, r.nspname, r.relname, t.tgname::text, 1, 'trigger state',
      pg_catalog.format('alter table %I.%I %s trigger %I', r.nspname, r.relname,
        case t.tgenabled when 'D' then 'disable' when 'R' then 'enable replica' else 'enable always' end, t.tgname)
    from rels r join pg_catalog.pg_trigger t on t.tgrelid = r.oid
    where not t.tgisinternal and t.tgparentid = 0 and t.tgenabled <> 'O'
    union all
    select 3, r.nspname, r.relname, co.conname::text, 0, 'foreign key',
      pg_catalog.format('alter table %s%I.%I add constraint %I %s', case when r.relkind = 'r' then 'only ' else '' end,
        r.nspname, r.relname, co.conname, pg_catalog.pg_get_constraintdef(co.oid))
    from rels r join pg_catalog.pg_constraint co on co.conrelid = r.oid
    where co.contype = 'f' and co.conparentid = 0
  )
  select (pg_catalog.row_number() over (order by s.grp, s.nspname, s.relname, s.name, s.sub))::int,
    s.kind, s.nspname::text, s.relname::text || '.' || s.name, s.ddl
  from stmts s
$$;

-- Row level security flags and CREATE POLICY statements.
create or replace function lifeboat.ddl_policies(nsps oid[])
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with stmts as (
    select 1 as grp, n.nspname, c.relname, ''::text as name, 'row level security' as kind,
      pg_catalog.format('alter table %I.%I enable row level security', n.nspname, c.relname) as ddl
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace = any (nsps) and c.relrowsecurity
    union all
    select 1, n.nspname, c.relname, '~', 'row level security',
      pg_catalog.format('alter table %I.%I force row level security', n.nspname, c.relname)
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace = any (nsps) and c.relforcerowsecurity
    union all
    select 2, n.nspname, c.relname, p.polname::text, 'policy',
      pg_catalog.concat_ws(E'\n  ',
        pg_catalog.format('create policy %I on %I.%I', p.polname, n.nspname, c.relname),
        case when p.polpermissive then 'as permissive' else 'as restrictive' end,
        'for ' || case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
          when 'd' then 'delete' else 'all' end,
        'to ' || (select pg_catalog.string_agg(lifeboat.ddl_role_ident(r), ', ' order by lifeboat.ddl_role_ident(r))
          from pg_catalog.unnest(p.polroles) r),
        'using (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')',
        'with check (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')')
    from pg_catalog.pg_policy p
    join pg_catalog.pg_class c on c.oid = p.polrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace = any (nsps)
  )
  select (pg_catalog.row_number() over (order by s.grp, s.nspname, s.relname, s.name))::int,
    s.kind, s.nspname::text, s.relname::text || case when s.name in ('', '~') then '' else '.' || s.name end, s.ddl
  from stmts s
$$;

-- Publications: created if missing (a full export), and the exported tables and schemas
-- added to them. FOR ALL TABLES needs a superuser on the target.
create or replace function lifeboat.ddl_publications(nsps oid[], full_export boolean)
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with members as (
    select pr.prpubid as pubid, 1 as sub, n.nspname::text as name,
      pg_catalog.format('alter publication %I add table only %I.%I%s%s', p.pubname, n.nspname, c.relname,
        case when pr.prattrs is not null then ' (' || (select pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' order by k.ord)
          from pg_catalog.unnest(pr.prattrs::int2[]) with ordinality k(attnum, ord)
          join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum) || ')' else '' end,
        case when pr.prqual is not null then ' where (' || pg_catalog.pg_get_expr(pr.prqual, pr.prrelid) || ')' else '' end) as ddl,
      c.relname::text as rel
    from pg_catalog.pg_publication_rel pr
    join pg_catalog.pg_publication p on p.oid = pr.prpubid
    join pg_catalog.pg_class c on c.oid = pr.prrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relnamespace = any (nsps)
    union all
    select pn.pnpubid, 2, n.nspname::text, pg_catalog.format('alter publication %I add tables in schema %I', p.pubname, n.nspname), ''
    from pg_catalog.pg_publication_namespace pn
    join pg_catalog.pg_publication p on p.oid = pn.pnpubid
    join pg_catalog.pg_namespace n on n.oid = pn.pnnspid
    where pn.pnnspid = any (nsps)
  ),
  pubs as (
    select p.* from pg_catalog.pg_publication p
    where full_export or exists (select from members m where m.pubid = p.oid)
  ),
  stmts as (
    select p.pubname, 0 as sub, ''::text as name, ''::text as rel, 'publication' as kind,
      lifeboat.ddl_do(pg_catalog.format(E'begin\n  if not exists (select from pg_catalog.pg_publication where pubname = %L) then\n    create publication %I%s with (publish = %L, publish_via_partition_root = %s);\n  end if;\nend',
        p.pubname, p.pubname, case when p.puballtables then ' for all tables' else '' end,
        pg_catalog.concat_ws(', ', case when p.pubinsert then 'insert' end, case when p.pubupdate then 'update' end,
          case when p.pubdelete then 'delete' end, case when p.pubtruncate then 'truncate' end),
        case when p.pubviaroot then 'true' else 'false' end)) as ddl
    from pubs p
    union all
    select p.pubname, m.sub, m.name, m.rel, 'publication member', m.ddl
    from pubs p join members m on m.pubid = p.oid
  )
  select (pg_catalog.row_number() over (order by s.pubname, s.sub, s.name, s.rel))::int,
    s.kind, nullif(s.name, ''), s.pubname::text || case when s.rel <> '' then '.' || s.rel else '' end, s.ddl
  from stmts s
$$;

-- Every exported object with its owner and its ACL (null ACL = the built-in default), for
-- ownership and grants: schemas, relations, functions, types.
create or replace function lifeboat.ddl_acl_objects(nsps oid[])
returns table (kind text, schema_name text, object_name text, target text, owner oid, acl aclitem[], sort_key text)
language sql
stable
set search_path = ''
as $$
  with ext as (select d.classid, d.objid from pg_catalog.pg_depend d where d.deptype = 'e')
  select 'schema', n.nspname::text, n.nspname::text, pg_catalog.format('schema %I', n.nspname), n.nspowner,
    coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner)), '0' || n.nspname
  from pg_catalog.pg_namespace n where n.oid = any (nsps)
  union all
  select case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view'
      when 'f' then 'foreign table' else 'table' end,
    n.nspname::text, c.relname::text,
    pg_catalog.format('%s %I.%I', case when c.relkind = 'S' then 'sequence' else 'table' end, n.nspname, c.relname),
    c.relowner, coalesce(c.relacl, pg_catalog.acldefault((case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner)),
    '1' || n.nspname || '.' || c.relname
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.relnamespace = any (nsps) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    and not exists (select from ext where ext.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and ext.objid = c.oid)
  union all
  select case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end,
    n.nspname::text, p.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
    pg_catalog.format('%s %I.%I(%s)', case when p.prokind = 'p' then 'procedure' else 'function' end,
      n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),
    p.proowner, coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)),
    '2' || n.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
  from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  where p.pronamespace = any (nsps)
    and not exists (select from ext where ext.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and ext.objid = p.oid)
    and not exists (select from pg_catalog.pg_depend di -- a range type's constructors come with the type
      where di.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and di.objid = p.oid and di.deptype = 'i')
  union all
  select case t.typtype when 'd' then 'domain' else 'type' end, n.nspname::text, t.typname::text,
    pg_catalog.format('%s %I.%I', case t.typtype when 'd' then 'domain' else 'type' end, n.nspname, t.typname),
    t.typowner, coalesce(t.typacl, pg_catalog.acldefault('T', t.typowner)), '3' || n.nspname || '.' || t.typname
  from pg_catalog.pg_type t
  join pg_catalog.pg_namespace n on n.oid = t.typnamespace
  left join pg_catalog.pg_class r on r.oid = t.typrelid
  where t.typnamespace = any (nsps)
    and (t.typtype in ('e', 'r', 'd') or (t.typtype = 'c' and r.relkind = 'c'))
    and not exists (select from ext where ext.classid = 'pg_catalog.pg_type'::pg_catalog.regclass and ext.objid = t.oid)
$$;

-- ALTER ... OWNER TO for objects owned by one of the user's own roles (not the restoring
-- role, not a reserved role: those the restore cannot or need not reassign). The restoring
-- role must be a member of the new owner. Sequences owned by a column follow their table.
create or replace function lifeboat.ddl_owners(nsps oid[])
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  select (pg_catalog.row_number() over (order by o.sort_key))::int, 'owner', o.schema_name, o.object_name,
    pg_catalog.format('alter %s owner to %I',
      case when o.kind in ('view', 'materialized view', 'foreign table') then o.kind || pg_catalog.substr(o.target, 6)
        when o.kind = 'aggregate' then 'aggregate' || pg_catalog.substr(o.target, 9)
        else o.target end, r.rolname)
  from lifeboat.ddl_acl_objects(nsps) o
  join pg_catalog.pg_roles r on r.oid = o.owner
  where r.rolname <> current_user and r.oid >= 16384 and not lifeboat.is_reserved_role(r.rolname)
    and not (o.kind = 'sequence' and exists (
      select from pg_catalog.pg_depend d join pg_catalog.pg_class c on c.oid = d.objid
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.deptype in ('a', 'i')
        and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
        and n.nspname = o.schema_name and c.relname = o.object_name))
$$;

-- GRANT statements from each object's ACL. Each object is first reset (REVOKE ALL from
-- PUBLIC and the Supabase API roles), because the target's default privileges may already
-- have granted what the source had revoked. Then column grants and default privileges.
create or replace function lifeboat.ddl_grants(nsps oid[], full_export boolean)
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with objs as (select * from lifeboat.ddl_acl_objects(nsps)),
  api_roles as (
    select pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ' order by r.rolname) as list
    from pg_catalog.pg_roles r where r.rolname in ('anon', 'authenticated', 'service_role')
  ),
  entries as (
    select o.sort_key, o.schema_name, o.object_name, o.target, x.grantee, x.is_grantable,
      pg_catalog.lower(pg_catalog.string_agg(x.privilege_type, ', ' order by x.privilege_type)) as privs
    from objs o cross join lateral pg_catalog.aclexplode(o.acl) x
    where x.grantee <> o.owner
    group by o.sort_key, o.schema_name, o.object_name, o.target, x.grantee, x.is_grantable
  ),
  col_entries as (
    select n.nspname, c.relname, a.attname, x.grantee, x.is_grantable,
      pg_catalog.lower(pg_catalog.string_agg(x.privilege_type, ', ' order by x.privilege_type)) as privs
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    cross join lateral pg_catalog.aclexplode(a.attacl) x
    where c.relnamespace = any (nsps) and a.attacl is not null and a.attnum > 0 and not a.attisdropped
      and x.grantee <> c.relowner
    group by n.nspname, c.relname, a.attname, x.grantee, x.is_grantable
  ),
  defaults as (
    select d.defaclrole, d.defaclnamespace, d.defaclobjtype, x.grantee, x.is_grantable,
      pg_catalog.lower(pg_catalog.string_agg(x.privilege_type, ', ' order by x.privilege_type)) as privs
    from pg_catalog.pg_default_acl d
    join pg_catalog.pg_roles r on r.oid = d.defaclrole
    cross join lateral pg_catalog.aclexplode(d.defaclacl) x
    where (d.defaclnamespace = any (nsps) or (full_export and d.defaclnamespace = 0))
      and (r.rolname = current_user or (r.oid >= 16384 and not lifeboat.is_reserved_role(r.rolname)))
      and x.grantee <> d.defaclrole
    group by d.defaclrole, d.defaclnamespace, d.defaclobjtype, x.grantee, x.is_grantable
  ),
  stmts as (
    select o.sort_key, 0 as sub, ''::text as detail, o.schema_name, o.object_name, 'revoke' as kind,
      pg_catalog.format('revoke all on %s from public%s', o.target, coalesce(', ' || a.list, '')) as ddl
    from objs o, api_roles a
    union all
    select e.sort_key, 1, lifeboat.ddl_role_ident(e.grantee) || e.is_grantable::text, e.schema_name, e.object_name, 'grant',
      pg_catalog.format('grant %s on %s to %s%s', e.privs, e.target, lifeboat.ddl_role_ident(e.grantee),
        case when e.is_grantable then ' with grant option' else '' end)
    from entries e
    union all
    select '4' || c.nspname || '.' || c.relname, 2, c.attname || lifeboat.ddl_role_ident(c.grantee), c.nspname::text,
      c.relname::text || '.' || c.attname::text, 'column grant',
      pg_catalog.format('grant %s (%I) on table %I.%I to %s%s', c.privs, c.attname, c.nspname, c.relname,
        lifeboat.ddl_role_ident(c.grantee), case when c.is_grantable then ' with grant option' else '' end)
    from col_entries c
    union all
    -- A global entry replaces the built-in defaults (PUBLIC may execute functions and use
    -- types), so those are revoked first; a per-schema entry only adds.
    select '5' || r.rolname, 0, d.defaclobjtype::text, null, r.rolname::text, 'default privileges',
      pg_catalog.format('alter default privileges for role %I revoke all on %s from public', r.rolname,
        case d.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
          when 'T' then 'types' else 'schemas' end)
    from pg_catalog.pg_default_acl d join pg_catalog.pg_roles r on r.oid = d.defaclrole
    where full_export and d.defaclnamespace = 0
      and (r.rolname = current_user or (r.oid >= 16384 and not lifeboat.is_reserved_role(r.rolname)))
    union all
    select '5' || r.rolname || coalesce(n.nspname, ''), 1, d.defaclobjtype::text || lifeboat.ddl_role_ident(d.grantee),
      n.nspname::text, r.rolname::text, 'default privileges',
      pg_catalog.format('alter default privileges for role %I%s grant %s on %s to %s%s', r.rolname,
        coalesce(pg_catalog.format(' in schema %I', n.nspname), ''), d.privs,
        case d.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
          when 'T' then 'types' else 'schemas' end,
        lifeboat.ddl_role_ident(d.grantee), case when d.is_grantable then ' with grant option' else '' end)
    from defaults d
    join pg_catalog.pg_roles r on r.oid = d.defaclrole
    left join pg_catalog.pg_namespace n on n.oid = d.defaclnamespace
  )
  select (pg_catalog.row_number() over (order by s.sort_key, s.sub, s.detail, s.ddl))::int,
    s.kind, s.schema_name, s.object_name, s.ddl
  from stmts s
$$;

-- COMMENT ON for schemas, relations, columns, types, functions, indexes, constraints,
-- triggers, policies, rules, collations and publications.
create or replace function lifeboat.ddl_comments(nsps oid[], full_export boolean)
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with ext as (select d.classid, d.objid from pg_catalog.pg_depend d where d.deptype = 'e'),
  stmts as (
    select n.nspname::text as schema_name, n.nspname::text as object_name, 'schema ' || pg_catalog.quote_ident(n.nspname) as target, ds.description
    from pg_catalog.pg_namespace n join pg_catalog.pg_description ds
      on ds.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass and ds.objoid = n.oid and ds.objsubid = 0
    where n.oid = any (nsps)
    union all
    select n.nspname, c.relname || coalesce('.' || a.attname, ''),
      case when ds.objsubid > 0 then pg_catalog.format('column %I.%I.%I', n.nspname, c.relname, a.attname)
        else pg_catalog.format('%s %I.%I', case c.relkind when 'S' then 'sequence' when 'v' then 'view'
          when 'm' then 'materialized view' when 'f' then 'foreign table' when 'i' then 'index' when 'I' then 'index'
          when 'c' then 'type' else 'table' end, n.nspname, case when c.relkind = 'c' then t.typname else c.relname end) end,
      ds.description
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass and ds.objoid = c.oid
    left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = ds.objsubid and ds.objsubid > 0
    left join pg_catalog.pg_type t on t.oid = c.reltype
    where c.relnamespace = any (nsps) and c.relkind in ('r', 'p', 'S', 'v', 'm', 'f', 'i', 'I', 'c')
      and not (c.relkind = 'c' and ds.objsubid > 0)
      and not exists (select from ext where ext.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and ext.objid = c.oid)
    union all
    select n.nspname, t.typname, pg_catalog.format('%s %I.%I', case t.typtype when 'd' then 'domain' else 'type' end, n.nspname, t.typname),
      ds.description
    from pg_catalog.pg_type t
    join pg_catalog.pg_namespace n on n.oid = t.typnamespace
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_type'::pg_catalog.regclass and ds.objoid = t.oid
    where t.typnamespace = any (nsps) and t.typtype in ('e', 'r', 'd', 'm', 'c')
      and (t.typtype <> 'c' or exists (select from pg_catalog.pg_class r where r.oid = t.typrelid and r.relkind = 'c'))
      and not exists (select from ext where ext.classid = 'pg_catalog.pg_type'::pg_catalog.regclass and ext.objid = t.oid)
    union all
    select n.nspname, p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
      pg_catalog.format('%s %I.%I(%s)', case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end,
        n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),
      ds.description
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass and ds.objoid = p.oid
    where p.pronamespace = any (nsps)
      and not exists (select from ext where ext.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and ext.objid = p.oid)
    and not exists (select from pg_catalog.pg_depend di -- a range type's constructors come with the type
      where di.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and di.objid = p.oid and di.deptype = 'i')
    union all
    select n.nspname, coalesce(c.relname, t.typname) || '.' || co.conname,
      case when co.conrelid <> 0 then pg_catalog.format('constraint %I on %I.%I', co.conname, n.nspname, c.relname)
        else pg_catalog.format('constraint %I on domain %I.%I', co.conname, n.nspname, t.typname) end,
      ds.description
    from pg_catalog.pg_constraint co
    join pg_catalog.pg_namespace n on n.oid = co.connamespace
    left join pg_catalog.pg_class c on c.oid = co.conrelid
    left join pg_catalog.pg_type t on t.oid = co.contypid
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass and ds.objoid = co.oid
    where co.connamespace = any (nsps)
    union all
    select n.nspname, c.relname || '.' || tg.tgname, pg_catalog.format('trigger %I on %I.%I', tg.tgname, n.nspname, c.relname),
      ds.description
    from pg_catalog.pg_trigger tg
    join pg_catalog.pg_class c on c.oid = tg.tgrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_trigger'::pg_catalog.regclass and ds.objoid = tg.oid
    where c.relnamespace = any (nsps) and not tg.tgisinternal and tg.tgparentid = 0
    union all
    select n.nspname, c.relname || '.' || po.polname, pg_catalog.format('policy %I on %I.%I', po.polname, n.nspname, c.relname),
      ds.description
    from pg_catalog.pg_policy po
    join pg_catalog.pg_class c on c.oid = po.polrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_policy'::pg_catalog.regclass and ds.objoid = po.oid
    where c.relnamespace = any (nsps)
    union all
    select n.nspname, c.relname || '.' || rw.rulename, pg_catalog.format('rule %I on %I.%I', rw.rulename, n.nspname, c.relname),
      ds.description
    from pg_catalog.pg_rewrite rw
    join pg_catalog.pg_class c on c.oid = rw.ev_class
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass and ds.objoid = rw.oid
    where c.relnamespace = any (nsps) and rw.rulename <> '_RETURN'
    union all
    select n.nspname, co.collname, pg_catalog.format('collation %I.%I', n.nspname, co.collname), ds.description
    from pg_catalog.pg_collation co
    join pg_catalog.pg_namespace n on n.oid = co.collnamespace
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_collation'::pg_catalog.regclass and ds.objoid = co.oid
    where co.collnamespace = any (nsps)
    union all
    select null, p.pubname, pg_catalog.format('publication %I', p.pubname), ds.description
    from pg_catalog.pg_publication p
    join pg_catalog.pg_description ds on ds.classoid = 'pg_catalog.pg_publication'::pg_catalog.regclass and ds.objoid = p.oid
    where full_export
  )
  select (pg_catalog.row_number() over (order by s.schema_name, s.object_name, s.target))::int, 'comment',
    s.schema_name, s.object_name, pg_catalog.format('comment on %s is %L', s.target, s.description)
  from stmts s
$$;

-- pg_cron jobs of the current user in this database (a full export only), as idempotent
-- cron.schedule() calls (it upserts by name) guarded by "if pg_cron is installed". Jobs
-- named lifeboat* belong to Lifeboat's own migrations and are left out.
create or replace function lifeboat.ddl_cron_jobs(full_export boolean)
returns table (ord int, kind text, schema_name text, object_name text, ddl text)
language plpgsql
stable
set search_path = ''
as $$
begin
  if not full_export or pg_catalog.to_regclass('cron.job') is null
     or not pg_catalog.has_table_privilege('cron.job', 'select') then
    return;
  end if;
  return query execute $q$
    select (pg_catalog.row_number() over (order by coalesce(j.jobname, ''), j.jobid))::int, 'cron job'::text,
      null::text, coalesce(j.jobname::text, j.jobid::text),
      lifeboat.ddl_do(pg_catalog.format(E'begin\n  if pg_catalog.to_regnamespace(''cron'') is not null then\n    perform %s;\n  end if;\nend',
        case when j.active
          then pg_catalog.format('cron.schedule(%s%L, %L)', coalesce(pg_catalog.quote_literal(j.jobname) || ', ', ''), j.schedule, j.command)
          else pg_catalog.format('cron.alter_job(cron.schedule(%s%L, %L), active => false)',
            coalesce(pg_catalog.quote_literal(j.jobname) || ', ', ''), j.schedule, j.command) end))
    from cron.job j
    where j.username = current_user and j.database = pg_catalog.current_database()
      and coalesce(j.jobname, '') not like 'lifeboat%'
  $q$;
end
$$;

-- ddl_post_data(): what comes after the data, in order: PK/UNIQUE/EXCLUDE constraints and
-- NOT VALID checks, views and materialized views (dependencies first), indexes, rules,
-- triggers, foreign keys, RLS and policies, publications, owners, grants, comments and
-- pg_cron jobs.
create or replace function lifeboat.ddl_post_data(schemas text[] default null, exclude_schemas text[] default null)
returns table (seq int, kind text, schema_name text, object_name text, ddl text)
language sql
stable
set search_path = ''
as $$
  with scope as (select lifeboat.ddl_scope(schemas, exclude_schemas) as nsps, schemas is null as full_export),
  rows as (
    select 1 as grp, x.* from scope, lifeboat.ddl_constraints(scope.nsps) x
    union all select 2, x.* from scope, lifeboat.ddl_views(scope.nsps) x
    union all select 3, x.* from scope, lifeboat.ddl_indexes(scope.nsps) x
    union all select 4, x.* from scope, lifeboat.ddl_triggers_and_keys(scope.nsps) x
    union all select 5, x.* from scope, lifeboat.ddl_policies(scope.nsps) x
    union all select 6, x.* from scope, lifeboat.ddl_publications(scope.nsps, scope.full_export) x
    union all select 7, x.* from scope, lifeboat.ddl_owners(scope.nsps) x
    union all select 8, x.* from scope, lifeboat.ddl_grants(scope.nsps, scope.full_export) x
    union all select 9, x.* from scope, lifeboat.ddl_comments(scope.nsps, scope.full_export) x
    union all select 10, x.* from scope, lifeboat.ddl_cron_jobs(scope.full_export) x
  )
  select (pg_catalog.row_number() over (order by r.grp, r.ord))::int, r.kind, r.schema_name, r.object_name, r.ddl
  from rows r
  order by 1
$$;
comment on function lifeboat.ddl_post_data(text[], text[]) is
  'Post-data DDL rows (seq, kind, schema_name, object_name, ddl without ";"): constraints, views, indexes, triggers, FKs, RLS, policies, publications, owners, grants, comments, cron jobs.';

-- ddl_script(): one section as a psql script: the settings pg_dump sets, then every
-- statement terminated by ";". section: 'roles', 'pre-data' or 'post-data'.
create or replace function lifeboat.ddl_script(section text, schemas text[] default null, exclude_schemas text[] default null)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  header constant text := pg_catalog.concat_ws(E'\n',
    pg_catalog.format('-- Lifeboat %s, generated %s from database %s (PostgreSQL %s)', section,
      pg_catalog.to_char(pg_catalog.now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
      pg_catalog.quote_ident(pg_catalog.current_database()), pg_catalog.current_setting('server_version')),
    'set statement_timeout = 0;',
    'set lock_timeout = 0;',
    'set client_encoding = ''UTF8'';',
    'set standard_conforming_strings = on;',
    'set check_function_bodies = false;',
    'set xmloption = content;',
    'set client_min_messages = warning;',
    'set row_security = off;',
    'select pg_catalog.set_config(''search_path'', '''', false);',
    '', '');
  body text;
begin
  if section = 'roles' then
    return header || lifeboat.ddl_roles();
  elsif section = 'pre-data' then
    select pg_catalog.string_agg(d.ddl || case when d.ddl like '--%' and d.ddl not like E'%\n%' then '' else ';' end, E'\n\n' order by d.seq)
      into body from lifeboat.ddl_pre_data(schemas, exclude_schemas) d;
  elsif section = 'post-data' then
    select pg_catalog.string_agg(d.ddl || case when d.ddl like '--%' and d.ddl not like E'%\n%' then '' else ';' end, E'\n\n' order by d.seq)
      into body from lifeboat.ddl_post_data(schemas, exclude_schemas) d;
  else
    raise exception 'lifeboat.ddl_script: unknown section %', pg_catalog.quote_literal(section)
      using errcode = '22023', hint = 'Use one of ''roles'', ''pre-data'', ''post-data''.';
  end if;
  return header || coalesce(body, '') || E'\n';
end
$$;
comment on function lifeboat.ddl_script(text, text[], text[]) is
  'One DDL section (roles, pre-data, post-data) as a psql script with pg_dump''s session settings.';

-- Belt and braces: whatever the defaults were, nothing here is granted to the API roles.
revoke all on all tables in schema lifeboat from public, anon, authenticated;
revoke all on all sequences in schema lifeboat from public, anon, authenticated;
revoke all on all functions in schema lifeboat from public, anon, authenticated;
