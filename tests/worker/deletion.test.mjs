// Meta's compliance callbacks through the built Worker: the data deletion request (signed
// requests made here with node:crypto, independently of the Worker's parser), the status page,
// every rejection (with nothing deleted), and the deauthorize callback followed by a publish
// pass. The proof of deletion is a scan of every table for the user's ids and tokens.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { after, before, test } from "node:test";
import { startWorker, stackVars } from "./harness.mjs";
import { apiOf, connectedWorkspace, facebookUser, sandbox, sql } from "./fixtures.mjs";

const vars = stackVars();
let worker;
let api;

before(async () => {
  worker = await startWorker();
  api = apiOf(worker);
  await sandbox("reset", {});
});
after(() => worker?.dispose());

const b64url = (buffer) => Buffer.from(buffer).toString("base64url");

/** A signed_request as Meta makes it; `padded` keeps the `=` padding. */
function signedRequest(payload, { secret = vars.META_APP_SECRET, padded = false } = {}) {
  const pad = (text) => (padded ? text + "=".repeat((4 - (text.length % 4)) % 4) : text);
  const body = pad(b64url(typeof payload === "string" ? payload : JSON.stringify(payload)));
  const signature = pad(b64url(crypto.createHmac("sha256", secret).update(body).digest()));
  return `${signature}.${body}`;
}

const callback = (path, form, headers = {}) =>
  worker.fetch(path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: form === undefined ? undefined : new URLSearchParams(form).toString(),
  });

/** A Facebook user with a Page and its Instagram account, connected to `count` new workspaces
 * (or, with `existing`, one more workspace of that user). */
async function connectedUser(count = 1, existing = null) {
  const user = existing ?? { ...(await facebookUser("67")), workspaces: [] };
  for (let i = 0; i < Math.max(count, existing ? 1 : 0); i++) user.workspaces.push(await connectedWorkspace(api, user));
  return user;
}

async function publishSomething(user, ws, text) {
  const response = await api("/api/publish/jobs", {
    method: "POST",
    jwt: ws.members.owner.jwt,
    body: { workspace_id: ws.id, scheduled_at: new Date(Date.now() - 1000).toISOString(), targets: ["facebook"], content: { text } },
  });
  assert.equal(response.status, 201);
  return (await response.json()).id;
}

const pass = async () => (await api("/api/publish/meta-due", { method: "POST", bearer: vars.CRON_SECRET })).json();

/** Every table of every schema the project and Supabase use, scanned for each needle. */
function tablesHolding(needles) {
  const tables = sql(`select quote_ident(table_schema) || '.' || quote_ident(table_name) from information_schema.tables
                      where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`).split("\n");
  const patterns = `array[${needles.map((n) => `$$%${n}%$$`).join(",")}]`;
  return tables.filter((table) => sql(`select count(*) from ${table} t where t::text like any (${patterns})`) !== "0");
}

const sealedTokensOf = (fbUser) =>
  sql(`select user_token_sealed from public.meta_connections where fb_user_id = '${fbUser}'
       union all select p.page_token_sealed from public.meta_pages p join public.meta_connections c on c.id = p.connection_id
       where c.fb_user_id = '${fbUser}' and p.page_token_sealed is not null`).split("\n").filter(Boolean);

