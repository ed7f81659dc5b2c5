-- Operator tools, tightened after review:
--   * the publish claim also returns the connection's status reason: a connection flagged only
--     because its token expires within days still publishes until then;
--   * the token health check also returns the Page an Instagram account publishes through, and
--     a check that could not be done is noted (`check_failed`, status unchanged) and tried again
--     an hour later, not the next day;
--   * a health check changes updated_at only when it changes the status;
--   * the operator's retry keeps an Instagram target's container when it may have gone live, so
--     the pass reads it first (PUBLISHED settles the target) instead of publishing again.

drop function public.claim_due_publish_jobs(integer, integer, text);

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


revoke all on function public.claim_due_publish_jobs(integer, integer, text) from public, anon, authenticated;
grant execute on function public.claim_due_publish_jobs(integer, integer, text) to service_role;

drop function public.claim_token_health_checks(integer);

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

revoke all on function public.claim_token_health_checks(integer) from public, anon, authenticated;
grant execute on function public.claim_token_health_checks(integer) to service_role;

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
-- connection, and due again in an hour (see claim_token_health_checks).
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

revoke all on function public.defer_token_health(uuid) from public, anon, authenticated;
grant execute on function public.defer_token_health(uuid) to service_role;

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
