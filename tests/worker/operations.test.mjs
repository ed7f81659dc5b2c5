// The operators' tools through the built Worker: the daily token health check (from the Cron
// Trigger, against the sandbox's scripted debug_token), the troubleshooting API (jobs across
// workspaces with explanations, retry that never re-posts a published target, connection
// health), the configuration self-check, and the operator token on all of them.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, test } from "node:test";
import { eventually, startWorker, stackVars } from "./harness.mjs";
import { apiOf, connectedWorkspace, facebookUser, sandbox, sql } from "./fixtures.mjs";

const vars = stackVars();
let worker;
let api;

before(async () => {
  worker = await startWorker();
  api = apiOf(worker);
});
after(() => worker?.dispose());

async function brand() {
  const user = await facebookUser("69");
  const ws = await connectedWorkspace(api, user);
  return { ...user, ws, jwt: ws.members.owner.jwt };
}

const operator = (path, init = {}) => api(path, { ...init, bearer: init.bearer === undefined ? vars.OPERATOR_TOKEN : init.bearer });
const pass = async () => (await api("/api/publish/meta-due", { method: "POST", bearer: vars.CRON_SECRET })).json();
const debugCalls = async () => (await sandbox("calls")).filter((c) => c.path.endsWith("/debug_token")).length;

/** A due job inserted as the host app may do it (Instagram gets an image). */
function queue(b, targets, text) {
  const payload = { version: 1, text, ...(targets.includes("instagram") ? { image_url: "https://images.example/a.jpg" } : {}) };
  return sql(`insert into public.publish_jobs (workspace_id, targets, payload_json, scheduled_at)
              values ('${b.ws.id}', '{${targets.join(",")}}', '${JSON.stringify(payload)}', now())
              returning id`).split("\n")[0];
}

test("operator endpoints refuse a missing or wrong token, the cron secret included", async () => {
  const job = crypto.randomUUID();
  for (const bearer of [null, "wrong", vars.CRON_SECRET, `${vars.OPERATOR_TOKEN}x`]) {
    for (const [method, path] of [["GET", "/api/ops/jobs"], ["GET", "/api/ops/connections"], ["GET", "/api/ops/doctor"], ["POST", `/api/publish/jobs/${job}/retry`]]) {
      const response = await api(path, { method, bearer: bearer ?? undefined });
      const body = await response.json();
      assert.deepEqual([response.status, body.error.code], [401, "unauthenticated"], `${method} ${path} with ${bearer ? "a wrong" : "no"} token`);
    }
  }
});