test("a data deletion request removes every trace of the user in every workspace, and nobody else's", async () => {
  const user = await connectedUser(2);
  const other = await connectedUser(1);
  other.published = await publishSomething(other, other.workspaces[0], "someone else's post");
  const published = await publishSomething(user, user.workspaces[0], "before the deletion");
  await pass();
  assert.equal(sql(`select status from public.publish_jobs where id = '${published}'`), "published");
  // A third workspace the user published to and then disconnected: its history counts too.
  const left = (await connectedUser(0, user)).workspaces.at(-1);
  const leftJob = await publishSomething(user, left, "published, then the workspace disconnected");
  await pass();
  assert.equal((await api(`/api/meta/connection?workspace_id=${left.id}`, { method: "DELETE", jwt: left.members.owner.jwt })).status, 200);
  assert.equal(sql(`select count(*) from public.publish_job_targets where job_id = '${leftJob}' and destination_id = '${user.pageId}'`), "1");
  const queued = await publishSomething(user, user.workspaces[1], "due, but no pass runs before the deletion");
  const userSealed = sealedTokensOf(user.fbUser);
  const otherSealed = sealedTokensOf(other.fbUser);
  assert.equal(userSealed.length, 4, "two connections, each with a user and a Page token");
  const needles = [user.fbUser, user.pageId, user.igId, ...userSealed];
  assert.ok(tablesHolding(needles).length > 0, "the scan finds the user before the deletion");

  const response = await callback("/api/meta/data-deletion", { signed_request: signedRequest({ algorithm: "HMAC-SHA256", issued_at: 1, user_id: user.fbUser }) });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^application\/json/);
  const answer = await response.json();
  assert.deepEqual(Object.keys(answer).sort(), ["confirmation_code", "url"]);
  assert.match(answer.confirmation_code, /^[0-9a-f]{32}$/, "128 bits");
  assert.equal(answer.url, `${vars.PUBLIC_BASE_URL}/api/meta/data-deletion/status?code=${answer.confirmation_code}`);

  // Nothing identifying the user survives: ids, sealed tokens, plaintext tokens, anywhere.
  const plaintext = await sandbox("issued-tokens");
  assert.deepEqual(tablesHolding([...needles, ...plaintext]), []);
  assert.equal(sql(`select count(*) from public.meta_connections where workspace_id in ('${user.workspaces[0].id}', '${user.workspaces[1].id}')`), "0");
  // The history keeps the job and its outcome, not the Meta ids, also where the user had left.
  assert.equal(sql(`select status || '/' || external_id || '/' || coalesce(destination_id, '-') from public.publish_job_targets where job_id = '${leftJob}'`), "published/redacted/-");
  assert.equal(sql(`select status || '/' || external_id || '/' || coalesce(destination_id, '-') from public.publish_job_targets where job_id = '${published}'`), "published/redacted/-");
  assert.equal(sql(`select count(*) from public.publish_attempts where job_id = '${published}' and (external_id is not null or fbtrace_id is not null or permalink is not null)`), "0");
  assert.equal(sql(`select status from public.publish_jobs where id = '${queued}'`), "queued", "queued jobs stay queued");
  // Others are untouched.
  assert.deepEqual(sealedTokensOf(other.fbUser), otherSealed);
  assert.equal(sql(`select status from public.meta_connections where fb_user_id = '${other.fbUser}'`), "active");

  // The status page: readable, completed, and says nothing about the user.
  const page = await worker.fetch(new URL(answer.url).pathname + new URL(answer.url).search);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /text\/html/);
  const html = await page.text();
  assert.match(html, /Completed on \d{4}-\d\d-\d\d \d\d:\d\d/);
  assert.ok(!html.includes(user.fbUser));
  const json = await (await worker.fetch(`/api/meta/data-deletion/status?code=${answer.confirmation_code}`, { headers: { accept: "application/json" } })).json();
  assert.deepEqual(Object.keys(json).sort(), ["completed_at", "received_at", "status"]);
  assert.equal(json.status, "completed");
  const line = worker.events("meta_data_deletion").at(-1);
  assert.deepEqual([line.connections, line.pages, line.instagram_accounts, line.outcome], [2, 2, 2, "completed"]);
  assert.ok(!worker.logs.map((e) => e.message).join("\n").includes(user.fbUser), "the user id is in no log line");

  // Again, with a numeric user id and padding: its own code, nothing left to delete.
  const again = await callback("/api/meta/data-deletion", { signed_request: signedRequest(`{"algorithm":"HMAC-SHA256","user_id":${user.fbUser}}`, { padded: true }) });
  assert.equal(again.status, 200);
  const second = await again.json();
  assert.notEqual(second.confirmation_code, answer.confirmation_code);
  assert.equal(worker.events("meta_data_deletion").at(-1).connections, 0);
  // The redaction exception is the deletion function's alone: setting the flag elsewhere opens nothing.
  const refused = spawnSync("psql", [process.env.STACK_DATABASE_URL, "-X", "-v", "ON_ERROR_STOP=1", "-c",
    `begin; set local role service_role; set local meta_publisher.redacting = 'on';
     update public.publish_job_targets set external_id = 'redacted' where job_id = '${other.published}'; commit;`], { encoding: "utf8" });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /is published; only its permalink/);
  assert.equal(sql(`select count(*) from public.meta_deletion_requests where kind = 'data_deletion' and status = 'completed' and code_hash in
    (encode(sha256('${answer.confirmation_code}'), 'hex'), encode(sha256('${second.confirmation_code}'), 'hex'))`), "2");
});

