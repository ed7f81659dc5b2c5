// Exactly-once publishing under pressure, through the built Worker: eight passes started at once
// over 200 due jobs, and PostgREST stopped in the middle of a pass. The sandbox's ledger of
// posts that went live is the judge: no post twice, and every job ends settled or claimable.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { ROOT } from "../../scripts/lib/stack.mjs";
import { startWorker, stackVars } from "./harness.mjs";
import { apiOf, connectedWorkspace, facebookUser, sandbox, sql } from "./fixtures.mjs";

const vars = stackVars();
let worker;

before(async () => {
  worker = await startWorker();
  await sandbox("reset", {});
});
after(async () => {
  await sandbox("latency", { ms: 0 });
  await worker?.dispose();
});

async function brand(api) {
  const user = await facebookUser("63");
  return { ...user, ws: await connectedWorkspace(api, user) };
}

/** Inserts due jobs directly, as the host app may: `count` per target, each with its own marker. */
function insertJobs(ws, perTarget, run) {
  const rows = [];
  for (const target of ["facebook", "instagram"]) {
    for (let i = 0; i < perTarget; i++) {
      const payload = { version: 1, text: `${run}-${ws.id.slice(0, 8)}-${target}-${i}`, ...(target === "instagram" ? { image_url: "https://images.test/photo.jpg" } : {}) };
      rows.push(`('${ws.id}', '{${target}}', '${JSON.stringify(payload)}', now() - interval '1 minute')`);
    }
  }
  sql(`insert into public.publish_jobs (workspace_id, targets, payload_json, scheduled_at) values ${rows.join(",")}`);
}

const pass = (w) => apiOf(w)("/api/publish/meta-due", { method: "POST", bearer: vars.CRON_SECRET });
const jobStates = (run) =>
  sql(`select j.status || '/' || t.status || '/' || (j.payload_json->>'text') from public.publish_jobs j
       join public.publish_job_targets t on t.job_id = j.id where j.payload_json->>'text' like '${run}-%'`).split("\n").filter(Boolean);

/** Passes until nothing is due: retries are made due at once, expired leases freed. */
async function drain(w, run) {
  for (let round = 0; round < 20; round++) {
    sql(`update public.publish_jobs set next_attempt_at = now() - interval '1 second' where status = 'queued' and payload_json->>'text' like '${run}-%'`);
    const summary = await (await pass(w)).json();
    if (summary.claimed === 0) return;
  }
  assert.fail("the jobs never settled");
}

function assertOncePerMarker(ledger, run, expectLive) {
  const counts = new Map();
  for (const entry of ledger) {
    const text = entry.message ?? entry.caption ?? "";
    if (text.startsWith(`${run}-`)) counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  for (const [text, count] of counts) assert.equal(count, 1, `${text} was posted ${count} times`);
  if (expectLive !== undefined) assert.equal(counts.size, expectLive);
  return counts;
}

test("eight passes started at once over 200 due jobs post each exactly once", async () => {
  const api = apiOf(worker);
  const run = `load${crypto.randomUUID().slice(0, 6)}`;
  const brands = [];
  for (let i = 0; i < 4; i++) brands.push(await brand(api));
  for (const b of brands) insertJobs(b.ws, 25, run);
  // Slow enough that the passes overlap; a few transient failures for the retries to settle.
  await sandbox("latency", { ms: 20 });
  await sandbox("faults", { path_prefix: `/v26.0/${brands[0].pageId}/feed`, times: 3, status: 503, error: { message: "Service unavailable", code: 2, is_transient: true } });

  const answers = await Promise.all(Array.from({ length: 8 }, () => pass(worker).then((r) => r.json())));
  // Each job was claimed by exactly one of the passes (other tests' jobs may be due too).
  const claims = sql(`select attempts, count(*) from public.publish_jobs where payload_json->>'text' like '${run}-%' group by attempts`);
  assert.equal(claims, "1|200", `every job claimed once: ${JSON.stringify(answers)}`);
  assert.ok(answers.filter((a) => a.claimed > 0).length >= 2, "the passes really shared the work");
  const stuck = jobStates(run).filter((state) => state.startsWith("running/"));
  assert.deepEqual(stuck, [], "every job ends settled or claimable, none left running");

  await drain(worker, run);
  await sandbox("latency", { ms: 0 });
  assertOncePerMarker(await sandbox("ledger"), run, 200);
  const states = jobStates(run);
  assert.equal(states.length, 200);
  assert.deepEqual(states.filter((s) => !s.startsWith("published/published/")), []);
});

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = http.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** A PostgREST of this test's own (the real binary, on the stack's database) behind a
 * Supabase-style /rest/v1 gateway, so the test can stop it and start it again. */
