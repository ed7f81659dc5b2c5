// The API's error shape for unknown paths, wrong methods and missing or malformed configuration.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startWorker, stackVars } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.dispose());

async function errorOf(response) {
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  const body = await response.json();
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message"]);
  assert.equal(typeof body.error.message, "string");
  assert.ok(body.error.message.length > 0);
  return body.error;
}

test("unknown paths are 404 not_found in the JSON error shape", async () => {
  for (const path of ["/", "/api", "/api/nothing", "/api/health/extra?x=1"]) {
    const response = await worker.fetch(path);
    assert.equal(response.status, 404, path);
    assert.equal((await errorOf(response)).code, "not_found");
  }
});

test("a wrong method on a known path is 405 with an Allow header", async () => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    const response = await worker.fetch("/api/health", { method, body: method === "DELETE" ? undefined : "{}" });
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET");
    assert.equal((await errorOf(response)).code, "method_not_allowed");
  }
});

test("methods the runtime does not know are refused, not treated as GET", async () => {
  for (const method of ["PROPFIND", "PURGE"]) {
    const response = await worker.fetch("/api/health", { method });
    assert.equal(response.status, 405, method);
    assert.equal((await errorOf(response)).code, "method_not_allowed");
  }
});

test("a malformed encryption key is a 500 misconfigured naming the variable, not its value", async () => {
  const badKey = "dGhpcy1pcy1ub3QtMzItYnl0ZXM=";
  const broken = await startWorker({ META_TOKEN_ENCRYPTION_KEY: badKey });
  try {
    const response = await broken.fetch("/api/health");
    assert.equal(response.status, 500);
    const text = await response.text();
    assert.deepEqual(JSON.parse(text), {
      error: { code: "misconfigured", message: "META_TOKEN_ENCRYPTION_KEY must be base64 of 32 bytes" },
    });
    assert.ok(!text.includes(badKey));
  } finally {
    await broken.dispose();
  }
});

test("every missing required variable is named; secrets never appear in the answer", async () => {
  const vars = stackVars();
  for (const name of ["META_APP_ID", "META_APP_SECRET", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "CRON_SECRET", "OPERATOR_TOKEN", "APP_URL", "PUBLIC_BASE_URL"]) {
    const missing = await startWorker({ [name]: null });
    try {
      const response = await missing.fetch("/api/health");
      assert.equal(response.status, 500, name);
      const text = await response.text();
      assert.deepEqual(JSON.parse(text).error, { code: "misconfigured", message: `${name} is not set` });
      for (const secret of [vars.META_APP_SECRET, vars.SUPABASE_SERVICE_ROLE_KEY, vars.CRON_SECRET, vars.META_TOKEN_ENCRYPTION_KEY]) {
        assert.ok(!text.includes(secret));
      }
    } finally {
      await missing.dispose();
    }
  }
});
