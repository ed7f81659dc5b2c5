-- Local stand-in, per database, for what a Supabase project's database already has: the `auth`
-- helpers RLS policies call, and Supabase's default grants on `public`. Idempotent.
-- Never apply this to a Supabase project. (The roles are cluster-wide: bootstrap-roles.sql.)

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

-- Supabase Auth's users table (only the columns our schema refers to).
create table if not exists auth.users (
  id uuid primary key,
  email text,
  created_at timestamptz not null default now()
);

-- Supabase's helpers: the claims PostgREST puts in `request.jwt.claims` for each request.
create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;
create or replace function auth.uid() returns uuid language sql stable as $$
  select nullif(auth.jwt() ->> 'sub', '')::uuid
$$;
create or replace function auth.role() returns text language sql stable as $$
  select auth.jwt() ->> 'role'
$$;

-- Supabase's default privileges: everything in `public` is granted to the API roles and
-- row level security is what protects it. Reproduced so local tests see what Supabase exposes.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant execute on functions to anon, authenticated, service_role;
