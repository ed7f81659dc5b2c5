-- Safety rules found in review of the publish pass:
--   * apply_publish_results writes only under a lease that has not expired, and touches the
--     jobs it writes for, so a pass claiming them concurrently re-reads them instead of acting
--     on a stale snapshot;
--   * cancelling a job never cancels an Instagram container that may already have been
--     published: such a target goes to review instead.

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
