-- Meta's data deletion and deauthorize callbacks: what a request deletes, in one transaction,
-- and the record each request leaves (a confirmation code's hash and a keyed hash of the user,
-- never the user id in clear).
--
-- The rule: nothing that identifies the Facebook user survives a data deletion request.
--   * reached: every workspace the user ever published through, also after they disconnected
--     (meta_destination_owners remembers whose Pages and Instagram accounts were used where);
--   * deleted: their connections in every workspace (sealed tokens with them), the Pages and
--     Instagram accounts discovered through them, defaults pointing at those, and the affected
--     workspaces' pending OAuth states;
--   * redacted in the publishing history of those workspaces, for targets that went to the
--     user's Pages and Instagram accounts: destination, container and post ids, permalinks,
--     fbtrace ids and Graph's error texts (a published target keeps `published`, with
--     external_id 'redacted'; a container waiting to be published fails as `meta_data_deleted`);
--   * kept: the jobs themselves (the workspace's own content). Queued jobs stay queued, as after
--     a disconnect: they go out if the workspace reconnects before they are due, otherwise the
--     publish pass fails them as not connected. The affected jobs are locked first (in id
--     order) and jobs a pass holds lose their lease, so no pass can write Meta ids back.

create table public.meta_deletion_requests (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('data_deletion', 'deauthorize')),
  -- SHA-256 of the confirmation code shown to Meta and the person; the code itself is not kept.
  code_hash text unique check (code_hash ~ '^[0-9a-f]{64}$'),
  -- HMAC-SHA256 of the app-scoped user id (keyed with the app secret): links a user's requests
  -- to each other, cannot be turned back into the id.
  user_hash text not null check (user_hash ~ '^[0-9a-f]{64}$'),
  status text not null default 'received' check (status in ('received', 'completed')),
  connections_affected integer not null default 0 check (connections_affected >= 0),
  received_at timestamptz not null default now(),
  completed_at timestamptz,
  check ((status = 'completed') = (completed_at is not null)),
  check (kind = 'deauthorize' or code_hash is not null)
);
create index meta_deletion_requests_user on public.meta_deletion_requests (user_hash);

alter table public.meta_deletion_requests enable row level security;
revoke all on public.meta_deletion_requests from public, anon, authenticated, service_role;
-- Written only by the functions below; the status page reads it.
grant select on public.meta_deletion_requests to service_role;

-- Which Facebook user's Pages and Instagram accounts each workspace published through, kept
-- after a disconnect so a later deletion request still finds that history.
create table public.meta_destination_owners (
  fb_user_id text not null check (fb_user_id ~ '^[0-9]{1,32}$'),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  destination_id text not null check (destination_id ~ '^[0-9]{1,32}$'),
  primary key (fb_user_id, workspace_id, destination_id)
);
alter table public.meta_destination_owners enable row level security;
revoke all on public.meta_destination_owners from public, anon, authenticated, service_role;

insert into public.meta_destination_owners (fb_user_id, workspace_id, destination_id)
select c.fb_user_id, c.workspace_id, p.page_id from public.meta_pages p join public.meta_connections c on c.id = p.connection_id
union
select c.fb_user_id, c.workspace_id, a.ig_user_id from public.meta_instagram_accounts a join public.meta_connections c on c.id = a.connection_id
on conflict do nothing;

create or replace function public.meta_remember_destination_owner()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.meta_destination_owners (fb_user_id, workspace_id, destination_id)
  select c.fb_user_id, c.workspace_id,
         to_jsonb(new) ->> case when tg_table_name = 'meta_pages' then 'page_id' else 'ig_user_id' end
    from public.meta_connections c where c.id = new.connection_id
  on conflict do nothing;
  return null;
end;
$$;
revoke all on function public.meta_remember_destination_owner() from public, anon, authenticated;

create trigger meta_pages_remember_owner after insert on public.meta_pages
  for each row execute function public.meta_remember_destination_owner();
create trigger meta_instagram_accounts_remember_owner after insert on public.meta_instagram_accounts
  for each row execute function public.meta_remember_destination_owner();

