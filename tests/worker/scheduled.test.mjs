// The Cron Trigger runs the publish pass and logs exactly one structured summary line;
// each HTTP request logs one line without its query string.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { eventually, startWorker, stackVars } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.dispose());

test("the scheduled handler runs the pass and logs one publish_pass summary", async () => {
  const result = await worker.scheduled("* * * * *");
  assert.equal(result.outcome, "ok");
  const lines = await eventually(() => worker.events("publish_pass").length === 1 && worker.events("publish_pass"));
  assert.ok(lines, `expected one publish_pass line, got: ${JSON.stringify(worker.logs)}`);
  const [line] = lines;
  assert.equal(line.trigger, "cron");
  assert.equal(line.cron, "* * * * *");
  assert.equal(line.outcome, "ok");
  for (const field of ["claimed", "published", "in_progress", "retry_scheduled", "failed", "needs_review", "duration_ms"]) {
    assert.equal(typeof line[field], "number", field);
  }
});

test("a misconfigured scheduled run logs the variable's name and does not crash", async () => {
  const broken = await startWorker({ CRON_SECRET: null });
  try {
    const result = await broken.scheduled();
    assert.equal(result.outcome, "ok");
    const [line] = await eventually(() => broken.events("publish_pass").length > 0 && broken.events("publish_pass"));
    assert.equal(line.outcome, "misconfigured");
    assert.equal(line.message, "CRON_SECRET is not set");
  } finally {
    await broken.dispose();
  }
});

test("requests log one line each, without query strings or secrets", async () => {
  const secret = stackVars().CRON_SECRET;
  await worker.fetch(`/api/health?probe=${secret}`);
  const line = await eventually(() => worker.events("request").find((entry) => entry.path === "/api/health"));
  assert.ok(line, "expected a request line for /api/health");
  assert.equal(line.method, "GET");
  assert.equal(line.status, 200);
  assert.equal(typeof line.duration_ms, "number");
  assert.ok(!worker.logs.some((entry) => entry.message.includes(secret)));
});