test("retry puts failed and in-review targets back, never a published one, and asks to confirm a review", async () => {
  const b = await brand();
  const m = `R${crypto.randomUUID().slice(0, 8)}`;
  await sandbox("faults", { path_prefix: `/v26.0/${b.igId}/media`, method: "POST", match_param: { name: "caption", contains: m },
    error: { message: "Invalid caption", code: 36003, error_subcode: 2207010, error_user_msg: "The caption is not allowed" } });
  const id = queue(b, ["facebook", "instagram"], `partial ${m}`);
  await pass();
  assert.equal(sql(`select status from public.publish_jobs where id = '${id}'`), "failed");

  // Across workspaces, with the reason explained for people.
  const listed = await (await operator(`/api/ops/jobs?status=failed&limit=100`)).json();
  const found = listed.jobs.find((j) => j.id === id);
  assert.ok(found, "the failed job is listed");
  assert.match(found.last_error, /^content_rejected/);
  assert.deepEqual(Object.keys(found.explanation).sort(), ["action", "summary"]);
  assert.match(found.explanation.action, /fix the image or text/i);
  const view = await (await api(`/api/publish/jobs/${id}`, { jwt: b.jwt })).json();
  assert.equal(view.results.find((r) => r.target === "instagram").explanation.summary, found.explanation.summary);

  const retried = await operator(`/api/publish/jobs/${id}/retry`, { method: "POST" });
  assert.equal(retried.status, 200);
  const answer = await retried.json();
  assert.deepEqual(answer.retried, ["instagram"]);
  assert.equal(answer.job.status, "queued");
  assert.deepEqual(answer.job.results.map((r) => [r.target, r.status]), [["facebook", "published"], ["instagram", "pending"]]);
  await pass();
  assert.equal(sql(`select status from public.publish_jobs where id = '${id}'`), "published");
  const ledger = (await sandbox("ledger")).filter((e) => (e.message ?? e.caption ?? "").includes(m));
  assert.deepEqual(ledger.map((e) => e.kind).sort(), ["instagram", "photo"], "Facebook went out once, before the retry, and never again");

  // A post that may be live: only with the confirmation.
  const m2 = `R${crypto.randomUUID().slice(0, 8)}`;
  await sandbox("faults", { path_prefix: `/v26.0/${b.pageId}/feed`, kind: "drop", match_param: { name: "message", contains: m2 } });
  const review = queue(b, ["facebook"], `review ${m2}`);
  await pass();
  assert.equal(sql(`select status from public.publish_jobs where id = '${review}'`), "needs_review");
  const unconfirmed = await operator(`/api/publish/jobs/${review}/retry`, { method: "POST", body: {} });
  assert.deepEqual([unconfirmed.status, (await unconfirmed.json()).error.code], [409, "confirmation_required"]);
  const confirmed = await operator(`/api/publish/jobs/${review}/retry`, { method: "POST", body: { confirm_needs_review: true } });
  assert.equal(confirmed.status, 200);
  assert.equal((await confirmed.json()).job.results[0].send_started_at, null, "the mark is cleared for the new try");
  await pass();
  assert.equal(sql(`select status from public.publish_jobs where id = '${review}'`), "published");

  for (const [job, code, status] of [[id, "not_retryable", 409], [crypto.randomUUID(), "not_found", 404], ["not-a-uuid", "not_found", 404]]) {
    const response = await operator(`/api/publish/jobs/${job}/retry`, { method: "POST" });
    assert.deepEqual([response.status, (await response.json()).error.code], [status, code]);
  }
  const bad = await operator(`/api/publish/jobs/${id}/retry`, { method: "POST", body: { confirm_needs_review: "yes" } });
  assert.equal(bad.status, 400);
});

test("the daily token health check flips the right connections, once per day", async () => {
  const [invalid, missingPage, expiring, healthy] = [await brand(), await brand(), await brand(), await brand()];
  await sandbox("invalidate", { user_id: invalid.fbUser });
  await sandbox("debug-token", { user_id: missingPage.fbUser, remove_targets: { pages_manage_posts: [missingPage.pageId] } });
  await sandbox("debug-token", { user_id: expiring.fbUser, expires_at: Math.floor(Date.now() / 1000) + 3 * 86400 });

  // Each cron invocation checks a bounded batch; run until nothing is due today.
  const due = () => sql(`select count(*) from public.meta_connections where status = 'active'
                         and (health_checked_at is null or health_checked_at < date_trunc('day', now() at time zone 'utc') at time zone 'utc')`);
  for (let round = 0; round < 20 && due() !== "0"; round++) await worker.scheduled("* * * * *");
  assert.equal(due(), "0");
  const statusOf = (b) => sql(`select status || '|' || coalesce(status_reason, '') || '|' || coalesce(health_problem, '') from public.meta_connections where workspace_id = '${b.ws.id}'`);
  assert.equal(statusOf(invalid), "needs_reauth|token_invalid|token_invalid");
  assert.equal(statusOf(missingPage), `needs_reauth|permission_missing_for_page:pages_manage_posts:${missingPage.pageId}|permission_missing_for_page:pages_manage_posts:${missingPage.pageId}`);
  assert.equal(statusOf(expiring), "needs_reauth|token_expiring|token_expiring");
  assert.equal(statusOf(healthy), "active||");
  const line = await eventually(() => worker.events("token_health").find((e) => e.workspace_id === expiring.ws.id));
  assert.deepEqual([line.outcome, line.problem], ["needs_reauth", "token_expiring"]);
  // The member's view shows it; the operator's view lists it.
  const view = await (await api(`/api/meta/connection?workspace_id=${missingPage.ws.id}`, { jwt: missingPage.jwt })).json();
  assert.equal(view.status, "needs_reauth");
  assert.ok(view.health.checked_at);
  const overview = await (await operator("/api/ops/connections?status=needs_reauth")).json();
  assert.ok(overview.connections.some((c) => c.workspace_id === invalid.ws.id && c.health_problem === "token_invalid"));
  assert.ok(!JSON.stringify(overview).includes(invalid.fbUser), "no Facebook user ids in the overview");
  const one = await (await operator(`/api/ops/connections?workspace_id=${healthy.ws.id}`)).json();
  assert.equal(one.status, "active");

  // Once per day: the cron fires again, nothing is asked again.
  const calls = await debugCalls();
  await worker.scheduled("* * * * *");
  await worker.scheduled("* * * * *");
  assert.equal(await debugCalls(), calls);
  // The next day, the connection is checked again.
  sql(`update public.meta_connections set health_checked_at = now() - interval '1 day' where workspace_id = '${healthy.ws.id}'`);
  await worker.scheduled("* * * * *");
  assert.equal(await debugCalls(), calls + 1);
  const debugCall = (await sandbox("calls")).filter((c) => c.path.endsWith("/debug_token")).at(-1);
  assert.equal(debugCall.token_owner, "app");
  assert.equal(debugCall.params.input_token, `<token of user:${healthy.fbUser}>`);
});

