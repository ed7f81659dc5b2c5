// The connect flow in a real browser: Debian's Chromium driven by playwright-core. The host app's
// connect page (served by the sandbox on APP_URL's origin, another origin than the Worker's, as
// in production) starts the flow with the user's token, the sandbox's login dialog is clicked
// through, and the browser must end back on the app page. Screenshots of each end page go to
// .local/test/artifacts/.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { mintJwt } from "../../scripts/lib/stack.mjs";
import { startWorker, stackVars } from "../worker/harness.mjs";

const ROOT = path.resolve(import.meta.dirname, "../..");
const ARTIFACTS = path.join(ROOT, ".local/test/artifacts");
const vars = stackVars();
const SANDBOX = process.env.STACK_SANDBOX_URL;
const WORKER_PORT = Number(new URL(vars.PUBLIC_BASE_URL).port);
const APP_ORIGIN = new URL(vars.APP_URL).origin;
let worker;
let browser;

function sql(query) {
  const result = spawnSync("psql", [process.env.STACK_DATABASE_URL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

function ownerOfNewWorkspace() {
  const workspace = crypto.randomUUID();
  const user = crypto.randomUUID();
  sql(`insert into public.workspaces (id, name, plan) values ('${workspace}', 'browser', 'growth');
       insert into public.workspace_members (workspace_id, user_id, role) values ('${workspace}', '${user}', 'owner');`);
  return { workspace, jwt: mintJwt(vars.SUPABASE_JWT_SECRET, { role: "authenticated", sub: user }) };
}

/** Playwright starts Chromium with a fresh, empty profile of its own (the flags are from
 * shared/reference/toolchain.md: no network beyond loopback here). */
async function runFlow(name, inDialog) {
  const { workspace, jwt } = ownerOfNewWorkspace();
  const context = await browser.newContext();
  const page = await context.newPage();
  const start = new URL(`${APP_ORIGIN}/app/connect`);
  start.searchParams.set("worker", vars.PUBLIC_BASE_URL);
  start.searchParams.set("workspace_id", workspace);
  await page.goto(`${start}#token=${jwt}`);
  await page.waitForSelector("#continue", { timeout: 15000 }).catch(async (err) => {
    const status = await page.textContent("#status").catch(() => "(no app page)");
    throw new Error(`the dialog did not open (app page says: ${status}; at ${page.url()}): ${err.message}`);
  });
  assert.equal(await page.textContent("#user"), "Sandbox User");
  await inDialog(page);
  await page.waitForURL((url) => url.href.startsWith(vars.APP_URL), { timeout: 15000 });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `connect-${name}.png`), fullPage: true });
  const params = new URL(page.url()).searchParams;
  const shown = await page.textContent("#params");
  await context.close();
  return { workspace, params, shown };
}

before(async () => {
  worker = await startWorker({}, { port: WORKER_PORT });
  await fetch(`${SANDBOX}/_sandbox/reset`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  await worker?.dispose();
});

test("Continue connects and lands back on the app with meta=connected", async () => {
  const { workspace, params, shown } = await runFlow("connected", (page) => page.click("#continue"));
  assert.equal(params.get("meta"), "connected");
  assert.match(shown, /meta\s*=\s*connected/);
  assert.equal(sql(`select status from public.meta_connections where workspace_id = '${workspace}'`), "active");
  const tokens = await (await fetch(`${SANDBOX}/_sandbox/issued-tokens`)).json();
  const logs = worker.logs.map((entry) => entry.message).join("\n");
  assert.ok(tokens.length > 0 && tokens.every((token) => !logs.includes(token)), "no sandbox token in the Worker's logs");
});

test("Cancel lands back on the app with meta_error=access_denied and stores nothing", async () => {
  const { workspace, params } = await runFlow("cancelled", (page) => page.click("#cancel"));
  assert.equal(params.get("meta_error"), "access_denied");
  assert.equal(sql(`select count(*) from public.meta_connections where workspace_id = '${workspace}'`), "0");
});

test("declining a permission lands back with missing_permissions naming it", async () => {
  const { workspace, params } = await runFlow("declined", async (page) => {
    await page.uncheck("#perm-instagram_content_publish");
    await page.click("#continue");
  });
  assert.equal(params.get("meta_error"), "missing_permissions");
  assert.equal(params.get("missing"), "instagram_content_publish");
  assert.equal(sql(`select count(*) from public.meta_connections where workspace_id = '${workspace}'`), "0");
});
