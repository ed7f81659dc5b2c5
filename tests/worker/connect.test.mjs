// Connecting Facebook and Instagram through the built Worker, against the test stack and the
// Meta sandbox: who may, the OAuth round trip (state, code exchange, permissions, discovery
// across result pages), defaults, reconnect and disconnect, CORS, and no token in any answer.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, test } from "node:test";
import { mintJwt } from "../../scripts/lib/stack.mjs";
import { eventually, startWorker, stackVars } from "./harness.mjs";
import { apiOf, connect as connectAs, SANDBOX, sandbox, sql, workspace } from "./fixtures.mjs";

const vars = stackVars();
const USER_FB = "1000000000000901";
const OTHER_FB = "1000000000000902";
let worker;

function pages(count) {
  return Array.from({ length: count }, (_, n) => ({
    id: String(3000000000000 + n),
    name: `Page ${n}`,
    ...(n === 0 ? { instagram: { id: "17841400000009001", username: "brand_ig" } } : {}),
    ...(n === 1 ? { has_token: false } : {}),
    ...(n === 2 ? { tasks: ["ANALYZE"] } : {}),
  }));
}

const api = (path, options) => apiOf(worker)(path, options);
const connect = (ws, jwt, grant = {}, fbUser = USER_FB) => connectAs(api, ws, jwt, fbUser, grant);

before(async () => {
  worker = await startWorker();
  // 105 Pages: more than one answer of /me/accounts (the Worker asks for 100 at a time).
  await sandbox("reset", { users: [
    { id: USER_FB, name: "Connect Tester", pages: pages(105) },
    { id: OTHER_FB, name: "Someone Else", pages: [{ id: "4000000000001", name: "Their Page" }] },
  ] });
});
after(() => worker?.dispose());

test("the whole round trip connects, discovers every Page and picks the only usable Instagram account", async () => {
  const ws = workspace("growth", ["owner"]);
  const { url, callback, location } = await connect(ws, ws.members.owner.jwt);
  assert.equal(url.origin + url.pathname, `${SANDBOX}/v26.0/dialog/oauth`);
  assert.equal(url.searchParams.get("client_id"), vars.META_APP_ID);
  assert.equal(url.searchParams.get("redirect_uri"), `${vars.PUBLIC_BASE_URL}/api/meta/oauth/callback`);
  assert.deepEqual(url.searchParams.get("scope").split(",").sort(), ["instagram_basic", "instagram_content_publish", "pages_manage_posts", "pages_read_engagement", "pages_show_list"]);
  assert.ok(url.searchParams.get("state").length >= 43, "at least 256 bits of state");
  assert.equal(callback.status, 302);
  assert.equal(location, `${vars.APP_URL}?meta=connected`);

  const view = await (await api(`/api/meta/connection?workspace_id=${ws.id}`, { jwt: ws.members.owner.jwt })).json();
  assert.equal(view.status, "active");
  assert.equal(view.facebook_user_name, "Connect Tester");
  assert.deepEqual(view.missing_permissions, []);
  assert.equal(view.pages.length, 105);
  const reasons = Object.fromEntries(view.pages.map((p) => [p.id, p.reason]));
  assert.equal(reasons["3000000000001"], "no_page_token");
  assert.equal(reasons["3000000000002"], "missing_create_content_task");
  assert.equal(view.pages.find((p) => p.id === "3000000000000").picture_url, "https://sandbox.example/pictures/3000000000000.jpg");
  assert.equal(view.defaults.facebook_page_id, null, "102 usable Pages: the user chooses");
  assert.equal(view.defaults.instagram_account_id, "17841400000009001");
  assert.ok(view.token_expires_at > new Date(Date.now() + 59 * 86400e3).toISOString());

  // The state was stored hashed and is used up.
  assert.equal(sql(`select count(*) from public.meta_oauth_states where state_hash = '${crypto.createHash("sha256").update(url.searchParams.get("state")).digest("hex")}' and consumed_at is not null`), "1");
  // Every Graph call carried a valid appsecret_proof.
  const calls = await sandbox("calls");
  const withToken = calls.filter((c) => c.token_owner?.startsWith("user:"));
  assert.ok(withToken.length >= 4);
  assert.ok(withToken.every((c) => c.appsecret_proof_valid === true), JSON.stringify(withToken.find((c) => !c.appsecret_proof_valid)));
  assert.equal(calls.filter((c) => c.path === "/v26.0/me/accounts").length >= 2, true, "followed the paging link");
});

