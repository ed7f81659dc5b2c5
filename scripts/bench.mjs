// `npm run bench`: prints the Worker's size, latency and publish-pass figures (no pass/fail
// thresholds). Runs the built .wasm in workerd (Miniflare) against its own stack (the "bench"
// profile) and the Meta sandbox.
//
// The publish bench: 200 due jobs (100 Facebook, 100 Instagram, over 4 workspaces) with 100 ms
// per Graph call. It prints the wall time of the passes that publish them next to the lower
// bound set by 6 concurrent connections (Graph calls x 100 ms / 6), Graph calls per job,
// PostgREST round trips per pass, and the same jobs with one request in flight.

import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { generateSecrets, ROOT, Stack } from "./lib/stack.mjs";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const GRAPH_LATENCY_MS = 100;
const CONCURRENCY = 6;

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(worker, label, pathAndQuery, expectStatus) {
  const times = [];
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    const response = await worker.fetch(pathAndQuery);
    await response.arrayBuffer();
    if (response.status !== expectStatus) throw new Error(`${label}: status ${response.status}`);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) await (await worker.fetch(pathAndQuery)).arrayBuffer();
    }),
  );
  const perSecond = REQUESTS / ((performance.now() - started) / 1000);
  console.log(
    `bench: ${label.padEnd(34)} p50 ${percentile(times, 50).toFixed(2)} ms  p95 ${percentile(times, 95).toFixed(2)} ms  ` +
      `${perSecond.toFixed(0)} req/s at concurrency ${CONCURRENCY}`,
  );
}

/** Publishes 200 due jobs with `overrides`; prints the figures and answers the wall time. */
async function benchPublish(startWorker, overrides, label) {
  const { apiOf, connect, sandbox, sql, workspace } = await import("../tests/worker/fixtures.mjs");
  const worker = await startWorker(overrides);
  const api = apiOf(worker);
  const run = `bench${Date.now()}`;
  await sandbox("latency", { ms: 0 });
  for (let w = 0; w < 4; w++) {
    const stamp = `${Date.now() % 1e9}`.padStart(9, "0") + w;
    const [user, page, ig] = [`65${stamp}`, `66${stamp}`, `180${stamp}`];
    await sandbox("users", { users: [{ id: user, name: "Bench", pages: [{ id: page, name: "Bench", instagram: { id: ig, username: `bench${w}` } }] }] });
    await sandbox("quota", { ig_user_id: ig, quota_total: 1000 });
    const ws = workspace("growth", ["owner"]);
    await connect(api, ws, ws.members.owner.jwt, user);
    const rows = [];
    for (const target of ["facebook", "instagram"]) {
      for (let i = 0; i < 25; i++) {
        const payload = { version: 1, text: `${run} ${w} ${target} ${i}`, ...(target === "instagram" ? { image_url: "https://images.example/p.jpg" } : {}) };
        rows.push(`('${ws.id}', '{${target}}', '${JSON.stringify(payload)}', now() - interval '1 minute')`);
      }
    }
    sql(`insert into public.publish_jobs (workspace_id, targets, payload_json, scheduled_at) values ${rows.join(",")}`);
  }
  await sandbox("latency", { ms: GRAPH_LATENCY_MS });
  const callsBefore = (await sandbox("calls")).length;
  const passes = [];
  const started = performance.now();
  for (;;) {
    const response = await api("/api/publish/meta-due", { method: "POST", bearer: process.env.BENCH_CRON_SECRET });
    const summary = await response.json();
    if (response.status !== 200) throw new Error(`pass: ${response.status} ${JSON.stringify(summary)}`);
    if (summary.claimed === 0) break;
    passes.push(summary);
  }
  const wall = performance.now() - started;
  await sandbox("latency", { ms: 0 });
  const published = Number(sql(`select count(*) from public.publish_jobs where status = 'published' and payload_json->>'text' like '${run} %'`));
  const graphCalls = passes.reduce((sum, p) => sum + p.graph_calls, 0);
  const storeCalls = passes.reduce((sum, p) => sum + p.store_calls, 0);
  const recorded = (await sandbox("calls")).length - callsBefore;
  const bound = (graphCalls * GRAPH_LATENCY_MS) / 6;
  console.log(
    `bench: publish 200 jobs, ${label.padEnd(12)} ${published} published in ${passes.length} pass(es), ${(wall / 1000).toFixed(2)} s ` +
      `(lower bound at 6 connections ${(bound / 1000).toFixed(2)} s, ${(wall / bound).toFixed(2)}x)`,
  );
  console.log(
    `bench:   Graph calls ${graphCalls} (${(graphCalls / 200).toFixed(2)} per job; sandbox saw ${recorded}), ` +
      `PostgREST round trips ${storeCalls} (${(storeCalls / passes.length).toFixed(1)} per pass, ${(storeCalls / 200).toFixed(2)} per job)`,
  );
  await worker.dispose();
  return wall;
}

const wasmPath = path.join(ROOT, "build/index_bg.wasm");
const wasm = fs.readFileSync(wasmPath);
const gzip = execFileSync("gzip", ["-9", "-c", wasmPath], { maxBuffer: 64 << 20 }); // as scripts/build.sh
console.log(`bench: index_bg.wasm ${wasm.length} bytes raw (${(wasm.length / 1024).toFixed(0)} KiB), ${gzip.length} bytes gzip (${(gzip.length / 1024).toFixed(0)} KiB)`);

const stack = new Stack("bench", { secrets: generateSecrets() });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, async () => {
    await stack.stop();
    process.exit(130);
  });
}
try {
  await stack.start();
  process.env.STACK_WORKER_VARS = JSON.stringify(stack.vars);
  process.env.BENCH_CRON_SECRET = stack.vars.CRON_SECRET;
  const { startWorker } = await import("../tests/worker/harness.mjs");
  const coldStarted = performance.now();
  const worker = await startWorker();
  await (await worker.fetch("/api/health")).arrayBuffer();
  console.log(`bench: workerd start + first /api/health    ${(performance.now() - coldStarted).toFixed(0)} ms`);
  await measure(worker, "GET /api/health (PostgREST trip)", "/api/health", 200);
  await measure(worker, "GET /unknown (404, no I/O)", "/unknown", 404);
  await worker.dispose();
  Object.assign(process.env, stack.testEnv());
  const six = await benchPublish(startWorker, {}, "6 in flight");
  const one = await benchPublish(startWorker, { PUBLISH_MAX_IN_FLIGHT: "1" }, "1 in flight");
  console.log(`bench: publish, 1 in flight / 6 in flight        ${(one / six).toFixed(2)}x the wall time`);
} finally {
  await stack.stop();
}
