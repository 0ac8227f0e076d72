-- lifeboat.ddl_pre_data(): shape, dependency order, scope and quoting.
begin;
select plan(14);

create schema ddl_t;
create type ddl_t.color as enum ('red', 'it''s');
create function ddl_t.default_color() returns ddl_t.color language sql stable as $$ select 'red'::ddl_t.color $$;
create table ddl_t."We ""ird"" Table" (
  id bigint generated always as identity primary key,
  c ddl_t.color default ddl_t.default_color(),
  n serial,
  h bytea generated always as (extensions.digest('x'::text, 'sha256')) stored
);
create function ddl_t.label(t ddl_t."We ""ird"" Table") returns text language sql immutable as $$ select t.id::text $$;
create table ddl_t.child (extra int) inherits (ddl_t."We ""ird"" Table");
create table ddl_t.referencing (id int primary key, other int references ddl_t.referencing (id));

create temporary table pre on commit drop as select * from lifeboat.ddl_pre_data(array['ddl_t']);
create function pg_temp.seq_of(k text, obj text) returns int language sql stable as
  $$ select min(p.seq) from pre p where p.kind = k and p.object_name = obj $$;

select has_function('lifeboat', 'ddl_pre_data', array['text[]', 'text[]'], 'ddl_pre_data(schemas, exclude_schemas) exists');
select results_eq('select seq from pre order by seq',
  'select g from generate_series(1, (select count(*)::int from pre)) g',
  'rows are numbered 1..n without gaps');
select is((select kind || ':' || object_name from pre where seq = 1), 'schema:ddl_t', 'schemas come first');
select ok(pg_temp.seq_of('extension', 'pgcrypto') < pg_temp.seq_of('table', 'We "ird" Table'),
  'an extension the tables depend on (pgcrypto, in excluded schema extensions) comes before them');
select ok(pg_temp.seq_of('enum', 'color') < pg_temp.seq_of('function', 'default_color()')
  and pg_temp.seq_of('function', 'default_color()') < pg_temp.seq_of('table', 'We "ird" Table'),
  'enum before the function that returns it, function before the table whose default calls it');
select ok(pg_temp.seq_of('table', 'We "ird" Table') < pg_temp.seq_of('function', 'label(t ddl_t."We ""ird"" Table")'),
  'a function taking a table''s row type comes after the table');
select ok(pg_temp.seq_of('table', 'We "ird" Table') < pg_temp.seq_of('table', 'child'), 'inheritance parent before child');
select matches((select ddl from pre where kind = 'table' and object_name = 'We "ird" Table' and ddl like 'create table%'),
  E'^create table ddl_t\\."We ""ird"" Table" \\(\n    id bigint generated always as identity \\(sequence name ddl_t\\."We ""ird"" Table_id_seq" ',
  'awkward names are quoted, identity columns keep their sequence name');
select matches((select ddl from pre where kind = 'table' and object_name = 'child'),
  E'^create table ddl_t\\.child \\(\n    extra integer\n\\) inherits \\(ddl_t\\."We ""ird"" Table"\\)$',
  'an inheritance child lists only its own columns');
select matches((select string_agg(ddl, E'\n') from pre where kind = 'sequence owned by'),
  'alter sequence ddl_t."We ""ird"" Table_n_seq" owned by ddl_t."We ""ird"" Table".n', 'serial sequences get OWNED BY');
select is((select count(*)::int from pre where ddl ~* '(primary key|foreign key|references|create index)'), 0,
  'keys and indexes are not in pre-data');
select is((select count(*)::int from lifeboat.ddl_pre_data() where schema_name = any (lifeboat.excluded_schemas()) and kind <> 'extension'),
  0, 'by default nothing from an excluded schema (lifeboat, extensions, cron...) is exported');
select is((select count(*)::int from lifeboat.ddl_pre_data(null, array['ddl_t', 'public', 'lifeboat']) where schema_name = 'ddl_t'),
  0, 'exclude_schemas leaves a schema out');

set local role authenticated;
select throws_ok($$select * from lifeboat.ddl_pre_data()$$, '42501', null, 'authenticated may not call ddl_pre_data()');
reset role;

select * from finish();
rollback;
