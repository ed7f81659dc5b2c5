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

/** Re-seals in batches through `w` until no cursor is left; the summed counts. */
async function resealAll(w) {
  const total = { examined: 0, resealed: 0, changed_meanwhile: 0, unknown_key: 0, unreadable: 0, calls: 0 };
  let after = null;
  do {
    const response = await w.fetch(`/api/ops/tokens/reseal${after ? `?after=${after}` : ""}`, {
      method: "POST",
      headers: { authorization: `Bearer ${stackVars().OPERATOR_TOKEN}` },
    });
    assert.equal(response.status, 200);
    const report = await response.json();
    assert.deepEqual(Object.keys(report).sort(), ["changed_meanwhile", "examined", "next_cursor", "resealed", "unknown_key", "unreadable"]);
    assert.ok(report.examined <= 25, "bounded batches");
    assert.match(String(report.next_cursor ?? "c0"), /^[cp]\d+$/, "the cursor holds counts, no ids");
    for (const key of Object.keys(total)) if (key !== "calls") total[key] += report[key];
    total.calls += 1;
    after = report.next_cursor;
  } while (after);
  return total;
}

test("a rotation through the Worker re-seals every token under the new key, and back", async () => {
  const oldKey = stackVars().META_TOKEN_ENCRYPTION_KEY;
  const newKey = Buffer.alloc(32, 7).toString("base64");
  const rotated = await startWorker({ META_TOKEN_ENCRYPTION_KEY: newKey, META_TOKEN_ENCRYPTION_KEY_PREVIOUS: oldKey });
  const back = await startWorker({ META_TOKEN_ENCRYPTION_KEY: oldKey, META_TOKEN_ENCRYPTION_KEY_PREVIOUS: newKey });
  try {
    // Nothing to do under the Worker's own key: the Rust tests sealed everything with it.
    assert.equal((await resealAll(worker)).resealed, 0);
    const forward = await resealAll(rotated);
    assert.ok(forward.resealed > 25, `more than one batch re-sealed: ${JSON.stringify(forward)}`);
    assert.ok(forward.calls > 2);
    assert.equal((await resealAll(rotated)).resealed, 0, "a second run finds nothing left");
    const backward = await resealAll(back);
    assert.equal(backward.resealed, forward.resealed);
    const text = rotated.logs.concat(back.logs).map((entry) => entry.message).join("\n");
    assert.doesNotMatch(text, /mpt1\.|EAA|plain-/);
  } finally {
    await rotated.dispose();
    await back.dispose();
  }
});

test("a cursor that is not one of ours is a 400", async () => {
  const response = await worker.fetch("/api/ops/tokens/reseal?after=x9", {
    method: "POST",
    headers: { authorization: `Bearer ${stackVars().OPERATOR_TOKEN}` },
  });
  assert.equal(response.status, 400);
  assert.equal((await response.json()).error.code, "invalid_request");
});
