// Publishing through the built Worker, against the test stack and the Meta sandbox: the job API
// (validation at the boundary, destinations, the image check, idempotency, view, list, cancel),
// the meta-due pass (auth, Facebook feed and photos, the Instagram container lifecycle, the
// publishing quota), every failure path (partial success, throttling with headers, token death
// mid-pass, media download failure, unknown outcomes) and, through the sandbox's ledger, that
// nothing is ever posted twice.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, test } from "node:test";
import { startWorker, stackVars } from "./harness.mjs";
import { apiOf, connectedWorkspace, facebookUser, sandbox, sql, workspace } from "./fixtures.mjs";

const vars = stackVars();
let worker;
let api;

// A tiny valid JPEG header is all the image check reads; sizes are what the server claims.
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
function images(name, request) {
  switch (name) {
    case "photo.jpg":
      return new Response(JPEG, { status: 206, headers: { "content-type": "image/jpeg", "content-range": `bytes 0-${JPEG.length - 1}/200000` } });
    case "whole.jpg": // a server that ignores Range
      return new Response(JPEG, { status: 200, headers: { "content-type": "image/jpeg" } });
    case "huge.jpg":
      return new Response(JPEG, { status: 206, headers: { "content-type": "image/jpeg", "content-range": `bytes 0-1023/${9 * 1024 * 1024}` } });
    case "picture.png":
      return new Response(Buffer.from([0x89, 0x50, 0x4e, 0x47]), { status: 200, headers: { "content-type": "image/png" } });
    case "lying.jpg": // says JPEG, is not
      return new Response("<html>login</html>", { status: 200, headers: { "content-type": "image/jpeg" } });
    default:
      return new Response("not found", { status: 404 });
  }
}
const IMAGE = "https://images.test/photo.jpg";

before(async () => {
  worker = await startWorker({ META_GRAPH_TIMEOUT_SECONDS: "2" }, { images });
  api = apiOf(worker);
  await sandbox("reset", {});
});
after(() => worker?.dispose());

/** A Facebook user with one Page and its Instagram account, connected to a new Growth workspace. */
async function brand() {
  const user = await facebookUser("61");
  const ws = await connectedWorkspace(api, user, ["owner", "member"]);
  return { ...user, ws, jwt: ws.members.member.jwt };
}

const marker = () => `M${crypto.randomUUID().slice(0, 8)}`;

