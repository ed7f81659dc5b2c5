-- Publish jobs, their per-target results, the append-only attempt log, and claiming.
--
-- A job is immutable once queued: its payload_json (versioned content) is the source of truth
-- at execution time. Status moves only along the transitions below. Errors raised here carry
-- their own SQLSTATEs so the store can tell them apart:
--   MPJ01 an immutable field was changed      MPJ02 a status transition is not allowed
--   MPJ03 the attempt log is append-only

create table public.publish_jobs (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  targets text[] not null check ((
    array_ndims(targets) = 1 and array_lower(targets, 1) = 1
    and cardinality(targets) between 1 and 2
    and targets <@ array['facebook', 'instagram']
    and (cardinality(targets) = 1 or targets[1] <> targets[2])) is true),
  -- `is true`: a missing "version" makes jsonb_typeof() null, which a CHECK would let through.
  payload_json jsonb not null check ((
    jsonb_typeof(payload_json) = 'object' and jsonb_typeof(payload_json -> 'version') = 'number'
    and pg_column_size(payload_json) <= 65536) is true),
  scheduled_at timestamptz not null,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'published', 'failed', 'needs_review', 'cancelled')),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz,
  lease_owner text check (length(lease_owner) <= 100),
  lease_expires_at timestamptz,
  last_error text check (length(last_error) <= 1000),
  idempotency_key text check (length(idempotency_key) between 1 and 200),
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, idempotency_key),
  check ((status = 'running') = (lease_expires_at is not null))
);
create index publish_jobs_due on public.publish_jobs ((coalesce(next_attempt_at, scheduled_at)))
  where status = 'queued';
create index publish_jobs_leases on public.publish_jobs (lease_expires_at) where status = 'running';
create index publish_jobs_workspace on public.publish_jobs (workspace_id, created_at desc);

-- One row per job and target: where that target stands. A published target never changes its
-- external id again and never leaves `published`, so nothing can post it twice.
create table public.publish_job_targets (
  job_id uuid not null references public.publish_jobs (id) on delete cascade,
  target text not null check (target in ('facebook', 'instagram')),
  status text not null default 'pending'
    check (status in ('pending', 'container_created', 'published', 'failed', 'needs_review', 'cancelled')),
  -- The Page or Instagram account it went to, resolved at execution time.
  destination_id text check (destination_id ~ '^[0-9]{1,32}$'),
  container_id text check (container_id ~ '^[0-9]{1,32}$'),
  container_created_at timestamptz,
  external_id text check (length(external_id) <= 100),
  permalink text check (length(permalink) <= 2000),
  attempts integer not null default 0 check (attempts >= 0),
  last_error_reason text check (length(last_error_reason) <= 100),
  last_error_message text check (length(last_error_message) <= 1000),
  published_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (job_id, target),
  check ((status = 'published') = (external_id is not null and published_at is not null)),
  check (status <> 'container_created' or container_id is not null)
);

-- Every Graph step of every attempt. Append-only; it goes only with its job.
create table public.publish_attempts (
  id bigint generated always as identity primary key,
  job_id uuid not null references public.publish_jobs (id) on delete cascade,
  target text not null check (target in ('facebook', 'instagram')),
  attempt_number integer not null check (attempt_number >= 1),
  step text not null check (step in ('feed', 'photos', 'media', 'media_status', 'publishing_limit',
                                     'media_publish', 'permalink', 'validate', 'resolve')),
  started_at timestamptz not null,
  finished_at timestamptz not null,
  outcome text not null check (outcome in ('published', 'container_created', 'in_progress',
                                           'retry_scheduled', 'failed', 'needs_review', 'ok')),
  graph_http_status integer check (graph_http_status between 100 and 599),
  graph_error_code integer,
  graph_error_subcode integer,
  fbtrace_id text check (length(fbtrace_id) <= 100),
  error_reason text check (length(error_reason) <= 100),
  error_message text check (length(error_message) <= 1000),
  container_id text check (container_id ~ '^[0-9]{1,32}$'),
  external_id text check (length(external_id) <= 100),
  permalink text check (length(permalink) <= 2000),
  check (finished_at >= started_at)
);
create index publish_attempts_job on public.publish_attempts (job_id, id);

-- One row per target as soon as a job exists, however it was inserted (the Worker or the host
-- app writing to the table directly).
create or replace function public.publish_jobs_create_targets()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into public.publish_job_targets (job_id, target)
  select new.id, t from unnest(new.targets) t;
  return null;
end;
$$;

create trigger publish_jobs_create_targets after insert on public.publish_jobs
  for each row execute function public.publish_jobs_create_targets();

