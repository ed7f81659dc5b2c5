-- Meta connections: OAuth states, the connection per workspace with its sealed user token,
-- discovered Facebook Pages (sealed Page tokens) and Instagram accounts, and the defaults.
--
-- Tokens are sealed inside the Worker (AES-256-GCM, src/vault); columns holding them accept
-- only vault envelopes. None of these tables is readable by anon or authenticated: the Worker
-- (service_role) answers members' questions without ever returning a token.

-- A vault envelope: mpt1.<key id, 16 hex>.<nonce, 16 base64url>.<ciphertext + tag, base64url>.
-- A Meta access token (EAA...) or any other plaintext cannot match.
create or replace function public.meta_is_sealed_token(value text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
  select value ~ '^mpt1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$'
$$;

-- OAuth states: the browser carries the random state; only its SHA-256 is stored. Single use:
-- consume_meta_oauth_state() marks it consumed atomically.
create table public.meta_oauth_states (
  state_hash text primary key check (state_hash ~ '^[0-9a-f]{64}$'),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  user_id uuid not null,
  return_to text check (return_to is null or length(return_to) <= 2000),
  created_at timestamptz not null default now(),
  -- OAuth states live ten minutes.
  expires_at timestamptz not null default now() + interval '10 minutes',
  consumed_at timestamptz,
  check (expires_at > created_at and expires_at <= created_at + interval '1 hour')
);
create index meta_oauth_states_expiry on public.meta_oauth_states (expires_at);
create index meta_oauth_states_workspace on public.meta_oauth_states (workspace_id);

-- One connection per workspace (phase 1). `id` is chosen by the Worker before sealing, because
-- sealed tokens are bound to the row they belong to.
create table public.meta_connections (
  id uuid primary key,
  workspace_id uuid not null unique references public.workspaces (id) on delete cascade,
  -- The app-scoped Facebook user id.
  fb_user_id text not null check (fb_user_id ~ '^[0-9]{1,32}$'),
  fb_user_name text check (length(fb_user_name) <= 300),
  user_token_sealed text check (public.meta_is_sealed_token(user_token_sealed)),
  token_expires_at timestamptz,
  data_access_expires_at timestamptz,
  granted_permissions text[] not null default '{}',
  declined_permissions text[] not null default '{}',
  status text not null default 'active' check (status in ('active', 'needs_reauth', 'revoked')),
  status_reason text check (length(status_reason) <= 500),
  connected_by uuid not null,
  connected_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- An active connection has a token; a revoked one has none left.
  check (status <> 'active' or user_token_sealed is not null),
  check (status <> 'revoked' or user_token_sealed is null),
  unique (id, workspace_id)
);
create index meta_connections_fb_user on public.meta_connections (fb_user_id);

create table public.meta_pages (
  connection_id uuid not null,
  workspace_id uuid not null,
  page_id text not null check (page_id ~ '^[0-9]{1,32}$'),
  name text not null default '' check (length(name) <= 300),
  picture_url text check (length(picture_url) <= 2000),
  page_token_sealed text check (public.meta_is_sealed_token(page_token_sealed)),
  tasks text[] not null default '{}',
  usable boolean not null,
  unusable_reason text check (unusable_reason in ('no_page_token', 'missing_create_content_task', 'token_revoked')),
  primary key (connection_id, page_id),
  foreign key (connection_id, workspace_id)
    references public.meta_connections (id, workspace_id) on delete cascade,
  -- Usable means: a Page token and the CREATE_CONTENT task; otherwise the reason is given.
  check (usable = (unusable_reason is null)),
  -- `is true`: a NULL among the tasks would make `= any` null, which a CHECK lets through.
  check ((not usable or (page_token_sealed is not null and 'CREATE_CONTENT' = any (tasks))) is true)
);

create table public.meta_instagram_accounts (
  connection_id uuid not null,
  workspace_id uuid not null,
  ig_user_id text not null check (ig_user_id ~ '^[0-9]{1,32}$'),
  -- The Page it is linked to; Instagram publishing goes through that Page's token.
  page_id text not null,
  username text check (length(username) <= 100),
  name text check (length(name) <= 300),
  profile_picture_url text check (length(profile_picture_url) <= 2000),
  primary key (connection_id, ig_user_id),
  foreign key (connection_id, workspace_id)
    references public.meta_connections (id, workspace_id) on delete cascade,
  foreign key (connection_id, page_id)
    references public.meta_pages (connection_id, page_id) on delete cascade
);

-- The workspace's default destinations. The composite keys make it impossible to point at a
-- Page or Instagram account of another connection (or of another workspace).
create table public.meta_defaults (
  workspace_id uuid primary key,
  connection_id uuid not null,
  facebook_page_id text,
  instagram_account_id text,
  updated_at timestamptz not null default now(),
  foreign key (connection_id, workspace_id)
    references public.meta_connections (id, workspace_id) on delete cascade,
  foreign key (connection_id, facebook_page_id)
    references public.meta_pages (connection_id, page_id) on delete set null (facebook_page_id),
  foreign key (connection_id, instagram_account_id)
    references public.meta_instagram_accounts (connection_id, ig_user_id)
    on delete set null (instagram_account_id)
);

-- The CHECK constraints above are the backstop; this trigger refuses a non-envelope first, with
-- an error that does not quote the row. (A CHECK violation's DETAIL, "Failing row contains
-- (...)", would put the plaintext token into the database server's log.)
create or replace function public.meta_tokens_must_be_sealed()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  value text := to_jsonb(new) ->> tg_argv[0];
begin
  if value is not null and not public.meta_is_sealed_token(value) then
    raise exception '%.% accepts only vault envelopes; the value was not stored', tg_table_name, tg_argv[0]
      using errcode = '23514';
  end if;
  return new;
end;
$$;

create trigger meta_connections_token_sealed before insert or update on public.meta_connections
  for each row execute function public.meta_tokens_must_be_sealed('user_token_sealed');
create trigger meta_pages_token_sealed before insert or update on public.meta_pages
  for each row execute function public.meta_tokens_must_be_sealed('page_token_sealed');

-- Consumes an OAuth state once: returns its workspace, user and return_to if it exists, has not
-- expired and was not used before; otherwise no row. Concurrent callers: exactly one wins.
create or replace function public.consume_meta_oauth_state(p_state_hash text)
returns table (workspace_id uuid, user_id uuid, return_to text)
language plpgsql
volatile
set search_path = ''
as $$
begin
  return query
    update public.meta_oauth_states s
       set consumed_at = now()
     where s.state_hash = p_state_hash
       and s.consumed_at is null
       and s.expires_at > now()
    returning s.workspace_id, s.user_id, s.return_to;
end;
$$;

-- Replaces a workspace's connection in one transaction: the old connection (with its Pages,
-- Instagram accounts and defaults) goes, the new one comes in. Defaults the workspace had are
-- kept when the same destination is still there and usable; otherwise a destination becomes
-- the default when it is the only usable one.
--   p: {connection: {...meta_connections columns}, pages: [...], instagram_accounts: [...]}
create or replace function public.save_meta_connection(p jsonb)
returns public.meta_defaults
language plpgsql
volatile
set search_path = ''
as $$
declare
  conn public.meta_connections;
  old_page text;
  old_ig text;
  new_page text;
  new_ig text;
  result public.meta_defaults;
begin
  conn := jsonb_populate_record(null::public.meta_connections, p -> 'connection');
  if conn.workspace_id is null or conn.id is null then
    raise exception 'save_meta_connection needs connection.id and connection.workspace_id' using errcode = '22023';
  end if;
  -- Two reconnects of one workspace at once: the second waits and then replaces the first.
  perform pg_advisory_xact_lock(hashtextextended('meta_connection:' || conn.workspace_id::text, 0));
  select d.facebook_page_id, d.instagram_account_id into old_page, old_ig
    from public.meta_defaults d where d.workspace_id = conn.workspace_id;

  delete from public.meta_connections c where c.workspace_id = conn.workspace_id;

  insert into public.meta_connections
    select (jsonb_populate_record(null::public.meta_connections,
             jsonb_build_object('connected_at', now(), 'updated_at', now(), 'status', 'active',
                                'granted_permissions', '{}'::text[], 'declined_permissions', '{}'::text[])
             || (p -> 'connection'))).*;
  insert into public.meta_pages
    select (jsonb_populate_record(null::public.meta_pages,
             jsonb_build_object('connection_id', conn.id, 'workspace_id', conn.workspace_id, 'tasks', '{}'::text[])
             || page)).*
    from jsonb_array_elements(coalesce(p -> 'pages', '[]')) page;
  insert into public.meta_instagram_accounts
    select (jsonb_populate_record(null::public.meta_instagram_accounts,
             jsonb_build_object('connection_id', conn.id, 'workspace_id', conn.workspace_id) || account)).*
    from jsonb_array_elements(coalesce(p -> 'instagram_accounts', '[]')) account;

  select coalesce(
           (select pg.page_id from public.meta_pages pg
             where pg.connection_id = conn.id and pg.page_id = old_page and pg.usable),
           (select min(pg.page_id) from public.meta_pages pg
             where pg.connection_id = conn.id and pg.usable
            having count(*) = 1))
    into new_page;
  select coalesce(
           (select ig.ig_user_id from public.meta_instagram_accounts ig
              join public.meta_pages pg using (connection_id, page_id)
             where ig.connection_id = conn.id and ig.ig_user_id = old_ig and pg.usable),
           (select min(ig.ig_user_id) from public.meta_instagram_accounts ig
              join public.meta_pages pg using (connection_id, page_id)
             where ig.connection_id = conn.id and pg.usable
            having count(*) = 1))
    into new_ig;

  insert into public.meta_defaults (workspace_id, connection_id, facebook_page_id, instagram_account_id)
  values (conn.workspace_id, conn.id, new_page, new_ig)
  returning * into result;
  return result;
end;
$$;

-- Revokes a connection at once (the user removed the app): status `revoked`, and every token
-- of it, user and Pages, erased in the same transaction. Returns whether it existed.
create or replace function public.revoke_meta_connection(p_connection_id uuid, p_reason text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  update public.meta_pages
     set page_token_sealed = null, usable = false, unusable_reason = 'token_revoked'
   where connection_id = p_connection_id;
  update public.meta_connections
     set status = 'revoked', status_reason = p_reason, user_token_sealed = null, updated_at = now()
   where id = p_connection_id;
  return found;
end;
$$;

-- Row level security on every table; no policies for anon/authenticated: nothing here is
-- theirs to read, even for members (the Worker answers them, without tokens).
alter table public.meta_oauth_states enable row level security;
alter table public.meta_connections enable row level security;
alter table public.meta_pages enable row level security;
alter table public.meta_instagram_accounts enable row level security;
alter table public.meta_defaults enable row level security;

revoke all on public.meta_oauth_states, public.meta_connections, public.meta_pages,
  public.meta_instagram_accounts, public.meta_defaults from public, anon, authenticated, service_role;
-- Only what the Worker does: referential cascades run with the table owner's rights, so
-- replacing a connection needs DELETE on meta_connections alone.
grant select, insert on public.meta_oauth_states to service_role;
grant update (consumed_at) on public.meta_oauth_states to service_role;
grant select, insert, update, delete on public.meta_connections to service_role;
grant select, insert, update on public.meta_pages, public.meta_defaults to service_role;
grant select, insert on public.meta_instagram_accounts to service_role;

revoke all on function public.meta_tokens_must_be_sealed() from public, anon, authenticated;
revoke all on function public.consume_meta_oauth_state(text) from public, anon, authenticated;
revoke all on function public.save_meta_connection(jsonb) from public, anon, authenticated;
revoke all on function public.revoke_meta_connection(uuid, text) from public, anon, authenticated;
grant execute on function public.revoke_meta_connection(uuid, text) to service_role;
grant execute on function public.consume_meta_oauth_state(text) to service_role;
grant execute on function public.save_meta_connection(jsonb) to service_role;