test("a state that is forged, reused or expired gets a readable 400 page and stores nothing", async () => {
  const ws = workspace("growth", ["owner"]);
  const { state } = await connect(ws, ws.members.owner.jwt);
  const before = sql("select count(*) from public.meta_connections");
  for (const forged of [state, "not-a-state", ""]) {
    const response = await api(`/api/meta/oauth/callback?code=x&state=${encodeURIComponent(forged)}`);
    assert.equal(response.status, 400);
    assert.match(response.headers.get("content-type"), /text\/html/);
    assert.match(await response.text(), /Start connecting again|incomplete/);
  }
  const expired = await api("/api/meta/oauth/start", { method: "POST", jwt: ws.members.owner.jwt, body: { workspace_id: ws.id } });
  const expiredState = new URL((await expired.json()).authorize_url).searchParams.get("state");
  const hash = crypto.createHash("sha256").update(expiredState).digest("hex");
  sql(`update public.meta_oauth_states set created_at = now() - interval '20 minutes', expires_at = now() - interval '10 minutes' where state_hash = '${hash}'`);
  assert.equal((await api(`/api/meta/oauth/callback?code=x&state=${expiredState}`)).status, 400);
  assert.equal(sql("select count(*) from public.meta_connections"), before);
});

test("cancel, a declined permission and a bad code send the user back with a meta_error and store nothing", async () => {
  const ws = workspace("pro", ["admin"]);
  const jwt = ws.members.admin.jwt;
  const started = await api("/api/meta/oauth/start", { method: "POST", jwt, body: { workspace_id: ws.id, return_to: `${vars.APP_URL}/integrations` } });
  const state = new URL((await started.json()).authorize_url).searchParams.get("state");
  const cancelled = await api(`/api/meta/oauth/callback?error=access_denied&error_reason=user_denied&state=${state}`);
  assert.equal(cancelled.headers.get("location"), `${vars.APP_URL}/integrations?meta_error=access_denied`);

  const declined = await connect(ws, jwt, { granted: ["pages_show_list", "pages_read_engagement", "instagram_basic", "instagram_content_publish"] });
  const back = new URL(declined.location);
  assert.equal(back.searchParams.get("meta_error"), "missing_permissions");
  assert.equal(back.searchParams.get("missing"), "pages_manage_posts");

  const startedAgain = await api("/api/meta/oauth/start", { method: "POST", jwt, body: { workspace_id: ws.id } });
  const state2 = new URL((await startedAgain.json()).authorize_url).searchParams.get("state");
  const badCode = await api(`/api/meta/oauth/callback?code=SBXnotacode&state=${state2}`);
  assert.equal(new URL(badCode.headers.get("location")).searchParams.get("meta_error"), "code_exchange_failed");
  assert.equal(sql(`select count(*) from public.meta_connections where workspace_id = '${ws.id}'`), "0");
});

test("a Graph failure ends back on the app with a meta_error, is logged with its trace id, and stores nothing", async () => {
  const ws = workspace("growth", ["owner"]);
  // A Graph error whose message echoes the token, as some do: it must not reach any log line.
  await sandbox("faults", { path_prefix: "/v26.0/me/accounts", status: 500,
    error: { message: "An unexpected error has occurred for {access_token}.", type: "OAuthException", code: 2, is_transient: true, fbtrace_id: "SBXFAULT1" } });
  const { location } = await connect(ws, ws.members.owner.jwt);
  assert.equal(new URL(location).searchParams.get("meta_error"), "page_discovery_failed");
  assert.equal(sql(`select count(*) from public.meta_connections where workspace_id = '${ws.id}'`), "0");
  // Log lines arrive from workerd a moment after the answer.
  const line = await eventually(() => worker.events("oauth_callback").find((entry) => entry.fbtrace_id === "SBXFAULT1"));
  assert.ok(line, "the failure is logged");
  assert.deepEqual([line.outcome, line.graph_error_code, line.workspace_id], ["page_discovery_failed", 2, ws.id]);
  const logs = worker.logs.map((entry) => entry.message).join("\n");
  for (const token of await sandbox("issued-tokens")) assert.ok(!logs.includes(token), "a token reached a log line");

  await sandbox("faults", { path_prefix: "/v26.0/me", error: { message: "Service temporarily unavailable", type: "OAuthException", code: 2 } });
  const unavailable = await connect(ws, ws.members.owner.jwt);
  assert.equal(new URL(unavailable.location).searchParams.get("meta_error"), "graph_unavailable");
  await sandbox("faults", { path_prefix: "/v26.0/oauth/access_token", error: { message: "Error validating client secret.", type: "OAuthException", code: 1 } });
  const failed = await connect(ws, ws.members.owner.jwt);
  assert.equal(new URL(failed.location).searchParams.get("meta_error"), "code_exchange_failed");
});

