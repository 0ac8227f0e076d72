-- Demo data for Lifeboat's local stack and tests: a small shop. Idempotent: tables are
-- created if missing and filled only when empty, so `scripts/stack.sh start` can re-run it.
-- A few identifiers are deliberately awkward (mixed case, a space, a reserved word),
-- because backup tools that forget to quote break on exactly these.

create table if not exists public.products (
  id bigint generated always as identity primary key,
  sku text not null unique,
  name text not null,
  price numeric(10, 2) not null check (price >= 0),
  tags text[] not null default '{}',
  attributes jsonb not null default '{}',
  created_at timestamptz not null default now()
);

create table if not exists public.orders (
  id bigint generated always as identity primary key,
  customer_email text not null,
  status text not null default 'pending' check (status in ('pending', 'paid', 'shipped', 'cancelled')),
  total numeric(12, 2) not null default 0,
  created_at timestamptz not null default now()
);
create index if not exists orders_created_at_idx on public.orders (created_at);

create table if not exists public.order_items (
  id bigint generated always as identity primary key,
  order_id bigint not null references public.orders (id) on delete cascade,
  product_id bigint not null references public.products (id),
  quantity int not null check (quantity > 0),
  unit_price numeric(10, 2) not null
);
create index if not exists order_items_order_id_idx on public.order_items (order_id);
create index if not exists order_items_product_id_idx on public.order_items (product_id);

create table if not exists public.audit_logs (
  id bigint generated always as identity primary key,
  actor text not null,
  action text not null,
  entity text not null,
  entity_id bigint,
  details jsonb,
  created_at timestamptz not null default now()
);
create index if not exists audit_logs_created_at_idx on public.audit_logs (created_at);

-- Awkward on purpose: mixed case and a space in the table name, a reserved word as a column.
create table if not exists public."Promo Codes" (
  "Code" text primary key,
  "percent off" int not null check ("percent off" between 1 and 100),
  "order" bigint references public.orders (id),
  valid_until date
);

alter table public.products enable row level security;
alter table public.orders enable row level security;
alter table public.order_items enable row level security;
alter table public.audit_logs enable row level security;
alter table public."Promo Codes" enable row level security;

do $$
begin
  if exists (select from public.products) then
    return;
  end if;
  perform setseed(0.42);

  insert into public.products (sku, name, price, tags, attributes)
  select format('SKU-%s', lpad(i::text, 4, '0')),
         (array['Mug', 'Shirt', 'Sticker', 'Poster', 'Hoodie'])[1 + i % 5] || ' #' || i,
         round((5 + random() * 95)::numeric, 2),
         array[(array['new', 'sale', 'limited'])[1 + i % 3]],
         jsonb_build_object('color', (array['red', 'blue', 'black'])[1 + i % 3], 'weight_g', 100 + i)
  from generate_series(1, 50) i;

  insert into public.orders (customer_email, status, created_at)
  select format('customer%s@example.com', 1 + (i * 7) % 120),
         (array['pending', 'paid', 'paid', 'shipped', 'cancelled'])[1 + i % 5],
         now() - make_interval(hours => i * 3)
  from generate_series(1, 500) i;

  insert into public.order_items (order_id, product_id, quantity, unit_price)
  select o.id, p.id, 1 + (o.id + k) % 4, p.price
  from public.orders o
  cross join generate_series(1, 3) k
  join public.products p on p.id = 1 + (o.id * 13 + k * 7) % 50;

  update public.orders o
  set total = s.total
  from (select order_id, sum(quantity * unit_price) as total from public.order_items group by order_id) s
  where s.order_id = o.id;

  insert into public.audit_logs (actor, action, entity, entity_id, details, created_at)
  select 'system', 'order.' || o.status, 'orders', o.id, jsonb_build_object('total', o.total), o.created_at
  from public.orders o;

  insert into public."Promo Codes" ("Code", "percent off", "order", valid_until)
  values ('WELCOME10', 10, null, current_date + 30),
         ('Black Friday', 25, 1, current_date + 7),
         ('naïve-ünïcode', 5, null, null);
end
$$;

create materialized view if not exists public.order_daily_stats as
  select date_trunc('day', o.created_at)::date as day,
         count(*) as orders,
         count(*) filter (where o.status = 'cancelled') as cancelled,
         sum(o.total) as revenue
  from public.orders o
  group by 1;
create unique index if not exists order_daily_stats_day_idx on public.order_daily_stats (day);

create materialized view if not exists public.product_performance as
  select p.id as product_id, p.sku, p.name,
         coalesce(sum(i.quantity), 0) as units_sold,
         coalesce(sum(i.quantity * i.unit_price), 0) as revenue
  from public.products p
  left join public.order_items i on i.product_id = p.id
  group by p.id, p.sku, p.name;
create unique index if not exists product_performance_product_id_idx on public.product_performance (product_id);

