-- The health probe behind GET /api/health: one round trip Worker -> PostgREST -> PostgreSQL.
-- Callable by the service role only; Supabase grants new functions to anon and authenticated
-- by default, so those grants are removed explicitly.
create or replace function public.meta_publisher_health()
returns json
language sql
stable
as $$
  select json_build_object('database', 'ok', 'checked_at', now());
$$;

revoke all on function public.meta_publisher_health() from public, anon, authenticated;
grant execute on function public.meta_publisher_health() to service_role;
