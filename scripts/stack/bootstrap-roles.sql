-- Local stand-in for the API roles a Supabase project already has (cluster-wide; the per-database
-- part is bootstrap-database.sql). Idempotent; run on every start. Never apply this to Supabase.
-- psql variable: authenticator_password.

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

alter role authenticator with login password :'authenticator_password';
grant anon, authenticated, service_role to authenticator;