async function ownPostgrest() {
  // Ports the system hands out now: fixed ones can be taken by another connection's local end.
  const port = await freePort();
  let child = null;
  const start = async () => {
    child = spawn(path.join(ROOT, ".tools/bin/postrust"), [], {
      env: {
        ...process.env,
        PGRST_DB_URI: process.env.STACK_AUTHENTICATOR_URL,
        PGRST_DB_SCHEMAS: "public",
        PGRST_DB_ANON_ROLE: "anon",
        PGRST_JWT_SECRET: vars.SUPABASE_JWT_SECRET,
        PGRST_SERVER_HOST: "127.0.0.1",
        PGRST_SERVER_PORT: String(port),
        PGRST_COMPAT_MODE: "true",
        RUST_LOG: "error",
      },
      stdio: "ignore",
    });
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/`)).status < 500) return;
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("postrust did not start");
  };
  const gateway = http.createServer((req, res) => {
    const upstream = http.request(
      { host: "127.0.0.1", port, method: req.method, path: req.url.replace(/^\/rest\/v1/, "") || "/", headers: { ...req.headers, host: `127.0.0.1:${port}` } },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { "content-type": "application/json" });
      res.end('{"message":"PostgREST is down"}');
    });
    req.pipe(upstream);
  });
  await new Promise((resolve) => gateway.listen(0, "127.0.0.1", resolve));
  await start();
  return {
    url: `http://127.0.0.1:${gateway.address().port}`,
    start,
    stop: () => new Promise((resolve) => {
      child.once("exit", resolve);
      child.kill("SIGKILL");
    }),
    close: async () => {
      child?.kill("SIGKILL");
      gateway.close();
      gateway.closeAllConnections();
    },
  };
}

test("PostgREST stopped mid-pass: nothing is lost, and later passes finish without duplicates", async () => {
  const rest = await ownPostgrest();
  const fragile = await startWorker({ SUPABASE_URL: rest.url });
  try {
    const run = `down${crypto.randomUUID().slice(0, 6)}`;
    const b = await brand(apiOf(worker));
    insertJobs(b.ws, 12, run);
    await sandbox("latency", { ms: 150 });
    const answer = pass(fragile);
    // Stop PostgREST once posts have started going out.
    for (let i = 0; i < 200; i++) {
      const live = (await sandbox("ledger")).filter((e) => (e.message ?? e.caption ?? "").startsWith(`${run}-`));
      if (live.length >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await rest.stop();
    const response = await answer;
    const body = await response.json();
    assert.equal(response.status, 503, JSON.stringify(body));
    assert.equal(body.error.code, "database_unavailable");

    await rest.start();
    await sandbox("latency", { ms: 0 });
    // The leases of the dead pass expire; the work comes back to the queue.
    assert.ok(jobStates(run).some((s) => s.startsWith("running/")), "the pass held jobs when PostgREST went");
    sql(`update public.publish_jobs set lease_expires_at = now() - interval '1 second' where status = 'running' and payload_json->>'text' like '${run}-%'`);
    await drain(fragile, run);

    const live = assertOncePerMarker(await sandbox("ledger"), run);
    const states = jobStates(run);
    assert.equal(states.length, 24, "no job lost");
    for (const state of states) {
      const [job, target, text] = state.split("/");
      if (text.includes("-instagram-")) {
        assert.equal(`${job}/${target}`, "published/published", `${text}: the container is found again`);
      } else if (job === "needs_review") {
        // Sent while PostgREST was down: live, but its answer could not be recorded.
        assert.ok(live.has(text), `${text} is in review only because it may be live, and it is`);
      } else {
        assert.equal(`${job}/${target}`, "published/published", text);
      }
      assert.ok(job === "needs_review" || live.has(text), `${text} went live`);
    }
  } finally {
    await sandbox("latency", { ms: 0 });
    await fragile.dispose();
    await rest.close();
  }
});
