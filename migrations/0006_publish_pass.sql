-- What the publish pass needs on top of 0004: a write-ahead mark for sends whose outcome could
-- be lost, a count of expired Instagram containers, more of what a claim returns, and one
-- function that writes a batch of results (targets, attempt log, job releases) atomically, only
-- under a lease the pass still holds. Cancelling never cancels an Instagram container that may
-- already have been published.

-- Set just before a Facebook post is sent, cleared when its outcome is known. A pass that finds
-- it still set on a pending target knows an earlier pass sent the post and never heard back:
-- the post may be live, so the target goes to review instead of being sent again.
alter table public.publish_job_targets add column send_started_at timestamptz;
-- Instagram containers expire after 24 h; one replacement is created, a second expiry fails.
alter table public.publish_job_targets add column expired_containers integer not null default 0
  check (expired_containers between 0 and 10);

drop function public.claim_due_publish_jobs(integer, integer, text);

-- As in 0004, plus the workspace's plan, the connection's status reason (a connection flagged
-- only for an expiry days away still publishes), the Page the Instagram account is linked to (its
-- token is that Page's), and each target's destination, write-ahead mark and expired-container
-- count in target_states.
create function public.claim_due_publish_jobs(p_limit integer, p_lease_seconds integer, p_owner text)
returns table (
  job_id uuid,
  workspace_id uuid,
  workspace_plan text,
  targets text[],
  payload_json jsonb,
  scheduled_at timestamptz,
  attempts integer,
  lease_expires_at timestamptz,
  target_states jsonb,
  connection_id uuid,
  connection_status text,
  connection_status_reason text,
  user_token_sealed text,
  facebook_page_id text,
  page_token_sealed text,
  instagram_account_id text,
  instagram_page_id text,
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
  select c.id, c.workspace_id, w.plan, c.targets, c.payload_json, c.scheduled_at, c.attempts, c.lease_expires_at,
         coalesce((select jsonb_object_agg(t.target, jsonb_build_object(
                   'status', t.status, 'destination_id', t.destination_id, 'container_id', t.container_id,
                   'container_created_at', t.container_created_at, 'external_id', t.external_id,
                   'attempts', t.attempts, 'send_started_at', t.send_started_at,
                   'expired_containers', t.expired_containers))
            from public.publish_job_targets t where t.job_id = c.id), '{}'),
         mc.id, mc.status, mc.status_reason, mc.user_token_sealed,
         d.facebook_page_id, fp.page_token_sealed,
         d.instagram_account_id, ia.page_id, ip.page_token_sealed
    from claimed c
    join public.workspaces w on w.id = c.workspace_id
    left join public.meta_connections mc on mc.workspace_id = c.workspace_id
    left join public.meta_defaults d on d.workspace_id = c.workspace_id and d.connection_id = mc.id
    left join public.meta_pages fp on fp.connection_id = mc.id and fp.page_id = d.facebook_page_id
    left join public.meta_instagram_accounts ia on ia.connection_id = mc.id and ia.ig_user_id = d.instagram_account_id
    left join public.meta_pages ip on ip.connection_id = mc.id and ip.page_id = ia.page_id;
end;
$$;

-- 0004's single-target update, now also for the two new columns.
create or replace function public.update_publish_target(p_job_id uuid, p_target text, p_owner text, p_changes jsonb)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  update public.publish_job_targets t
     set (status, destination_id, container_id, container_created_at, external_id, permalink,
          attempts, last_error_reason, last_error_message, published_at, send_started_at, expired_containers)
       = (select r.status, r.destination_id, r.container_id, r.container_created_at, r.external_id,
                 r.permalink, r.attempts, r.last_error_reason, r.last_error_message, r.published_at,
                 r.send_started_at, r.expired_containers
            from jsonb_populate_record(t, p_changes) r)
    from public.publish_jobs j
   where t.job_id = p_job_id and t.target = p_target
     and j.id = t.job_id and j.status = 'running' and j.lease_owner = p_owner
     and j.lease_expires_at > now();
  return found;
end;
$$;

-- Writes a batch of a pass's results in one transaction, for the jobs p_owner still holds
-- (running, leased to p_owner, lease not expired; another pass that took a job over changes the
-- owner, so a late pass writes nothing for it). Touching the rows makes a concurrent claim
-- re-check them. Returns the ids of those jobs as a JSON array.
--   p_targets:  [{job_id, target, <target columns to set>...}], at most one per job and target
--   p_attempts: [{job_id, target, attempt_number, step, ...}] rows for the attempt log
--   p_releases: [{job_id, status, next_attempt_at, last_error}] ends the lease
create or replace function public.apply_publish_results(p_owner text, p_targets jsonb, p_attempts jsonb, p_releases jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  held uuid[];
begin
  if p_owner is null or length(p_owner) not between 8 and 100 then
    raise exception 'p_owner must name the pass' using errcode = '22023';
  end if;
  p_targets := coalesce(p_targets, '[]');
  p_attempts := coalesce(p_attempts, '[]');
  p_releases := coalesce(p_releases, '[]');
  if jsonb_typeof(p_targets) <> 'array' or jsonb_typeof(p_attempts) <> 'array' or jsonb_typeof(p_releases) <> 'array' then
    raise exception 'p_targets, p_attempts and p_releases must be JSON arrays' using errcode = '22023';
  end if;

  -- Touching the rows (a new row version) makes a concurrent claim re-check them.
  with mine as (
    update public.publish_jobs j
       set updated_at = now()
     where j.status = 'running' and j.lease_owner = p_owner and j.lease_expires_at > now()
       and j.id in (select (x ->> 'job_id')::uuid from jsonb_array_elements(p_targets) x
                    union select (x ->> 'job_id')::uuid from jsonb_array_elements(p_attempts) x
                    union select (x ->> 'job_id')::uuid from jsonb_array_elements(p_releases) x)
    returning j.id
  )
  select coalesce(array_agg(id), '{}') into held from mine;

  update public.publish_job_targets t
     set (status, destination_id, container_id, container_created_at, external_id, permalink,
          attempts, last_error_reason, last_error_message, published_at, send_started_at, expired_containers)
       = (select r.status, r.destination_id, r.container_id, r.container_created_at, r.external_id,
                 r.permalink, r.attempts, r.last_error_reason, r.last_error_message, r.published_at,
                 r.send_started_at, r.expired_containers
            from jsonb_populate_record(t, c.x - 'job_id' - 'target') r)
    from jsonb_array_elements(p_targets) c(x)
   where t.job_id = (c.x ->> 'job_id')::uuid and t.target = c.x ->> 'target' and t.job_id = any(held);

  insert into public.publish_attempts (job_id, target, attempt_number, step, started_at, finished_at, outcome,
                                       graph_http_status, graph_error_code, graph_error_subcode, fbtrace_id,
                                       error_reason, error_message, container_id, external_id, permalink)
  select a.job_id, a.target, a.attempt_number, a.step, a.started_at, a.finished_at, a.outcome,
         a.graph_http_status, a.graph_error_code, a.graph_error_subcode, a.fbtrace_id,
         a.error_reason, a.error_message, a.container_id, a.external_id, a.permalink
    from jsonb_populate_recordset(null::public.publish_attempts, p_attempts) a
   where a.job_id = any(held);

  update public.publish_jobs j
     set status = r.status, next_attempt_at = r.next_attempt_at, last_error = r.last_error,
         lease_owner = null, lease_expires_at = null
    from jsonb_to_recordset(p_releases) r(job_id uuid, status text, next_attempt_at timestamptz, last_error text)
   where j.id = r.job_id and j.id = any(held);

  return to_jsonb(held);
end;
$$;

-- As in 0004, except that an Instagram container that may already have been published goes to
-- review instead of being cancelled.
create or replace function public.publish_jobs_cancel_targets()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.publish_job_targets
     set status = 'cancelled'
   where job_id = new.id and status in ('pending', 'failed');
  -- A container may have been published already (an unanswered media_publish): a person checks.
  update public.publish_job_targets
     set status = 'needs_review', last_error_reason = 'cancelled_in_flight',
         last_error_message = 'The job was cancelled after its Instagram media container was created; check the account before retrying'
   where job_id = new.id and status = 'container_created';
  return null;
end;
$$;

revoke all on function public.claim_due_publish_jobs(integer, integer, text) from public, anon, authenticated;
grant execute on function public.claim_due_publish_jobs(integer, integer, text) to service_role;
revoke all on function public.apply_publish_results(text, jsonb, jsonb, jsonb) from public, anon, authenticated;
grant execute on function public.apply_publish_results(text, jsonb, jsonb, jsonb) to service_role;
