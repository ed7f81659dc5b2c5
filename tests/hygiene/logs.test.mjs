// Runs last in `npm test`: every log line every Worker wrote during the run (the harness keeps
// them in STACK_LOG_DIR/worker.log) is scanned for every token the Meta sandbox ever issued,
// every sealed token still stored, the stack's secrets, and the text of every queued post.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { stackVars } from "../worker/harness.mjs";
import { SANDBOX, sql } from "../worker/fixtures.mjs";

test("no Worker log line of the whole run holds a token, a secret or the text of a post", async () => {
  const file = path.join(process.env.STACK_LOG_DIR, "worker.log");
  const entries = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
  const messages = entries.map((entry) => entry.message ?? "").join("\n");
  // The scan means something only if the run logged what matters.
  for (const event of ["request", "publish_pass", "publish_target", "oauth_callback", "meta_data_deletion", "token_health"]) {
    assert.ok(messages.includes(`"event":"${event}"`), `no ${event} line was captured`);
  }

  const tokens = await (await fetch(`${SANDBOX}/_sandbox/issued-tokens?all=true`)).json();
  assert.ok(tokens.length > 50, `the sandbox issued ${tokens.length} tokens in this run`);
  const sealed = sql(`select user_token_sealed from public.meta_connections where user_token_sealed is not null
                      union all select page_token_sealed from public.meta_pages where page_token_sealed is not null`).split("\n").filter(Boolean);
  const vars = stackVars();
  const secrets = ["META_APP_SECRET", "META_TOKEN_ENCRYPTION_KEY", "SUPABASE_SERVICE_ROLE_KEY", "CRON_SECRET", "OPERATOR_TOKEN", "SUPABASE_JWT_SECRET"]
    .map((name) => vars[name])
    .filter(Boolean);
  // Post texts long enough not to occur by chance.
  const texts = sql(`select distinct payload_json->>'text' from public.publish_jobs where length(payload_json->>'text') >= 12`).split("\n").filter(Boolean);
  assert.ok(texts.length > 100, `${texts.length} post texts to look for`);

  const leaks = [...tokens, ...sealed, ...secrets, ...texts].filter((needle) => messages.includes(needle));
  assert.deepEqual(leaks.map((leak) => `${leak.slice(0, 10)}…`), []);
});
