-- Operations: the daily token health check (which connections are due, claimed a batch at a
-- time so a cron firing every minute checks each connection once per UTC day; a check that could
-- not be done is noted as check_failed and tried again an hour later), and the operator's retry
-- of a job's failed or in-review targets.

alter table public.meta_connections add column health_checked_at timestamptz;
-- What the last check found wrong (null: nothing); the connection's status says what it means.
alter table public.meta_connections add column health_problem text check (length(health_problem) <= 500);

-- Up to p_limit active connections not checked yet today (UTC), or whose check failed over an
-- hour ago, claimed for checking now. A pass that dies after claiming loses only that check.
create function public.claim_token_health_checks(p_limit integer)
returns table (
  connection_id uuid,
  workspace_id uuid,
  user_token_sealed text,
  facebook_page_id text,
  instagram_account_id text,
  instagram_page_id text
)
language plpgsql
volatile
set search_path = ''
as $$
begin
  if p_limit is null or p_limit < 1 or p_limit > 100 then
    raise exception 'p_limit must be between 1 and 100' using errcode = '22023';
  end if;
  return query
  with due as (
    select c.id
      from public.meta_connections c
     where c.status = 'active' and c.user_token_sealed is not null
       and (c.health_checked_at is null
            or c.health_checked_at < date_trunc('day', now() at time zone 'utc') at time zone 'utc'
            -- A check that could not be done is tried again an hour later.
            or (c.health_problem = 'check_failed' and c.health_checked_at < now() - interval '1 hour'))
     order by c.health_checked_at nulls first, c.id
     limit p_limit
       for update skip locked
  ), claimed as (
    update public.meta_connections c
       set health_checked_at = now()
      from due
     where c.id = due.id
    returning c.id, c.workspace_id, c.user_token_sealed
  )
  select cl.id, cl.workspace_id, cl.user_token_sealed, d.facebook_page_id, d.instagram_account_id, ia.page_id
    from claimed cl
    left join public.meta_defaults d on d.connection_id = cl.id
    left join public.meta_instagram_accounts ia on ia.connection_id = cl.id and ia.ig_user_id = d.instagram_account_id;
end;
$$;

-- Records a check's finding: a problem flips an active connection to needs_reauth.
create or replace function public.record_token_health(p_connection_id uuid, p_problem text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  -- postrust hands a JSON null to a text parameter as ''.
  p_problem := nullif(p_problem, '');
  update public.meta_connections
     set health_problem = p_problem,
         status = case when p_problem is not null and status = 'active' then 'needs_reauth' else status end,
         status_reason = case when p_problem is not null and status = 'active' then p_problem else status_reason end,
         updated_at = case when p_problem is not null and status = 'active' then now() else updated_at end
   where id = p_connection_id;
  return found;
end;
$$;

-- A check that could not be done (Graph or the keys failed): noted, never a verdict on the
-- connection, and due again in an hour.
create or replace function public.defer_token_health(p_connection_id uuid)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  update public.meta_connections
     set health_problem = 'check_failed', health_checked_at = now()
   where id = p_connection_id and status = 'active';
  return found;
end;
$$;

-- The operator's retry: a failed or needs_review job goes back to the queue with its failed and
-- in-review targets pending again (attempts and write-ahead marks reset; a container is kept
-- only where it may have been published, so the pass reads it before anything else).
-- A published target is never touched, so it is never posted again. In-review targets may be
-- live already: they are retried only with p_confirm_review (SQLSTATE MPJ04 otherwise).
-- Returns the targets made pending.
create or replace function public.retry_publish_job(p_job_id uuid, p_confirm_review boolean)
returns text[]
language plpgsql
volatile
set search_path = ''
as $$
declare
  job_status text;
  retried text[];
begin
  select status into job_status from public.publish_jobs where id = p_job_id for update;
  if job_status is null then
    raise exception 'no publish job %', p_job_id using errcode = 'P0002';
  end if;
  if job_status not in ('failed', 'needs_review') then
    raise exception 'publish job % is %: only failed and needs_review jobs can be retried', p_job_id, job_status
      using errcode = 'MPJ02';
  end if;
  if not coalesce(p_confirm_review, false)
     and exists (select 1 from public.publish_job_targets where job_id = p_job_id and status = 'needs_review') then
    raise exception 'publish job % has targets in review that may already be live: confirm to retry them', p_job_id
      using errcode = 'MPJ04';
  end if;
  with reset as (
    update public.publish_job_targets t
       set status = 'pending', attempts = 0, send_started_at = null, expired_containers = 0,
           -- A container that may have been published is kept: the pass reads it before anything.
           container_id = case when t.last_error_reason = 'container_unverified' then t.container_id end,
           container_created_at = case when t.last_error_reason = 'container_unverified' then t.container_created_at end,
           last_error_reason = null, last_error_message = null
     where t.job_id = p_job_id and t.status in ('failed', 'needs_review')
    returning t.target
  )
  select coalesce(array_agg(target order by target), '{}') into retried from reset;
  update public.publish_job_targets
     set status = 'container_created'
   where job_id = p_job_id and status = 'pending' and container_id is not null;
  update public.publish_jobs
     set status = 'queued', next_attempt_at = null, last_error = null
   where id = p_job_id;
  return retried;
end;
$$;

revoke all on function public.claim_token_health_checks(integer) from public, anon, authenticated;
grant execute on function public.claim_token_health_checks(integer) to service_role;
revoke all on function public.record_token_health(uuid, text) from public, anon, authenticated;
grant execute on function public.record_token_health(uuid, text) to service_role;
revoke all on function public.defer_token_health(uuid) from public, anon, authenticated;
grant execute on function public.defer_token_health(uuid) to service_role;
revoke all on function public.retry_publish_job(uuid, boolean) from public, anon, authenticated;
grant execute on function public.retry_publish_job(uuid, boolean) to service_role;
