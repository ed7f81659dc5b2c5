-- Workspaces and membership: the integration point with the host app.
--
-- Created only if absent. A host app that already has `public.workspaces` and
-- `public.workspace_members` keeps its tables (and their grants and policies); they must have
-- the columns checked at the end of this file. See README "Host app integration".

do $$
declare
  created_workspaces boolean := to_regclass('public.workspaces') is null;
  created_members boolean := to_regclass('public.workspace_members') is null;
begin
  if created_workspaces then
    create table public.workspaces (
      id uuid primary key default gen_random_uuid(),
      name text not null default '' check (length(name) <= 200),
      plan text not null default 'free'
        check (plan in ('free', 'starter', 'growth', 'pro', 'enterprise')),
      created_at timestamptz not null default now()
    );
    alter table public.workspaces enable row level security;
    revoke all on public.workspaces from anon, authenticated, service_role;
    grant select on public.workspaces to authenticated, service_role;
  end if;

  if created_members then
    create table public.workspace_members (
      workspace_id uuid not null references public.workspaces (id) on delete cascade,
      -- The Supabase Auth user id (the JWT `sub`).
      user_id uuid not null,
      role text not null default 'member' check (role in ('owner', 'admin', 'member')),
      created_at timestamptz not null default now(),
      primary key (workspace_id, user_id)
    );
    create index workspace_members_user on public.workspace_members (user_id);
    alter table public.workspace_members enable row level security;
    revoke all on public.workspace_members from anon, authenticated, service_role;
    grant select on public.workspace_members to authenticated, service_role;
    -- A user sees their own memberships (which is what the other tables' policies look up).
    create policy workspace_members_self_read on public.workspace_members for select to authenticated
      using (user_id = auth.uid());
  end if;

  if created_workspaces then
    -- Members see their own workspaces.
    create policy workspaces_members_read on public.workspaces for select to authenticated
      using (exists (select 1 from public.workspace_members m
                     where m.workspace_id = workspaces.id and m.user_id = auth.uid()));
  end if;
end
$$;

-- Whichever tables are in place, they must offer what this service reads.
do $$
declare
  missing text;
begin
  select string_agg(format('%s.%s (%s)', t, c, ty), ', ') into missing
  from (values ('workspaces', 'id', 'uuid'), ('workspaces', 'plan', 'text'),
               ('workspace_members', 'workspace_id', 'uuid'), ('workspace_members', 'user_id', 'uuid'),
               ('workspace_members', 'role', 'text')) as wanted (t, c, ty)
  where not exists (
    select 1 from information_schema.columns col
    where col.table_schema = 'public' and col.table_name = wanted.t
      and col.column_name = wanted.c and col.data_type = wanted.ty);
  if missing is not null then
    raise exception 'the host app''s workspace tables lack columns this service needs: %', missing
      using errcode = '42703', hint = 'See README "Host app integration".';
  end if;
end
$$;