async function queue(b, { targets = ["facebook"], content, scheduled_at, idempotency_key } = {}) {
  const response = await api("/api/publish/jobs", {
    method: "POST",
    jwt: b.jwt,
    body: { workspace_id: b.ws.id, scheduled_at: scheduled_at ?? new Date(Date.now() - 1000).toISOString(), targets, content, idempotency_key },
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}

async function pass() {
  const response = await api("/api/publish/meta-due", { method: "POST", bearer: vars.CRON_SECRET });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

async function job(b, id) {
  const response = await api(`/api/publish/jobs/${id}`, { jwt: b.jwt });
  assert.equal(response.status, 200);
  const body = await response.json();
  body.target = Object.fromEntries(body.results.map((r) => [r.target, r]));
  return body;
}

const makeDue = (id) => sql(`update public.publish_jobs set next_attempt_at = now() - interval '1 second' where id = '${id}' and status = 'queued'`);
const ledgerFor = async (text) => (await sandbox("ledger")).filter((entry) => (entry.message ?? entry.caption ?? "").includes(text));
const callsTo = async (suffix) => (await sandbox("calls")).filter((call) => call.path.endsWith(suffix));
const fault = (spec) => sandbox("faults", spec);

test("the job API checks requests at the boundary and names what is missing", async () => {
  const b = await brand();
  const post = (body, jwt = b.jwt) => api("/api/publish/jobs", { method: "POST", jwt, body });
  const codeOf = async (response) => [response.status, (await response.json()).error?.code];
  const base = { workspace_id: b.ws.id, scheduled_at: "2030-01-01T10:00:00+02:00", targets: ["facebook"], content: { text: "hi" } };
  const count = () => sql(`select count(*) from public.publish_jobs where workspace_id = '${b.ws.id}'`);

  assert.deepEqual(await codeOf(await post(base, null)), [401, "unauthenticated"]);
  assert.deepEqual(await codeOf(await post({ ...base, scheduled_at: "2030-01-01T10:00:00" })), [400, "invalid_scheduled_at"]);
  assert.deepEqual(await codeOf(await post({ ...base, targets: ["twitter"] })), [400, "invalid_targets"]);
  assert.deepEqual(await codeOf(await post({ ...base, content: {} })), [422, "facebook_needs_content"]);
  assert.deepEqual(await codeOf(await post({ ...base, targets: ["instagram"] })), [422, "instagram_needs_image"]);
  const longCaption = { ...base, targets: ["instagram"], content: { text: "x".repeat(2201), image_url: IMAGE } };
  assert.deepEqual(await codeOf(await post(longCaption)), [422, "caption_too_long"]);
  const tags = { ...base, targets: ["instagram"], content: { text: Array.from({ length: 31 }, (_, i) => `#t${i}`).join(" "), image_url: IMAGE } };
  assert.deepEqual(await codeOf(await post(tags)), [422, "too_many_hashtags"]);
  const http = { ...base, targets: ["instagram"], content: { image_url: "http://images.test/photo.jpg" } };
  assert.deepEqual(await codeOf(await post(http)), [422, "invalid_image_url"]);
  // The image check: Meta fetches the image itself, so it must be a reachable JPEG of <= 8 MB.
  for (const [name, code] of [["missing.jpg", "image_unreachable"], ["huge.jpg", "image_too_large"], ["picture.png", "image_not_jpeg"], ["lying.jpg", "image_not_jpeg"]]) {
    const response = await post({ ...base, targets: ["instagram"], content: { image_url: `https://images.test/${name}` } });
    const body = await response.json();
    assert.deepEqual([response.status, body.error.code], [422, code], name);
  }
  const starter = workspace("starter", ["member"]);
  assert.deepEqual(await codeOf(await post({ ...base, workspace_id: starter.id }, starter.members.member.jwt)), [403, "plan_required"]);
  const unconnected = workspace("growth", ["member"]);
  assert.deepEqual(await codeOf(await post({ ...base, workspace_id: unconnected.id }, unconnected.members.member.jwt)), [422, "not_connected"]);
  sql(`update public.meta_defaults set facebook_page_id = null where workspace_id = '${b.ws.id}'`);
  assert.deepEqual(await codeOf(await post(base)), [422, "no_default_page"]);
  sql(`update public.meta_defaults set facebook_page_id = '${b.pageId}' where workspace_id = '${b.ws.id}'`);
  assert.equal(count(), "0", "nothing was stored by any refused request");

  // Accepted: stored in UTC, canonical payload, and the same idempotency key gives the same job.
  const first = await post({ ...base, targets: ["instagram", "facebook"], content: { text: "both", image_url: "https://images.test/whole.jpg" }, idempotency_key: "k1" });
  assert.equal(first.status, 201);
  const created = await first.json();
  assert.equal(created.scheduled_at.slice(0, 19), "2030-01-01T08:00:00");
  assert.deepEqual(created.targets, ["facebook", "instagram"]);
  assert.deepEqual(created.payload_json, { version: 1, text: "both", image_url: "https://images.test/whole.jpg" });
  assert.deepEqual(created.results.map((r) => [r.target, r.status]), [["facebook", "pending"], ["instagram", "pending"]]);
  const again = await post({ ...base, content: { text: "different" }, idempotency_key: "k1" });
  assert.equal(again.status, 200);
  assert.equal((await again.json()).id, created.id);
  assert.equal(count(), "1");
});

test("view, list and cancel: members only, newest first, paginated, cancel while queued", async () => {
  const b = await brand();
  const later = "2031-06-01T00:00:00Z";
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await queue(b, { content: { text: `job ${i}` }, scheduled_at: later })).id);
  const stranger = workspace("growth", ["owner"]);
  assert.equal((await api(`/api/publish/jobs/${ids[0]}`, { jwt: stranger.members.owner.jwt })).status, 404, "another workspace's job does not exist for you");
  assert.equal((await api(`/api/publish/jobs/${ids[0]}`)).status, 401);
  assert.equal((await api("/api/publish/jobs/not-a-uuid", { jwt: b.jwt })).status, 404);

  const page1 = await (await api(`/api/publish/jobs?workspace_id=${b.ws.id}&limit=2`, { jwt: b.jwt })).json();
  assert.deepEqual(page1.jobs.map((j) => j.id), [ids[2], ids[1]]);
  assert.equal(page1.next_offset, 2);
  const page2 = await (await api(`/api/publish/jobs?workspace_id=${b.ws.id}&limit=2&offset=2`, { jwt: b.jwt })).json();
  assert.deepEqual(page2.jobs.map((j) => j.id), [ids[0]]);
  assert.equal(page2.next_offset, undefined);
  assert.equal((await api(`/api/publish/jobs?workspace_id=${b.ws.id}&status=done`, { jwt: b.jwt })).status, 400);

  const cancelled = await api(`/api/publish/jobs/${ids[1]}/cancel`, { method: "POST", jwt: b.jwt });
  assert.equal(cancelled.status, 200);
  const view = await cancelled.json();
  assert.equal(view.status, "cancelled");
  assert.equal(view.results[0].status, "cancelled");
  const twice = await api(`/api/publish/jobs/${ids[1]}/cancel`, { method: "POST", jwt: b.jwt });
  assert.deepEqual([twice.status, (await twice.json()).error.code], [409, "not_cancellable"]);
  const queued = await (await api(`/api/publish/jobs?workspace_id=${b.ws.id}&status=queued`, { jwt: b.jwt })).json();
  assert.deepEqual(queued.jobs.map((j) => j.id).sort(), [ids[0], ids[2]].sort());
  // Still cancellable after a downgrade: nobody is stuck with a post they no longer want.
  sql(`update public.workspaces set plan = 'free' where id = '${b.ws.id}'`);
  assert.equal((await api(`/api/publish/jobs/${ids[0]}/cancel`, { method: "POST", jwt: b.jwt })).status, 200);
});

test("the meta-due endpoint needs the cron secret and claims nothing without it", async () => {
  const b = await brand();
  const { id } = await queue(b, { content: { text: `guarded ${marker()}` } });
  for (const bearer of [undefined, "wrong", vars.OPERATOR_TOKEN, `${vars.CRON_SECRET}x`]) {
    const response = await api("/api/publish/meta-due", { method: "POST", bearer });
    assert.deepEqual([response.status, (await response.json()).error.code], [401, "unauthenticated"]);
  }
  assert.equal((await api("/api/publish/meta-due", { bearer: vars.CRON_SECRET })).status, 405);
  assert.equal(sql(`select status from public.publish_jobs where id = '${id}'`), "queued");
});

test("Facebook text and photo posts and an Instagram post go out once, with permalinks and an attempt log", async () => {
  const b = await brand();
  const m = marker();
  const text = await queue(b, { content: { text: `hello ${m}`, link: "https://example.com/a" } });
  const both = await queue(b, { targets: ["facebook", "instagram"], content: { text: `photo ${m}`, image_url: IMAGE } });
  const summary = await pass();
  assert.ok(summary.claimed >= 2 && summary.published >= 2, JSON.stringify(summary));
  for (const key of ["claimed", "published", "in_progress", "retry_scheduled", "failed", "needs_review", "duration_ms"]) assert.equal(typeof summary[key], "number", key);

  const feed = await job(b, text.id);
  assert.equal(feed.status, "published");
  assert.match(feed.target.facebook.external_id, new RegExp(`^${b.pageId}_`));
  assert.match(feed.target.facebook.permalink, /^https:\/\/www\.facebook\.com\//);
  assert.equal(feed.target.facebook.destination_id, b.pageId);
  assert.equal(feed.target.facebook.send_started_at, null);
  assert.deepEqual(feed.attempt_log.map((a) => [a.step, a.outcome]), [["feed", "published"], ["permalink", "ok"]]);

  const photo = await job(b, both.id);
  assert.equal(photo.status, "published");
  assert.equal(photo.target.instagram.destination_id, b.igId);
  assert.match(photo.target.instagram.permalink, /^https:\/\/www\.instagram\.com\/p\//);
  assert.deepEqual(photo.attempt_log.filter((a) => a.target === "instagram").map((a) => a.step),
    ["media", "media_status", "publishing_limit", "media_publish", "permalink"]);
  const container = photo.attempt_log.find((a) => a.step === "media").container_id;
  assert.equal(photo.target.instagram.container_id, container);

  const posted = await ledgerFor(m);
  assert.deepEqual(posted.map((p) => p.kind).sort(), ["feed", "instagram", "photo"]);
  assert.equal(posted.find((p) => p.kind === "feed").link, "https://example.com/a");
  assert.equal(posted.find((p) => p.kind === "photo").image_url, IMAGE);
  // Calls used the Page's token with its proof; a second pass posts nothing more.
  const publishing = (await sandbox("calls")).filter((c) => c.path.includes(b.pageId) || c.path.includes(b.igId));
  assert.ok(publishing.every((c) => c.token_owner === `page:${b.pageId}` && c.appsecret_proof_valid === true), JSON.stringify(publishing[0]));
  await pass();
  assert.equal((await ledgerFor(m)).length, 3);
  // No token in any answer.
  const tokens = await sandbox("issued-tokens");
  const answer = JSON.stringify(photo) + JSON.stringify(feed) + JSON.stringify(summary);
  for (const token of tokens) assert.ok(!answer.includes(token));
});

test("partial success: Facebook stays published while Instagram fails with Meta's message", async () => {
  const b = await brand();
  const m = marker();
  await fault({ path_prefix: `/v26.0/${b.igId}/media`, method: "POST", match_param: { name: "caption", contains: m },
    error: { message: "Invalid caption", code: 36003, error_subcode: 2207010, error_user_msg: "The caption is not allowed", fbtrace_id: "SBXPART" } });
  const { id } = await queue(b, { targets: ["facebook", "instagram"], content: { text: `partial ${m}`, image_url: IMAGE } });
  const summary = await pass();
  assert.ok(summary.failed >= 1);
  const view = await job(b, id);
  assert.equal(view.status, "failed");
  assert.equal(view.target.facebook.status, "published");
  assert.deepEqual([view.target.instagram.status, view.target.instagram.last_error_reason, view.target.instagram.last_error_message],
    ["failed", "content_rejected", "The caption is not allowed"]);
  const logged = view.attempt_log.find((a) => a.target === "instagram");
  assert.deepEqual([logged.graph_error_code, logged.graph_error_subcode, logged.fbtrace_id, logged.graph_http_status], [36003, 2207010, "SBXPART", 400]);
  await pass();
  assert.equal((await ledgerFor(m)).length, 1, "Facebook was posted once and never again");
});

test("throttling honours X-Business-Use-Case-Usage and leaves the Page alone for the rest of the pass", async () => {
  const b = await brand();
  const m = marker();
  const usage = JSON.stringify({ [b.pageId]: [{ type: "pages", call_count: 100, total_cputime: 20, total_time: 30, estimated_time_to_regain_access: 12 }] });
  // Six jobs are in flight at once and all hit the limit; the two after them must not call.
  await fault({ path_prefix: `/v26.0/${b.pageId}/feed`, times: 6, headers: { "X-Business-Use-Case-Usage": usage },
    error: { message: "(#80001) There have been too many calls to this Page account.", code: 80001, fbtrace_id: "SBXTHROTTLE" } });
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push((await queue(b, { content: { text: `throttled ${i} ${m}` } })).id);
  const started = Date.now();
  await pass();
  for (const id of ids) {
    const view = await job(b, id);
    assert.equal(view.status, "queued");
    assert.equal(view.target.facebook.last_error_reason, "rate_limited");
    assert.equal(view.target.facebook.send_started_at, null, "the mark is cleared: nothing went out");
    assert.ok(Date.parse(view.next_attempt_at) >= started + 11 * 60_000, `waits the 12 minutes Graph asked for: ${view.next_attempt_at}`);
  }
  assert.equal((await callsTo(`/${b.pageId}/feed`)).length, 6, "the jobs after the throttled ones did not call");
  assert.equal((await ledgerFor(m)).length, 0);
  for (const id of ids) makeDue(id);
  await pass();
  for (const id of ids) assert.equal((await job(b, id)).status, "published");
  assert.equal((await ledgerFor(m)).length, 8);
});

test("usage near the limit slows down before 100 %; a missing permission fails naming it", async () => {
  const b = await brand();
  const m = marker();
  await sandbox("usage-headers", { headers: { "X-App-Usage": { call_count: 95, total_cputime: 10, total_time: 12 } } });
  const ids = [];
  try {
    for (let i = 0; i < 8; i++) ids.push((await queue(b, { content: { text: `busy ${i} ${m}` } })).id);
    await pass();
  } finally {
    await sandbox("usage-headers", { headers: {} });
  }
  const views = await Promise.all(ids.map((id) => job(b, id)));
  assert.equal(views.filter((v) => v.status === "published").length, 6, "the calls already in flight went out");
  const paused = views.filter((v) => v.status === "queued");
  assert.equal(paused.length, 2);
  assert.ok(paused.every((v) => v.target.facebook.last_error_reason === "rate_limited" && Date.parse(v.next_attempt_at) > Date.now() + 4 * 60_000));
  assert.equal((await callsTo(`/${b.pageId}/feed`)).length, 6);

  const m2 = marker();
  await fault({ path_prefix: `/v26.0/${b.pageId}/feed`, status: 403, match_param: { name: "message", contains: m2 },
    error: { message: "(#200) The user hasn't authorized the application to perform this action", code: 200, fbtrace_id: "SBXPERM" } });
  const { id } = await queue(b, { content: { text: `denied ${m2}` } });
  await pass();
  const denied = await job(b, id);
  assert.deepEqual([denied.status, denied.target.facebook.last_error_reason], ["failed", "permission_missing"]);
  assert.match(denied.target.facebook.last_error_message, /pages_manage_posts/);
});

test("a token that dies mid-pass fails its jobs with reconnect_required, flags the connection, and spares Graph", async () => {
  const b = await brand();
  const m = marker();
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push((await queue(b, { content: { text: `dead ${i} ${m}` } })).id);
  await sandbox("invalidate", { user_id: b.fbUser });
  await pass();
  for (const id of ids) {
    const view = await job(b, id);
    assert.deepEqual([view.status, view.target.facebook.status, view.target.facebook.last_error_reason], ["failed", "failed", "reconnect_required"]);
  }
  // Six were in flight when the first 190 came back; the two after them never called Graph.
  assert.equal((await callsTo(`/${b.pageId}/feed`)).length, 6);
  assert.equal(sql(`select status || ':' || status_reason from public.meta_connections where workspace_id = '${b.ws.id}'`), "needs_reauth:token_invalid");
  // New jobs are refused until the workspace reconnects; queued ones fail without a Graph call.
  const refused = await api("/api/publish/jobs", { method: "POST", jwt: b.jwt, body: { workspace_id: b.ws.id, scheduled_at: new Date().toISOString(), targets: ["facebook"], content: { text: "x" } } });
  assert.deepEqual([refused.status, (await refused.json()).error.code], [422, "reconnect_required"]);
  sql(`insert into public.publish_jobs (workspace_id, targets, payload_json, scheduled_at) values ('${b.ws.id}', '{facebook}', '{"version":1,"text":"direct ${m}"}', now())`);
  await pass();
  assert.equal((await callsTo(`/${b.pageId}/feed`)).length, 6, "a revoked connection's jobs fail without Graph");
  assert.equal(sql(`select last_error from public.publish_jobs where workspace_id = '${b.ws.id}' and payload_json->>'text' = 'direct ${m}'`).split(":")[0], "reconnect_required");
});

test("an Instagram container IN_PROGRESS is finished on later passes, never by waiting", async () => {
  const b = await brand();
  const m = marker();
  await sandbox("containers/script", { in_progress_checks: 2, final: "FINISHED", match_caption: m });
  const { id } = await queue(b, { targets: ["instagram"], content: { text: `slow ${m}`, image_url: IMAGE } });
  const first = await pass();
  assert.ok(first.in_progress >= 1, JSON.stringify(first));
  let view = await job(b, id);
  assert.equal(view.status, "queued");
  assert.equal(view.target.instagram.status, "container_created");
  const container = view.target.instagram.container_id;
  assert.ok(container);
  assert.ok(Date.parse(view.next_attempt_at) > Date.now(), "rechecked later");
  makeDue(id);
  await pass();
  assert.equal((await job(b, id)).target.instagram.status, "container_created");
  makeDue(id);
  await pass();
  view = await job(b, id);
  assert.equal(view.status, "published");
  assert.equal(view.target.instagram.container_id, container, "the same container all along");
  assert.equal((await callsTo(`/${b.igId}/media`)).length, 1, "one container created");
  assert.equal((await ledgerFor(m)).length, 1);
});

test("an EXPIRED container gets one new container; a second expiry fails the target", async () => {
  const b = await brand();
  const m = marker();
  await sandbox("containers/script", { in_progress_checks: 1, final: "EXPIRED", match_caption: m, times: 1 });
  const { id } = await queue(b, { targets: ["instagram"], content: { text: `expiring ${m}`, image_url: IMAGE } });
  await pass();
  makeDue(id);
  await pass();
  const view = await job(b, id);
  assert.equal(view.status, "published");
  assert.equal(view.target.instagram.expired_containers, 1);
  assert.equal((await callsTo(`/${b.igId}/media`)).length, 2);
  assert.equal((await ledgerFor(m)).length, 1);

  // The replacement's creation fails: the target goes back to pending, not to the expired container.
  const m3 = marker();
  await sandbox("containers/script", { in_progress_checks: 1, final: "EXPIRED", match_caption: m3, times: 1 });
  const third = await queue(b, { targets: ["instagram"], content: { text: `replaced later ${m3}`, image_url: IMAGE } });
  await pass();
  await fault({ path_prefix: `/v26.0/${b.igId}/media`, method: "POST", status: 503, match_param: { name: "caption", contains: m3 },
    error: { message: "Service temporarily unavailable", code: 2, is_transient: true } });
  makeDue(third.id);
  await pass();
  let waiting = await job(b, third.id);
  assert.deepEqual([waiting.status, waiting.target.instagram.status, waiting.target.instagram.container_id, waiting.target.instagram.expired_containers],
    ["queued", "pending", null, 1]);
  makeDue(third.id);
  await pass();
  waiting = await job(b, third.id);
  assert.deepEqual([waiting.status, waiting.target.instagram.expired_containers], ["published", 1]);
  assert.equal((await ledgerFor(m3)).length, 1);

  const m2 = marker();
  await sandbox("containers/script", { in_progress_checks: 1, final: "EXPIRED", match_caption: m2 });
  const second = await queue(b, { targets: ["instagram"], content: { text: `expiring ${m2}`, image_url: IMAGE } });
  await pass();
  makeDue(second.id);
  await pass();
  makeDue(second.id);
  await pass();
  const failed = await job(b, second.id);
  assert.deepEqual([failed.status, failed.target.instagram.last_error_reason], ["failed", "container_expired"]);
  assert.equal((await ledgerFor(m2)).length, 0);
});

test("ERROR containers fail with Meta's status; media download failures retry, then fail naming the URL", async () => {
  const b = await brand();
  const m = marker();
  await sandbox("containers/script", { in_progress_checks: 0, final: "ERROR", error_status: "Error: 2207026", match_caption: m });
  const broken = await queue(b, { targets: ["instagram"], content: { text: `broken ${m}`, image_url: IMAGE } });
  await pass();
  const view = await job(b, broken.id);
  assert.equal(view.target.instagram.last_error_reason, "container_error");
  assert.match(view.target.instagram.last_error_message, /2207026/);

  const m2 = marker();
  await fault({ path_prefix: `/v26.0/${b.igId}/media`, method: "POST", times: 3, match_param: { name: "caption", contains: m2 },
    error: { message: "Media download has failed.", code: 9004, error_subcode: 2207052, is_transient: false } });
  const { id } = await queue(b, { targets: ["instagram"], content: { text: `fetch ${m2}`, image_url: IMAGE } });
  for (let i = 0; i < 2; i++) {
    await pass();
    const retrying = await job(b, id);
    assert.deepEqual([retrying.status, retrying.target.instagram.last_error_reason], ["queued", "media_fetch_failed"]);
    makeDue(id);
  }
  await pass();
  const failed = await job(b, id);
  assert.deepEqual([failed.status, failed.target.instagram.last_error_reason], ["failed", "media_fetch_failed"]);
  assert.match(failed.target.instagram.last_error_message, /https:\/\/images\.test\/photo\.jpg/);
  assert.equal(failed.target.instagram.attempts, 3);
});

test("an unanswered Facebook post goes to review and is never sent again", async () => {
  const b = await brand();
  const m = marker();
  await fault({ path_prefix: `/v26.0/${b.pageId}/feed`, kind: "drop", match_param: { name: "message", contains: m } });
  const dropped = await queue(b, { content: { text: `dropped ${m}` } });
  const m2 = marker();
  await fault({ path_prefix: `/v26.0/${b.pageId}/feed`, kind: "hang", hang_ms: 4000, after_action: true, match_param: { name: "message", contains: m2 } });
  const hung = await queue(b, { content: { text: `hung ${m2}` } });
  const summary = await pass();
  assert.ok(summary.needs_review >= 2, JSON.stringify(summary));
  for (const id of [dropped.id, hung.id]) {
    const view = await job(b, id);
    assert.deepEqual([view.status, view.target.facebook.status, view.target.facebook.last_error_reason], ["needs_review", "needs_review", "outcome_unknown"]);
    assert.ok(view.target.facebook.send_started_at, "the mark stays, for the reviewer");
  }
  await new Promise((resolve) => setTimeout(resolve, 2500)); // let the hung call finish on the sandbox side
  await pass();
  assert.equal((await ledgerFor(m)).length, 1);
  assert.equal((await ledgerFor(m2)).length, 1);

  // A pass that died after marking (its lease expired): the next one does not post again.
  const m3 = marker();
  const crashed = await queue(b, { content: { text: `crashed ${m3}` } });
  sql(`update public.publish_jobs set status = 'running', lease_owner = 'pass-dead0001', lease_expires_at = now() - interval '1 second' where id = '${crashed.id}'`);
  sql(`update public.publish_job_targets set send_started_at = now() - interval '5 minutes' where job_id = '${crashed.id}'`);
  await pass();
  const view = await job(b, crashed.id);
  assert.deepEqual([view.status, view.target.facebook.last_error_reason], ["needs_review", "outcome_unknown"]);
  assert.equal((await ledgerFor(m3)).length, 0);
  assert.equal((await callsTo(`/${b.pageId}/feed`)).filter((c) => c.params.message?.includes(m3)).length, 0);
});

test("an unanswered Instagram step is settled by reading the container, never by publishing blindly", async () => {
  const b = await brand();
  const m = marker();
  // media_publish acted, then the connection dropped: the next pass sees PUBLISHED.
  await fault({ path_prefix: `/v26.0/${b.igId}/media_publish`, kind: "drop" });
  const { id } = await queue(b, { targets: ["instagram"], content: { text: `unconfirmed ${m}`, image_url: IMAGE } });
  await pass();
  let view = await job(b, id);
  assert.deepEqual([view.status, view.target.instagram.last_error_reason, view.target.instagram.status], ["queued", "publish_unconfirmed", "container_created"]);
  assert.equal((await ledgerFor(m)).length, 1, "it is live already");
  makeDue(id);
  await pass();
  view = await job(b, id);
  assert.equal(view.status, "published");
  assert.equal(view.target.instagram.external_id, `container:${view.target.instagram.container_id}`);
  assert.equal((await callsTo(`/${b.igId}/media_publish`)).length, 1, "never published twice");
  assert.equal((await ledgerFor(m)).length, 1);

  // The container creation's answer was lost: an orphan container publishes nothing; a new one is made.
  const m2 = marker();
  await fault({ path_prefix: `/v26.0/${b.igId}/media`, method: "POST", kind: "drop", match_param: { name: "caption", contains: m2 } });
  const second = await queue(b, { targets: ["instagram"], content: { text: `orphan ${m2}`, image_url: IMAGE } });
  await pass();
  assert.equal((await job(b, second.id)).status, "queued");
  makeDue(second.id);
  await pass();
  assert.equal((await job(b, second.id)).status, "published");
  assert.equal((await ledgerFor(m2)).length, 1);
});

test("an Instagram target whose publish went unanswered is never failed or cancelled except by its container", async () => {
  const b = await brand();
  const m = marker();
  await fault({ path_prefix: `/v26.0/${b.igId}/media_publish`, kind: "drop", times: 2 });
  const downgraded = await queue(b, { targets: ["instagram"], content: { text: `downgraded ${m}`, image_url: IMAGE } });
  await pass();
  assert.equal((await job(b, downgraded.id)).target.instagram.status, "container_created");
  // The plan drops below Growth before the recheck: the post is live, so it goes to review.
  sql(`update public.workspaces set plan = 'starter' where id = '${b.ws.id}'`);
  makeDue(downgraded.id);
  await pass();
  let view = await job(b, downgraded.id);
  assert.deepEqual([view.status, view.target.instagram.status, view.target.instagram.last_error_reason], ["needs_review", "needs_review", "container_unverified"]);
  assert.match(view.target.instagram.last_error_message, /Growth plan.*may already have been published/);
  assert.equal((await ledgerFor(m)).length, 1);
  sql(`update public.workspaces set plan = 'growth' where id = '${b.ws.id}'`);
  // The operator retries it (confirmed): the container is kept and read first, so the post that
  // already went live settles the target instead of going out a second time.
  const retried = await api(`/api/publish/jobs/${downgraded.id}/retry`, { method: "POST", bearer: vars.OPERATOR_TOKEN, body: { confirm_needs_review: true } });
  assert.equal(retried.status, 200);
  assert.equal((await retried.json()).job.results[0].status, "container_created");
  await pass();
  view = await job(b, downgraded.id);
  assert.deepEqual([view.status, view.target.instagram.external_id], ["published", `container:${view.target.instagram.container_id}`]);
  assert.equal((await ledgerFor(m)).length, 1, "still exactly once");

  // Cancelling it while its container waits: the job is cancelled, the target goes to review.
  const m2 = marker();
  const cancelled = await queue(b, { targets: ["instagram", "facebook"], content: { text: `cancelled ${m2}`, image_url: IMAGE } });
  await pass();
  view = await job(b, cancelled.id);
  assert.deepEqual([view.status, view.target.facebook.status, view.target.instagram.status], ["queued", "published", "container_created"]);
  const response = await api(`/api/publish/jobs/${cancelled.id}/cancel`, { method: "POST", jwt: b.jwt });
  assert.equal(response.status, 200);
  view = await job(b, cancelled.id);
  assert.deepEqual([view.status, view.target.facebook.status, view.target.instagram.status, view.target.instagram.last_error_reason],
    ["cancelled", "published", "needs_review", "cancelled_in_flight"]);
  assert.equal((await ledgerFor(m2)).length, 2, "both went live, and nothing more");
});

test("the Instagram publishing quota is read once per account per pass and waited on, not failed", async () => {
  const b = await brand();
  const m = marker();
  await sandbox("quota", { ig_user_id: b.igId, quota_total: 2 });
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await queue(b, { targets: ["instagram"], content: { text: `quota ${i} ${m}`, image_url: IMAGE } })).id);
  await pass();
  const views = await Promise.all(ids.map((id) => job(b, id)));
  assert.deepEqual(views.map((v) => v.status).sort(), ["published", "published", "queued"]);
  const waiting = views.find((v) => v.status === "queued");
  assert.equal(waiting.target.instagram.last_error_reason, "publishing_limit_reached");
  assert.ok(Date.parse(waiting.next_attempt_at) > Date.now() + 50 * 60_000);
  assert.equal((await callsTo(`/${b.igId}/content_publishing_limit`)).length, 1);
  assert.equal((await ledgerFor(m)).length, 2);
});

test("transient errors back off and give up after the maximum; invalid stored jobs fail clearly without Graph", async () => {
  const b = await brand();
  const m = marker();
  await fault({ path_prefix: `/v26.0/${b.pageId}/feed`, times: 10, status: 500, match_param: { name: "message", contains: m },
    error: { message: "An unexpected error has occurred. Please retry your request later.", code: 2, is_transient: true } });
  const { id } = await queue(b, { content: { text: `flaky ${m}` } });
  const started = Date.now();
  await pass();
  let view = await job(b, id);
  assert.deepEqual([view.status, view.target.facebook.last_error_reason, view.target.facebook.status], ["queued", "graph_unavailable", "pending"]);
  const wait = Date.parse(view.next_attempt_at) - started;
  assert.ok(wait >= 45_000 && wait <= 80_000, `first backoff about a minute with jitter: ${wait}`);
  sql(`update public.publish_job_targets set attempts = 4 where job_id = '${id}'`);
  makeDue(id);
  await pass();
  view = await job(b, id);
  assert.deepEqual([view.status, view.target.facebook.last_error_reason], ["failed", "graph_unavailable"]);
  assert.equal(view.target.facebook.attempts, 5);
  assert.equal((await ledgerFor(m)).length, 0);

  // The host app inserted content that cannot be published: a clear failure, no Graph call.
  const bad = sql(`insert into public.publish_jobs (workspace_id, targets, payload_json, scheduled_at)
    values ('${b.ws.id}', '{instagram}', '{"version":1,"text":"no image ${m}"}', now()) returning id`).split("\n")[0];
  const calls = (await sandbox("calls")).length;
  await pass();
  view = await job(b, bad);
  assert.deepEqual([view.status, view.target.instagram.last_error_reason], ["failed", "invalid_content"]);
  assert.match(view.target.instagram.last_error_message, /image/i);
  assert.deepEqual(view.attempt_log.map((a) => [a.step, a.outcome]), [["validate", "failed"]]);
  assert.equal((await sandbox("calls")).length, calls, "no Graph call for it");
});

test("the cron trigger runs the same pass and logs its summary and each outcome without post text", async () => {
  const b = await brand();
  const m = marker();
  const { id } = await queue(b, { content: { text: `cron ${m}` } });
  await worker.scheduled("* * * * *");
  assert.equal((await job(b, id)).status, "published");
  const line = worker.events("publish_pass").find((e) => e.trigger === "cron" && e.published >= 1);
  assert.ok(line, "summary logged");
  assert.equal(line.cron, "* * * * *");
  const outcome = worker.events("publish_target").find((e) => e.job_id === id);
  assert.deepEqual([outcome.target, outcome.outcome, outcome.workspace_id], ["facebook", "published", b.ws.id]);
  const logs = worker.logs.map((entry) => entry.message).join("\n");
  assert.ok(!logs.includes(m), "no post text in the logs");
  for (const token of await sandbox("issued-tokens")) assert.ok(!logs.includes(token), "no token in the logs");
});