-- Jobs: immutable content, allowed transitions only, new jobs start queued.
create or replace function public.publish_jobs_guard()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  changed text;
begin
  if tg_op = 'INSERT' then
    if new.status <> 'queued' then
      raise exception 'a new publish job must be queued, not %', new.status
        using errcode = 'MPJ02';
    end if;
    new.updated_at := now();
    return new;
  end if;

  changed := concat_ws(', ',
    case when new.id is distinct from old.id then 'id' end,
    case when new.workspace_id is distinct from old.workspace_id then 'workspace_id' end,
    case when new.targets is distinct from old.targets then 'targets' end,
    case when new.payload_json is distinct from old.payload_json then 'payload_json' end,
    case when new.scheduled_at is distinct from old.scheduled_at then 'scheduled_at' end,
    case when new.created_at is distinct from old.created_at then 'created_at' end,
    case when new.idempotency_key is distinct from old.idempotency_key then 'idempotency_key' end,
    case when new.created_by is distinct from old.created_by then 'created_by' end);
  if changed <> '' then
    raise exception 'publish job % is immutable once queued: % cannot change', old.id, changed
      using errcode = 'MPJ01', hint = 'Cancel the job and queue a new one.';
  end if;

  if new.status is distinct from old.status and not (old.status, new.status) in (
       ('queued', 'running'), ('queued', 'cancelled'),
       ('running', 'queued'), ('running', 'published'), ('running', 'failed'), ('running', 'needs_review'),
       ('failed', 'queued'),
       ('needs_review', 'queued'), ('needs_review', 'published'), ('needs_review', 'failed')) then
    raise exception 'publish job % cannot move from % to %', old.id, old.status, new.status
      using errcode = 'MPJ02';
  end if;
  new.updated_at := now();
  return new;
end;
$$;

create trigger publish_jobs_guard before insert or update on public.publish_jobs
  for each row execute function public.publish_jobs_guard();

-- Targets: allowed transitions only; a published target is final.
create or replace function public.publish_job_targets_guard()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.job_id is distinct from old.job_id or new.target is distinct from old.target then
    raise exception 'a publish target cannot move to another job or target' using errcode = 'MPJ01';
  end if;
  if old.status = 'published' and (new.status <> 'published' or new.external_id is distinct from old.external_id
                                   or new.published_at is distinct from old.published_at) then
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

create trigger publish_job_targets_guard before update on public.publish_job_targets
  for each row execute function public.publish_job_targets_guard();

-- A cancelled job cancels its targets that have not gone out (a published one stays published).
create or replace function public.publish_jobs_cancel_targets()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.publish_job_targets
     set status = 'cancelled'
   where job_id = new.id and status in ('pending', 'container_created', 'failed');
  return null;
end;
$$;

create trigger publish_jobs_cancel_targets after update of status on public.publish_jobs
  for each row when (new.status = 'cancelled' and old.status <> 'cancelled')
  execute function public.publish_jobs_cancel_targets();

-- The attempt log refuses updates, truncation, and deletes other than those that follow the
-- deletion of its job (or its workspace): when the cascade reaches a row, its job is gone.
create or replace function public.publish_attempts_append_only()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' and not exists (select 1 from public.publish_jobs j where j.id = old.job_id) then
    return old;
  end if;
  raise exception 'the publish attempt log is append-only (% refused)', lower(tg_op)
    using errcode = 'MPJ03';
end;
$$;

create trigger publish_attempts_append_only before update or delete on public.publish_attempts
  for each row execute function public.publish_attempts_append_only();
create trigger publish_attempts_no_truncate before truncate on public.publish_attempts
  for each statement execute function public.publish_attempts_append_only();

-- Claims up to p_limit due jobs for one pass: queued jobs whose time (or retry time) has come,
-- and running jobs whose lease expired (their pass died). Each is leased to p_owner for
-- p_lease_seconds. Concurrent passes never get the same job (FOR UPDATE SKIP LOCKED).
-- Returns, per job, what the pass needs: the content, the target states, and the workspace's
-- current connection and default destinations with their sealed tokens.
create or replace function public.claim_due_publish_jobs(p_limit integer, p_lease_seconds integer, p_owner text)
returns table (
  job_id uuid,
  workspace_id uuid,
  targets text[],
  payload_json jsonb,
  scheduled_at timestamptz,
  attempts integer,
  lease_expires_at timestamptz,
  target_states jsonb,
  connection_id uuid,
  connection_status text,
  user_token_sealed text,
  facebook_page_id text,
  page_token_sealed text,
  instagram_account_id text,
  instagram_page_token_sealed text
)
language plpgsql
volatile
set search_path = ''
as $$
begin
  if p_limit is null or p_limit < 1 or p_limit > 100 then
    raise exception 'p_limit must be between 1 and 100' using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds < 10 or p_lease_seconds > 3600 then
    raise exception 'p_lease_seconds must be between 10 and 3600' using errcode = '22023';
  end if;
  if p_owner is null or length(p_owner) not between 8 and 100 then
    raise exception 'p_owner must name the pass (8 to 100 characters, unique per pass)' using errcode = '22023';
  end if;
  return query
  with due as (
    select j.id
      from public.publish_jobs j
     where (j.status = 'queued' and coalesce(j.next_attempt_at, j.scheduled_at) <= now())
        or (j.status = 'running' and j.lease_expires_at <= now())
     order by coalesce(j.next_attempt_at, j.scheduled_at), j.id
     limit p_limit
       for update skip locked
  ), claimed as (
    update public.publish_jobs j
       set status = 'running',
           attempts = j.attempts + 1,
           lease_owner = p_owner,
           lease_expires_at = now() + make_interval(secs => p_lease_seconds)
      from due
     where j.id = due.id
    returning j.*
  )
  select c.id, c.workspace_id, c.targets, c.payload_json, c.scheduled_at, c.attempts, c.lease_expires_at,
         coalesce((select jsonb_object_agg(t.target, jsonb_build_object(
                   'status', t.status, 'container_id', t.container_id,
                   'container_created_at', t.container_created_at, 'external_id', t.external_id,
                   'attempts', t.attempts))
            from public.publish_job_targets t where t.job_id = c.id), '{}'),
         mc.id, mc.status, mc.user_token_sealed,
         d.facebook_page_id, fp.page_token_sealed,
         d.instagram_account_id, ip.page_token_sealed
    from claimed c
    left join public.meta_connections mc on mc.workspace_id = c.workspace_id
    left join public.meta_defaults d on d.workspace_id = c.workspace_id and d.connection_id = mc.id
    left join public.meta_pages fp on fp.connection_id = mc.id and fp.page_id = d.facebook_page_id
    left join public.meta_instagram_accounts ia on ia.connection_id = mc.id and ia.ig_user_id = d.instagram_account_id
    left join public.meta_pages ip on ip.connection_id = mc.id and ip.page_id = ia.page_id;