-- 0004's guards, with one exception: inside a data deletion (the function below sets
-- meta_publisher.redacting for its transaction, and only its owner is let through), Meta ids may
-- be removed from history. A missing setting opens nothing.
create or replace function public.publish_attempts_append_only()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' and not exists (select 1 from public.publish_jobs j where j.id = old.job_id) then
    return old;
  end if;
  if tg_op = 'UPDATE' and coalesce(current_setting('meta_publisher.redacting', true), '') = 'on'
     and current_user = (select r.rolname from pg_catalog.pg_proc p join pg_catalog.pg_roles r on r.oid = p.proowner
                          where p.oid = 'public.delete_meta_user_data(text,text,text)'::pg_catalog.regprocedure)
     and (new.id, new.job_id, new.target, new.attempt_number, new.step, new.started_at, new.finished_at, new.outcome,
          new.graph_http_status, new.graph_error_code, new.graph_error_subcode, new.error_reason)
         is not distinct from
         (old.id, old.job_id, old.target, old.attempt_number, old.step, old.started_at, old.finished_at, old.outcome,
          old.graph_http_status, old.graph_error_code, old.graph_error_subcode, old.error_reason) then
    return new;
  end if;
  raise exception 'the publish attempt log is append-only (% refused)', lower(tg_op)
    using errcode = 'MPJ03';
end;
$$;

create or replace function public.publish_job_targets_guard()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  redacting boolean := coalesce(current_setting('meta_publisher.redacting', true), '') = 'on'
    and current_user = (select r.rolname from pg_catalog.pg_proc p join pg_catalog.pg_roles r on r.oid = p.proowner
                         where p.oid = 'public.delete_meta_user_data(text,text,text)'::pg_catalog.regprocedure);
begin
  if new.job_id is distinct from old.job_id or new.target is distinct from old.target then
    raise exception 'a publish target cannot move to another job or target' using errcode = 'MPJ01';
  end if;
  if old.status = 'published' and (new.status <> 'published' or new.published_at is distinct from old.published_at
                                   or (new.external_id is distinct from old.external_id
                                       and not (redacting and new.external_id = 'redacted'))) then
    raise exception 'the % target of job % is published; only its permalink may still be filled in',
      old.target, old.job_id using errcode = 'MPJ01';
  end if;
  if new.status is distinct from old.status and not (old.status, new.status) in (
       ('pending', 'container_created'), ('pending', 'published'), ('pending', 'failed'),
       ('pending', 'needs_review'), ('pending', 'cancelled'),
       ('container_created', 'published'), ('container_created', 'failed'),
       ('container_created', 'needs_review'), ('container_created', 'pending'),
       ('container_created', 'cancelled'),
       ('failed', 'pending'), ('failed', 'cancelled'),
       ('needs_review', 'pending'), ('needs_review', 'published'), ('needs_review', 'failed')) then
    raise exception 'the % target of job % cannot move from % to %', old.target, old.job_id, old.status, new.status
      using errcode = 'MPJ02';
  end if;
  new.updated_at := now();
  return new;
end;
$$;