refresh materialized view concurrently public.order_daily_stats;
refresh materialized view concurrently public.product_performance;

-- ---------------------------------------------------------------------------------------------
-- The app's users, as a Supabase app has them: 40 users in auth.users and auth.identities,
-- written the way GoTrue writes an email signup that was confirmed (bcrypt hash of cost 10, so
-- `crypt(<password>, encrypted_password)` checks it; empty strings, not nulls, in the token
-- columns, which GoTrue reads as strings). User n (1..40) is user<nn>@example.com with the
-- password lifeboat-demo-<n> and the id md5('lifeboat-demo-user-<n>')::uuid.
-- ---------------------------------------------------------------------------------------------

create table if not exists public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  username text unique,
  full_name text,
  avatar_url text,
  updated_at timestamptz not null default now()
);
alter table public.profiles enable row level security;

drop policy if exists "Profiles are viewable by everyone" on public.profiles;
create policy "Profiles are viewable by everyone" on public.profiles
  for select using (true);
drop policy if exists "Users insert their own profile" on public.profiles;
create policy "Users insert their own profile" on public.profiles
  for insert to authenticated with check ((select auth.uid()) = id);
drop policy if exists "Users update their own profile" on public.profiles;
create policy "Users update their own profile" on public.profiles
  for update to authenticated using ((select auth.uid()) = id);

-- Each new user gets a profile, filled from the signup's metadata (Supabase's own example).
create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, username, full_name, avatar_url)
  values (new.id, new.raw_user_meta_data ->> 'username', new.raw_user_meta_data ->> 'full_name',
          new.raw_user_meta_data ->> 'avatar_url');
  return new;
end
$$;
-- Only the trigger calls it: a SECURITY DEFINER function in public would otherwise be callable
-- through the Data API (Lifeboat's security_audit() reports exactly that).
revoke execute on function public.handle_new_user() from public, anon, authenticated;
drop trigger if exists on_auth_user_created on auth.users;
create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_user();

-- Notes that belong to a user: the common "rows owned by auth.uid()" pattern.
create table if not exists public.notes (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  body text not null,
  created_at timestamptz not null default now()
);
create index if not exists notes_user_id_idx on public.notes (user_id);
alter table public.notes enable row level security;
drop policy if exists "Users read their own notes" on public.notes;
create policy "Users read their own notes" on public.notes
  for select to authenticated using ((select auth.uid()) = user_id);
drop policy if exists "Users write their own notes" on public.notes;
create policy "Users write their own notes" on public.notes
  for all to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);

do $$
declare
  uid uuid;
  mail text;
  stamp timestamptz;
begin
  if exists (select from auth.users u where u.email = 'user01@example.com') then
    return;
  end if;
  for i in 1..40 loop
    uid := md5('lifeboat-demo-user-' || i)::uuid;
    mail := format('user%s@example.com', lpad(i::text, 2, '0'));
    stamp := timestamptz '2026-10-01 09:00:00+00' + make_interval(days => i);
    insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                            confirmation_token, recovery_token, email_change_token_new, email_change,
                            last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
    values ('00000000-0000-0000-0000-000000000000', uid, 'authenticated', 'authenticated', mail,
            extensions.crypt('lifeboat-demo-' || i, extensions.gen_salt('bf', 10)), stamp,
            '', '', '', '', stamp + interval '1 hour',
            '{"provider": "email", "providers": ["email"]}',
            jsonb_build_object('sub', uid::text, 'email', mail, 'email_verified', true, 'phone_verified', false,
                               'username', 'user' || lpad(i::text, 2, '0'), 'full_name', 'Demo User ' || i,
                               'avatar_url', format('avatars/%s/avatar.png', uid)),
            stamp, stamp);
    insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
    values (uid::text, uid,
            jsonb_build_object('sub', uid::text, 'email', mail, 'email_verified', true, 'phone_verified', false),
            'email', stamp + interval '1 hour', stamp, stamp);
    insert into public.notes (user_id, body, created_at)
    select uid, format('note %s of %s', k, mail), stamp + make_interval(mins => k)
    from generate_series(1, 1 + i % 3) k;
  end loop;
end
$$;

-- Storage: who may do what with the files of the app's two buckets (the buckets themselves
-- and their files are created through the Storage API by scripts/stack/seed_files.ts).
-- avatars is public; uploads is private, and each user owns the folder named after their id.
drop policy if exists "Avatars are publicly readable" on storage.objects;
create policy "Avatars are publicly readable" on storage.objects
  for select using (bucket_id = 'avatars');
drop policy if exists "Users upload their own avatar" on storage.objects;
create policy "Users upload their own avatar" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);
drop policy if exists "Users manage their own uploads" on storage.objects;
create policy "Users manage their own uploads" on storage.objects
  for all to authenticated
  using (bucket_id = 'uploads' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'uploads' and (storage.foldername(name))[1] = (select auth.uid())::text);