test("bad callbacks get a JSON error and delete nothing", async () => {
  const user = await connectedUser(1);
  const good = { algorithm: "HMAC-SHA256", user_id: user.fbUser };
  const cases = [
    [undefined, 400, "invalid_request"],
    [{ other: "x" }, 400, "invalid_request"],
    [{ signed_request: "" }, 400, "invalid_request"],
    [{ signed_request: "no-dot-here" }, 400, "malformed_signed_request"],
    [{ signed_request: "%%%.%%%" }, 400, "malformed_signed_request"],
    [{ signed_request: signedRequest("not json") }, 400, "malformed_signed_request"],
    [{ signed_request: signedRequest({ algorithm: "HMAC-SHA256" }) }, 400, "malformed_signed_request"],
    [{ signed_request: signedRequest({ algorithm: "HMAC-SHA1", user_id: user.fbUser }) }, 400, "unsupported_algorithm"],
    [{ signed_request: signedRequest(good, { secret: "not-the-app-secret" }) }, 403, "invalid_signature"],
    [{ signed_request: signedRequest(good).replace(/^./, (c) => (c === "A" ? "B" : "A")) }, 403, "invalid_signature"],
  ];
  for (const path of ["/api/meta/data-deletion", "/api/meta/deauthorize"]) {
    for (const [form, status, code] of cases) {
      const response = await callback(path, form);
      const body = await response.json();
      assert.deepEqual([response.status, body.error?.code], [status, code], `${path} ${JSON.stringify(form)}`);
      assert.ok(!JSON.stringify(body).includes(user.fbUser));
    }
    const huge = await callback(path, { signed_request: signedRequest(good), padding: "x".repeat(17 * 1024) });
    assert.deepEqual([huge.status, (await huge.json()).error.code], [413, "payload_too_large"]);
    const get = await worker.fetch(path);
    assert.deepEqual([get.status, get.headers.get("allow")], [405, "POST"]);
  }
  assert.equal(sql(`select status from public.meta_connections where fb_user_id = '${user.fbUser}'`), "active");
  assert.equal(sealedTokensOf(user.fbUser).length, 2, "nothing was deleted or erased");

  for (const code of ["0".repeat(32), "nothex", ""]) {
    const page = await worker.fetch(`/api/meta/data-deletion/status?code=${code}`);
    assert.equal(page.status, 404);
    assert.match(await page.text(), /No data deletion request has this confirmation code/);
    const json = await worker.fetch(`/api/meta/data-deletion/status?code=${code}`, { headers: { accept: "application/json" } });
    assert.deepEqual([json.status, (await json.json()).error.code], [404, "not_found"]);
  }
});

test("deauthorize revokes the user's connections at once; the next pass fails their jobs without Graph", async () => {
  const user = await connectedUser(1);
  const ws = user.workspaces[0];
  const job = await publishSomething(user, ws, "after the app was removed");
  const response = await callback("/api/meta/deauthorize", { signed_request: signedRequest({ algorithm: "HMAC-SHA256", user_id: Number(user.fbUser) }) });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: "ok" });
  assert.equal(sql(`select status || ':' || status_reason from public.meta_connections where fb_user_id = '${user.fbUser}'`), "revoked:app_removed");
  assert.deepEqual(sealedTokensOf(user.fbUser), [], "every token erased");
  assert.equal(worker.events("meta_deauthorize").at(-1).connections_revoked, 1);

  const calls = (await sandbox("calls")).length;
  await pass();
  assert.equal(sql(`select status || '/' || split_part(last_error, ':', 1) from public.publish_jobs where id = '${job}'`), "failed/reconnect_required");
  const after = (await sandbox("calls")).slice(calls);
  assert.deepEqual(after.filter((c) => c.path.includes(user.pageId)), [], "no Graph call for the revoked connection");
});
