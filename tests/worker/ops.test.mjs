// POST /api/ops/tokens/reseal through the built Worker: operator token required (401 without or
// with a wrong one, nothing re-sealed), counts only in the answer, and no token in any log line.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startWorker, stackVars } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.dispose());

const reseal = (authorization) =>
  worker.fetch("/api/ops/tokens/reseal", { method: "POST", headers: authorization ? { authorization } : {} });

test("the re-seal endpoint refuses missing and wrong operator tokens", async () => {
  const vars = stackVars();
  for (const authorization of [null, "Bearer wrong", `Bearer ${vars.CRON_SECRET}`, vars.OPERATOR_TOKEN]) {
    const response = await reseal(authorization);
    assert.equal(response.status, 401, String(authorization));
    assert.equal((await response.json()).error.code, "unauthenticated");
  }
});

test("with the operator token it reports counts that add up, and reveals no token", async () => {
  const vars = stackVars();
  const response = await reseal(`Bearer ${vars.OPERATOR_TOKEN}`);
  assert.equal(response.status, 200);
  const report = await response.json();
  assert.deepEqual(Object.keys(report).sort(), ["already_current", "changed_meanwhile", "examined", "resealed", "unknown_key", "unreadable"]);
  const { examined, ...parts } = report;
  assert.equal(examined, Object.values(parts).reduce((a, b) => a + b, 0));
  // The Rust stack tests stored tokens under this key: they are current, so nothing changes.
  assert.ok(examined > 0, "the stack holds sealed tokens");
  assert.equal(report.resealed, 0);
  const text = JSON.stringify(report) + worker.logs.map((entry) => entry.message).join("\n");
  assert.doesNotMatch(text, /mpt1\.|EAA/);
  assert.ok(!text.includes(vars.OPERATOR_TOKEN));
});
