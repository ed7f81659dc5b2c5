-- How the Worker checks a signed-in user: it calls this function through PostgREST with the
-- user's own Supabase access token. PostgREST verifies the token (401 when it is invalid or
-- expired), and the function answers the caller's user id, role in the workspace and the
-- workspace's plan, or no row when the caller is not a member (or the workspace does not exist).
-- SECURITY DEFINER so it works whatever RLS a host app's own workspace tables carry; it only
-- ever reveals the caller's own membership (auth.uid()).
create or replace function public.meta_workspace_access(p_workspace_id uuid)
returns table (user_id uuid, role text, plan text)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
    select m.user_id, m.role::text, w.plan::text
      from public.workspace_members m
      join public.workspaces w on w.id = m.workspace_id
     where m.workspace_id = p_workspace_id
       and m.user_id = auth.uid();
end;
$$;

revoke all on function public.meta_workspace_access(uuid) from public, anon, service_role;
grant execute on function public.meta_workspace_access(uuid) to authenticated;
