// `npm run bench`: prints the Worker's size and latency figures (no pass/fail thresholds).
// Runs the built .wasm in workerd (Miniflare) against its own stack (the "bench" profile).

import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { generateSecrets, ROOT, Stack } from "./lib/stack.mjs";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
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
  const { startWorker } = await import("../tests/worker/harness.mjs");
  const coldStarted = performance.now();
  const worker = await startWorker();
  await (await worker.fetch("/api/health")).arrayBuffer();
  console.log(`bench: workerd start + first /api/health    ${(performance.now() - coldStarted).toFixed(0)} ms`);
  await measure(worker, "GET /api/health (PostgREST trip)", "/api/health", 200);
  await measure(worker, "GET /unknown (404, no I/O)", "/unknown", 404);
  await worker.dispose();
} finally {
  await stack.stop();
}