test("who may: token, membership, role and plan are checked", async () => {
  const growth = workspace("growth", ["owner", "member"]);
  const starter = workspace("starter", ["owner"]);
  const start = (jwt, id) => api("/api/meta/oauth/start", { method: "POST", jwt, body: { workspace_id: id } });
  const codeOf = async (response) => [response.status, (await response.json()).error?.code];
  assert.deepEqual(await codeOf(await start(null, growth.id)), [401, "unauthenticated"]);
  assert.deepEqual(await codeOf(await start("not.a.jwt", growth.id)), [401, "unauthenticated"]);
  assert.deepEqual(await codeOf(await start(mintJwt("another-secret", { role: "authenticated", sub: growth.members.owner.id }), growth.id)), [401, "unauthenticated"]);
  assert.deepEqual(await codeOf(await start(vars.SUPABASE_ANON_KEY, growth.id)), [401, "unauthenticated"]);
  assert.deepEqual(await codeOf(await start(vars.SUPABASE_SERVICE_ROLE_KEY, growth.id)), [401, "unauthenticated"], "the service key is no user");
  const expired = mintJwt(vars.SUPABASE_JWT_SECRET, { role: "authenticated", sub: growth.members.owner.id, exp: Math.floor(Date.now() / 1000) - 60 });
  assert.deepEqual(await codeOf(await start(expired, growth.id)), [401, "unauthenticated"], "expired");
  assert.deepEqual(await codeOf(await start(starter.members.owner.jwt, growth.id)), [403, "forbidden"], "not a member");
  assert.deepEqual(await codeOf(await start(growth.members.member.jwt, growth.id)), [403, "forbidden"], "members cannot connect");
  const plan = await start(starter.members.owner.jwt, starter.id);
  assert.equal(plan.status, 403);
  const body = await plan.json();
  assert.equal(body.error.code, "plan_required");
  assert.match(body.error.message, /Growth/);
  assert.deepEqual(await codeOf(await start(growth.members.owner.jwt, "not-a-uuid")), [400, "invalid_request"]);
  const evil = await api("/api/meta/oauth/start", { method: "POST", jwt: growth.members.owner.jwt, body: { workspace_id: growth.id, return_to: "https://evil.example.com/x" } });
  assert.deepEqual(await codeOf(evil), [400, "invalid_return_to"]);
  // Members may read the connection, not change it.
  assert.equal((await api(`/api/meta/connection?workspace_id=${growth.id}`, { jwt: growth.members.member.jwt })).status, 200);
  const change = await api("/api/meta/defaults", { method: "PUT", jwt: growth.members.member.jwt, body: { workspace_id: growth.id, facebook_page_id: null } });
  assert.deepEqual(await codeOf(change), [403, "forbidden"]);
});

test("defaults accept only usable destinations of the workspace's own connection", async () => {
  const mine = workspace("growth", ["owner"]);
  const jwt = mine.members.owner.jwt;
  await connect(mine, jwt);
  const put = (body) => api("/api/meta/defaults", { method: "PUT", jwt, body: { workspace_id: mine.id, ...body } });
  const ok = await put({ facebook_page_id: "3000000000005" });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { facebook_page_id: "3000000000005", instagram_account_id: "17841400000009001" });
  // Another workspace connected another Facebook user with a Page of its own.
  const theirs = workspace("growth", ["owner"]);
  await connect(theirs, theirs.members.owner.jwt, {}, OTHER_FB);
  assert.equal(sql(`select count(*) from public.meta_pages where page_id = '4000000000001'`), "1");
  assert.equal(sql(`select facebook_page_id from public.meta_defaults where workspace_id = '${theirs.id}'`), "4000000000001", "the only usable Page became the default");
  for (const body of [{ facebook_page_id: "4000000000001" }, { facebook_page_id: "3000000000001" }, { facebook_page_id: "3000000000002" }, { facebook_page_id: "999" }, { instagram_account_id: "1" }, { facebook_page_id: 5 }]) {
    const refused = await put(body);
    assert.equal(refused.status, 422, JSON.stringify(body));
    assert.equal((await refused.json()).error.code, "invalid_destination");
  }
  assert.equal(sql(`select facebook_page_id from public.meta_defaults where workspace_id = '${mine.id}'`), "3000000000005", "refusals changed nothing");
  const cleared = await put({ facebook_page_id: null });
  assert.equal((await cleared.json()).facebook_page_id, null);
});

