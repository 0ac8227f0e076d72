-- lifeboat.ddl_post_data() and lifeboat.ddl_script(): order, policies, grants, comments, cron.
begin;
select plan(15);

create schema ddl_t;
create table ddl_t.parent (id int primary key, name text);
create table ddl_t.kid (id int primary key, parent_id int);
alter table ddl_t.kid add constraint kid_parent_id_fkey foreign key (parent_id) references ddl_t.parent (id) not valid;
create index kid_parent_idx on ddl_t.kid (parent_id);
create view ddl_t.v1 as select id, name from ddl_t.parent;
create view ddl_t."V 2" as select id from ddl_t.v1 where id > 0;
create function ddl_t.v2_rows() returns setof ddl_t."V 2" language sql stable as $$ select * from ddl_t."V 2" $$;
create function ddl_t.trg() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger kid_trg before insert on ddl_t.kid for each row execute function ddl_t.trg();
alter table ddl_t.parent enable row level security;
create policy "p 1" on ddl_t.parent for select to authenticated using (id > 0);
revoke all on ddl_t.parent from anon, authenticated, service_role;
grant select on ddl_t.parent to anon;
grant update (name) on ddl_t.parent to authenticated;
comment on table ddl_t.parent is 'it''s the parent';
do $do$ begin perform cron.schedule('ddl_t_job', '0 3 * * *', $$select 'it''s nightly'$$); end $do$;

create temporary table post on commit drop as select * from lifeboat.ddl_post_data(array['ddl_t']);
create function pg_temp.seq_of(k text, obj text) returns int language sql stable as
  $$ select min(p.seq) from post p where p.kind = k and p.object_name = obj $$;

select results_eq('select seq from post order by seq',
  'select g from generate_series(1, (select count(*)::int from post)) g', 'rows are numbered 1..n without gaps');
select ok(pg_temp.seq_of('constraint', 'parent.parent_pkey') < pg_temp.seq_of('foreign key', 'kid.kid_parent_id_fkey')
  and pg_temp.seq_of('index', 'kid_parent_idx') < pg_temp.seq_of('foreign key', 'kid.kid_parent_id_fkey'),
  'primary keys and indexes before foreign keys');
select is((select ddl from post where kind = 'foreign key'),
  'alter table only ddl_t.kid add constraint kid_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES ddl_t.parent(id) NOT VALID',
  'a NOT VALID foreign key stays NOT VALID');
select ok(pg_temp.seq_of('view', 'v1') < pg_temp.seq_of('view', 'V 2')
  and pg_temp.seq_of('view', 'V 2') < pg_temp.seq_of('function', 'v2_rows()'),
  'a view after the view it reads, a function returning a view''s rows after that view');
select is((select count(*)::int from lifeboat.ddl_pre_data(array['ddl_t']) where object_name = 'v2_rows()'), 0,
  'that function is not in pre-data');
select ok(pg_temp.seq_of('view', 'v1') > pg_temp.seq_of('constraint', 'parent.parent_pkey'), 'views after primary keys');
select is((select ddl from post where kind = 'trigger'),
  'CREATE TRIGGER kid_trg BEFORE INSERT ON ddl_t.kid FOR EACH ROW EXECUTE FUNCTION ddl_t.trg()',
  'user triggers are exported (and internal FK triggers are not)');
select is((select ddl from post where kind = 'policy'),
  E'create policy "p 1" on ddl_t.parent\n  as permissive\n  for select\n  to authenticated\n  using ((id > 0))',
  'CREATE POLICY is rebuilt from pg_policy');
select ok((select seq from post where ddl = 'alter table ddl_t.parent enable row level security') is not null,
  'RLS is enabled');
select ok(pg_temp.seq_of('revoke', 'parent') < (select seq from post where ddl = 'grant select on table ddl_t.parent to anon'),
  'each object''s privileges are reset, then granted as in the source');
select ok(exists (select from post where ddl = 'grant update (name) on table ddl_t.parent to authenticated'), 'column grants');
select ok(exists (select from post where ddl = 'comment on table ddl_t.parent is ''it''''s the parent'''), 'comments');
select matches((select lifeboat.ddl_script('post-data')),
  'perform cron.schedule\(''ddl_t_job'', ''0 3 \* \* \*'', ''select ''''it''''''''s nightly''''''\);',
  'a full export schedules the user''s pg_cron jobs again');
select matches(lifeboat.ddl_script('post-data', array['ddl_t']),
  E'set check_function_bodies = false;[\\s\\S]*\nalter table only ddl_t.kid add constraint kid_parent_id_fkey [^\n]* NOT VALID;\n',
  'ddl_script() sets pg_dump''s settings and ends every statement with ";"');
select throws_ok($$select lifeboat.ddl_script('data')$$, '22023', null, 'an unknown section is refused');

select * from finish();
rollback;
