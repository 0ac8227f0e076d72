-- A mixed transaction for pgbench (bench/stream/run.ts): an insert, an update and, one time in
-- ten, a delete, on bench_stream.orders.
\set id random(1, 100000)
begin;
insert into bench_stream.orders (customer, amount, note) values (:id, random() * 100, md5(random()::text));
update bench_stream.orders set amount = amount + 1 where id = (select max(id) from bench_stream.orders) - (:id % 50);
\if :id % 10 = 0
delete from bench_stream.orders where id = (select min(id) from bench_stream.orders);
\endif
commit;
