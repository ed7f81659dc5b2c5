-- The health probe behind GET /api/health: one round trip Worker -> PostgREST -> PostgreSQL.
-- Callable by the service role only; Supabase grants new functions to anon and authenticated
-- by default, so those grants are removed explicitly.
--
-- plpgsql on purpose: PostgreSQL inlines simple SQL functions into the calling query, and a
-- plan cached by PostgREST's prepared statements under one role then skips the EXECUTE check
-- for the next role (seen locally: anon could call a service_role-only SQL function after the
-- service role had). plpgsql functions are never inlined, so the grant is always checked.
create or replace function public.meta_publisher_health()
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  return json_build_object('database', 'ok', 'checked_at', now());
end;
$$;

revoke all on function public.meta_publisher_health() from public, anon, authenticated;
grant execute on function public.meta_publisher_health() to service_role;