test("reconnecting replaces the tokens; disconnecting removes everything of the workspace", async () => {
  const ws = workspace("enterprise", ["owner"]);
  const jwt = ws.members.owner.jwt;
  await connect(ws, jwt);
  const first = sql(`select id || ' ' || user_token_sealed from public.meta_connections where workspace_id = '${ws.id}'`);
  await connect(ws, jwt);
  const second = sql(`select id || ' ' || user_token_sealed from public.meta_connections where workspace_id = '${ws.id}'`);
  assert.notEqual(second.split(" ")[0], first.split(" ")[0]);
  assert.notEqual(second.split(" ")[1], first.split(" ")[1]);
  assert.equal(sql(`select count(*) from public.meta_pages where connection_id = '${first.split(" ")[0]}'`), "0");

  const removed = await api(`/api/meta/connection?workspace_id=${ws.id}`, { method: "DELETE", jwt });
  assert.equal(removed.status, 200);
  for (const table of ["meta_connections", "meta_pages", "meta_instagram_accounts", "meta_defaults"]) {
    assert.equal(sql(`select count(*) from public.${table} where workspace_id = '${ws.id}'`), "0", table);
  }
  const view = await (await api(`/api/meta/connection?workspace_id=${ws.id}`, { jwt })).json();
  assert.equal(view.status, "not_connected");

  // A workspace that moved below Growth can still disconnect (but not connect).
  await connect(ws, jwt);
  sql(`update public.workspaces set plan = 'starter' where id = '${ws.id}'`);
  assert.equal((await api(`/api/meta/connection?workspace_id=${ws.id}`, { method: "DELETE", jwt })).status, 200);
  assert.equal(sql(`select count(*) from public.meta_connections where workspace_id = '${ws.id}'`), "0");
});

test("losing the admin role or the plan between start and callback stops the connection", async () => {
  const ws = workspace("growth", ["owner"]);
  const jwt = ws.members.owner.jwt;
  const started = await api("/api/meta/oauth/start", { method: "POST", jwt, body: { workspace_id: ws.id } });
  const url = new URL((await started.json()).authorize_url);
  sql(`update public.workspace_members set role = 'member' where workspace_id = '${ws.id}'`);
  const { code } = await sandbox("codes", { user_id: USER_FB, redirect_uri: url.searchParams.get("redirect_uri") });
  const callback = await api(`/api/meta/oauth/callback?code=${code}&state=${url.searchParams.get("state")}`);
  assert.equal(new URL(callback.headers.get("location")).searchParams.get("meta_error"), "forbidden");
  assert.equal(sql(`select count(*) from public.meta_connections where workspace_id = '${ws.id}'`), "0");
});

test("CORS: preflights and answers grant APP_URL's origin only", async () => {
  const appOrigin = new URL(vars.APP_URL).origin;
  const preflight = await api("/api/meta/oauth/start", { method: "OPTIONS", origin: appOrigin });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), appOrigin);
  assert.match(preflight.headers.get("access-control-allow-headers"), /Authorization/);
  assert.match(preflight.headers.get("access-control-allow-methods"), /PUT/);
  const foreign = await api("/api/meta/defaults", { method: "OPTIONS", origin: "https://evil.example.com" });
  assert.equal(foreign.headers.get("access-control-allow-origin"), null);
  const answer = await api("/api/meta/connection?workspace_id=00000000-0000-4000-8000-000000000000", { origin: appOrigin });
  assert.equal(answer.status, 401);
  assert.equal(answer.headers.get("access-control-allow-origin"), appOrigin, "errors carry the grant too");
});

test("no answer and no log line contains a sandbox token", async () => {
  const tokens = await sandbox("issued-tokens");
  assert.ok(tokens.length > 10);
  const ws = workspace("growth", ["owner"]);
  const { callback } = await connect(ws, ws.members.owner.jwt);
  const view = await (await api(`/api/meta/connection?workspace_id=${ws.id}`, { jwt: ws.members.owner.jwt })).text();
  const everything = [view, callback.headers.get("location"), ...worker.logs.map((entry) => entry.message)].join("\n");
  for (const token of await sandbox("issued-tokens")) assert.ok(!everything.includes(token), "a sandbox token leaked");
  assert.doesNotMatch(everything, /mpt1\./, "no sealed envelope either");
});