-- Deletes everything of the app-scoped user p_fb_user_id (see the rule at the top) and records
-- the request as completed, all in one transaction. Idempotent: a later request for the same
-- user records itself and finds nothing left. Returns {connections, pages, instagram_accounts,
-- targets_redacted, completed_at}.
create or replace function public.delete_meta_user_data(p_fb_user_id text, p_user_hash text, p_code_hash text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  request_id uuid;
  connections uuid[];
  workspaces uuid[];
  destinations text[];
  page_count integer;
  account_count integer;
  redacted integer;
  done timestamptz;
begin
  if p_fb_user_id is null or p_fb_user_id !~ '^[0-9]{1,32}$' then
    raise exception 'p_fb_user_id must be an app-scoped user id' using errcode = '22023';
  end if;
  insert into public.meta_deletion_requests (kind, code_hash, user_hash)
  values ('data_deletion', p_code_hash, p_user_hash)
  returning id into request_id;

  select coalesce(array_agg(c.id), '{}') into connections
    from (select id from public.meta_connections where fb_user_id = p_fb_user_id order by id for update) c;
  select count(*) into page_count from public.meta_pages p where p.connection_id = any(connections);
  select count(*) into account_count from public.meta_instagram_accounts a where a.connection_id = any(connections);
  -- Everywhere the user ever published through: current connections and remembered ones.
  select coalesce(array_agg(distinct o.workspace_id), '{}'), coalesce(array_agg(distinct o.destination_id), '{}')
    into workspaces, destinations
    from public.meta_destination_owners o where o.fb_user_id = p_fb_user_id;
  select workspaces || coalesce(array_agg(distinct c.workspace_id), '{}') into workspaces
    from public.meta_connections c where c.id = any(connections);

  -- Claims of these workspaces' jobs finish before this goes on, or wait until it is done.
  perform 1 from public.publish_jobs
   where workspace_id = any(workspaces) and status in ('queued', 'running') order by id for update;
  -- A pass holding one of these jobs must not write Meta ids back afterwards.
  update public.publish_jobs
     set status = 'queued', lease_owner = null, lease_expires_at = null
   where workspace_id = any(workspaces) and status = 'running';

  perform set_config('meta_publisher.redacting', 'on', true);
  with targets as (
    update public.publish_job_targets t
       set status = case when t.status = 'container_created' then 'failed' else t.status end,
           last_error_reason = case when t.status = 'container_created' then 'meta_data_deleted' else t.last_error_reason end,
           destination_id = null, container_id = null, container_created_at = null, permalink = null,
           external_id = case when t.external_id is null then null else 'redacted' end,
           last_error_message = case when t.last_error_message is null then null
                                     else 'Removed after a Meta data deletion request' end
      from public.publish_jobs j
     where j.id = t.job_id and j.workspace_id = any(workspaces) and t.destination_id = any(destinations)
    returning t.job_id, t.target
  ), attempts as (
    update public.publish_attempts a
       set container_id = null, external_id = null, permalink = null, fbtrace_id = null,
           error_message = case when a.error_message is null then null else 'Removed after a Meta data deletion request' end
      from targets t
     where a.job_id = t.job_id and a.target = t.target
    returning 1
  )
  select count(*) into redacted from targets;
  perform set_config('meta_publisher.redacting', 'off', true);
  update public.publish_jobs
     set last_error = left(split_part(last_error, ':', 1), 100) || ': details removed after a Meta data deletion request'
   where workspace_id = any(workspaces) and last_error is not null;

  delete from public.meta_oauth_states where workspace_id = any(workspaces) and consumed_at is null;
  -- Pages, Instagram accounts and defaults follow by cascade, their tokens with them.
  delete from public.meta_connections where id = any(connections);
  delete from public.meta_destination_owners where fb_user_id = p_fb_user_id;

  update public.meta_deletion_requests
     set status = 'completed', completed_at = now(), connections_affected = cardinality(connections)
   where id = request_id
  returning completed_at into done;
  return jsonb_build_object('connections', cardinality(connections), 'pages', page_count,
                            'instagram_accounts', account_count, 'targets_redacted', redacted,
                            'completed_at', done);
end;
$$;

-- The user removed the app: their connections become `revoked` and every token of them is
-- erased at once (their Pages and ids stay until a data deletion request, as Meta asks
-- separately for that). Returns the number of connections revoked.
create or replace function public.deauthorize_meta_user(p_fb_user_id text, p_user_hash text)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  connection_id uuid;
  revoked integer := 0;
begin
  if p_fb_user_id is null or p_fb_user_id !~ '^[0-9]{1,32}$' then
    raise exception 'p_fb_user_id must be an app-scoped user id' using errcode = '22023';
  end if;
  for connection_id in select id from public.meta_connections where fb_user_id = p_fb_user_id for update loop
    perform public.revoke_meta_connection(connection_id, 'app_removed');
    revoked := revoked + 1;
  end loop;
  insert into public.meta_deletion_requests (kind, user_hash, status, completed_at, connections_affected)
  values ('deauthorize', p_user_hash, 'completed', now(), revoked);
  return revoked;
end;
$$;

revoke all on function public.delete_meta_user_data(text, text, text) from public, anon, authenticated;
grant execute on function public.delete_meta_user_data(text, text, text) to service_role;
revoke all on function public.deauthorize_meta_user(text, text) from public, anon, authenticated;
grant execute on function public.deauthorize_meta_user(text, text) to service_role;