test("the doctor names what is missing or broken, never a value", async () => {
  const full = await operator("/api/ops/doctor");
  const report = await full.json();
  assert.equal(full.status, 200, JSON.stringify(report));
  assert.equal(report.ok, true);
  assert.deepEqual([report.supabase.status, report.graph.status, report.graph_api_version], ["ok", "ok", "v26.0"]);
  assert.ok(report.variables.every((v) => v.well_formed), JSON.stringify(report.variables.filter((v) => !v.well_formed)));

  const secrets = Object.values(vars).filter((value) => typeof value === "string" && value.length >= 8 && !value.startsWith("http") && !/^v\d/.test(value));
  const cases = [
    [{ META_APP_SECRET: null }, (r) => {
      const entry = r.variables.find((v) => v.name === "META_APP_SECRET");
      assert.deepEqual([entry.present, entry.well_formed, entry.problem], [false, false, "is not set"]);
      assert.equal(r.supabase.status, "not_checked");
    }],
    [{ SUPABASE_SERVICE_ROLE_KEY: "wrong-key" }, (r) => assert.equal(r.supabase.status, "credentials_rejected")],
    [{ META_APP_SECRET: "another-app-secret" }, (r) => assert.equal(r.graph.status, "credentials_rejected")],
    [{ APP_URL: "http://not-https.example" }, (r) => assert.match(r.variables.find((v) => v.name === "APP_URL").problem, /https/)],
  ];
  for (const [overrides, check] of cases) {
    const broken = await startWorker(overrides);
    try {
      const response = await broken.fetch("/api/ops/doctor", { headers: { authorization: `Bearer ${vars.OPERATOR_TOKEN}` } });
      const text = await response.text();
      assert.equal(response.status, 503, text);
      const body = JSON.parse(text);
      assert.equal(body.ok, false);
      check(body);
      for (const secret of [...secrets, ...Object.values(overrides).filter(Boolean)]) assert.ok(!text.includes(secret), "a value leaked");
    } finally {
      await broken.dispose();
    }
  }
  // Without a usable operator token nobody can be let in; the answer names it.
  const locked = await startWorker({ OPERATOR_TOKEN: null });
  try {
    const response = await locked.fetch("/api/ops/doctor", { headers: { authorization: `Bearer ${vars.OPERATOR_TOKEN}` } });
    const body = await response.json();
    assert.deepEqual([response.status, body.error.code], [500, "misconfigured"]);
    assert.match(body.error.message, /OPERATOR_TOKEN/);
  } finally {
    await locked.dispose();
  }
});
