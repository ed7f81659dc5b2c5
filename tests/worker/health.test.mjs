// GET /api/health through the built Worker, against the real test stack.

import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { mintJwt } from "../../scripts/lib/stack.mjs";
import { startWorker, stackVars } from "./harness.mjs";

const crateVersion = /^version = "(.+)"$/m.exec(fs.readFileSync(path.resolve(import.meta.dirname, "../../Cargo.toml"), "utf8"))[1];

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.dispose());

test("health answers 200 with the crate version after a database round trip", async () => {
  const response = await worker.fetch("/api/health");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(await response.json(), { status: "ok", version: crateVersion, database: "ok" });
});

test("health is 503 degraded when nothing listens at SUPABASE_URL", async () => {
  const closed = await startWorker({ SUPABASE_URL: "http://127.0.0.1:9" });
  try {
    const response = await closed.fetch("/api/health");
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), { status: "degraded", version: crateVersion, database: "unreachable" });
  } finally {
    await closed.dispose();
  }
});

test("health is 503 degraded when the gateway answers but PostgREST is down (502)", async () => {
  const gateway = http.createServer((req, res) => {
    res.writeHead(502, { "content-type": "application/json" });
    res.end('{"message":"An invalid response was received from the upstream server"}');
  });
  await new Promise((resolve) => gateway.listen(0, "127.0.0.1", resolve));
  const down = await startWorker({ SUPABASE_URL: `http://127.0.0.1:${gateway.address().port}` });
  try {
    const response = await down.fetch("/api/health");
    assert.equal(response.status, 503);
    const body = await response.json();
    assert.equal(body.database, "unreachable");
    assert.doesNotMatch(JSON.stringify(body), /stack|panic|Error/);
  } finally {
    await down.dispose();
    gateway.close();
  }
});

test("health reports rejected credentials for a key signed with another secret, or the anon key", async () => {
  const forged = mintJwt("not-the-stack-jwt-secret", { role: "service_role" });
  for (const key of [forged, stackVars().SUPABASE_ANON_KEY]) {
    const wrong = await startWorker({ SUPABASE_SERVICE_ROLE_KEY: key });
    try {
      const response = await wrong.fetch("/api/health");
      assert.equal(response.status, 503);
      assert.equal((await response.json()).database, "credentials_rejected");
    } finally {
      await wrong.dispose();
    }
  }
});