end;
$$;

-- Updates one target of a job, only while p_owner holds the job's lease: a pass whose lease
-- expired (and whose job another pass took) cannot overwrite what the new pass does.
-- p_changes holds the columns to set. Returns whether the update happened.
create or replace function public.update_publish_target(p_job_id uuid, p_target text, p_owner text, p_changes jsonb)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  update public.publish_job_targets t
     set (status, destination_id, container_id, container_created_at, external_id, permalink,
          attempts, last_error_reason, last_error_message, published_at)
       = (select r.status, r.destination_id, r.container_id, r.container_created_at, r.external_id,
                 r.permalink, r.attempts, r.last_error_reason, r.last_error_message, r.published_at
            from jsonb_populate_record(t, p_changes) r)
    from public.publish_jobs j
   where t.job_id = p_job_id and t.target = p_target
     and j.id = t.job_id and j.status = 'running' and j.lease_owner = p_owner
     and j.lease_expires_at > now();
  return found;
end;
$$;

-- RLS: members may read their workspace's jobs, results and attempts (the host app shows
-- them); only the service role writes. Nothing here holds a token.
alter table public.publish_jobs enable row level security;
alter table public.publish_job_targets enable row level security;
alter table public.publish_attempts enable row level security;

create policy publish_jobs_members_read on public.publish_jobs for select to authenticated
  using (exists (select 1 from public.workspace_members m
                 where m.workspace_id = publish_jobs.workspace_id and m.user_id = auth.uid()));
create policy publish_job_targets_members_read on public.publish_job_targets for select to authenticated
  using (exists (select 1 from public.publish_jobs j
                 join public.workspace_members m on m.workspace_id = j.workspace_id
                 where j.id = publish_job_targets.job_id and m.user_id = auth.uid()));
create policy publish_attempts_members_read on public.publish_attempts for select to authenticated
  using (exists (select 1 from public.publish_jobs j
                 join public.workspace_members m on m.workspace_id = j.workspace_id
                 where j.id = publish_attempts.job_id and m.user_id = auth.uid()));

revoke all on public.publish_jobs, public.publish_job_targets, public.publish_attempts
  from public, anon, authenticated, service_role;
grant select on public.publish_jobs, public.publish_job_targets, public.publish_attempts to authenticated;
-- No DELETE: a job (and with it its attempt log) goes only with its workspace.
grant select, insert, update on public.publish_jobs to service_role;
grant select, insert, update on public.publish_job_targets to service_role;
grant select, insert on public.publish_attempts to service_role;
-- Supabase's default privileges grant the identity sequence too; inserts do not need it.
revoke all on sequence public.publish_attempts_id_seq from public, anon, authenticated, service_role;

revoke all on function public.claim_due_publish_jobs(integer, integer, text) from public, anon, authenticated;
grant execute on function public.claim_due_publish_jobs(integer, integer, text) to service_role;
revoke all on function public.update_publish_target(uuid, text, text, jsonb) from public, anon, authenticated;
grant execute on function public.update_publish_target(uuid, text, text, jsonb) to service_role;
-- Trigger functions are not API: keep them off the RPC surface.
revoke all on function public.publish_jobs_create_targets(), public.publish_jobs_guard(),
  public.publish_job_targets_guard(), public.publish_attempts_append_only(),
  public.publish_jobs_cancel_targets() from public, anon, authenticated;
