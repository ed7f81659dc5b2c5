// `npm test`: every test layer, on its own stack (separate ports and .local/test), torn down
// at the end. Exits non-zero if any layer fails.
//   1. host unit tests of the core (cargo test)
//   2. the Worker built to wasm (scripts/build.sh)
//   3. the test stack: PostgreSQL + postrust + REST gateway + Meta sandbox
//   4. Rust integration tests against that stack (cargo test -p stack-tests)
//   5. setup tests (migrations, roles) and the built .wasm in workerd via Miniflare (node:test)
//   6. the connect flow in a real browser (Chromium + playwright-core)
//   7. log hygiene: no token, secret or post text in any Worker log line of the run

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { AlreadyRunning, generateSecrets, ROOT, Stack } from "./lib/stack.mjs";

const results = [];
let stack = null;

function run(label, cmd, args, env = {}) {
  console.log(`\ntest: ${label}`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: "inherit", env: { ...process.env, ...env } });
    const done = (ok, why) => {
      results.push({ label, ok, seconds: (Date.now() - started) / 1000 });
      if (!ok) console.error(`test: ${label} FAILED (${why})`);
      resolve(ok);
    };
    child.on("error", (err) => done(false, err.message));
    child.on("exit", (code, signal) => done(code === 0, signal ?? `exit ${code}`));
  });
}

let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  if (stack) await stack.stop().catch((err) => console.error(`test: stopping the stack: ${err.message}`));
  console.log("\ntest: summary");
  for (const { label, ok, seconds } of results) console.log(`  ${ok ? "pass" : "FAIL"}  ${label}  (${seconds.toFixed(1)} s)`);
  const failed = code !== 0 || results.some((result) => !result.ok);
  console.log(failed ? "test: FAILED" : "test: all layers passed");
  process.exit(code !== 0 ? code : failed ? 1 : 0);
}

process.on("SIGINT", () => finish(130));
process.on("SIGTERM", () => finish(143));
process.on("SIGHUP", () => finish(129));
process.on("uncaughtException", (err) => {
  console.error(`test: ${err.stack ?? err}`);
  finish(1);
});
process.on("unhandledRejection", (err) => {
  console.error(`test: ${err?.stack ?? err}`);
  finish(1);
});

await run("host unit tests (cargo test)", "cargo", ["test", "--workspace", "--exclude", "stack-tests"]);
const WORKER_OUT_DIR = ".local/test/build";
const built = await run("build the Worker to wasm (scripts/build.sh)", "bash", ["scripts/build.sh"], { WORKER_OUT_DIR });

console.log("\ntest: starting the test stack");
stack = new Stack("test", { secrets: generateSecrets() });
try {
  await stack.start();
} catch (err) {
  console.error(`test: the test stack did not start: ${err.message}`);
  results.push({ label: "start the test stack", ok: false, seconds: 0 });
  // Another run owns the stack: leave its processes alone.
  if (err instanceof AlreadyRunning) stack = null;
  await finish(1);
}

const env = { ...stack.testEnv(), WORKER_BUILD_DIR: path.join(ROOT, WORKER_OUT_DIR) };
// The Workers' log lines of this run only (tests/hygiene reads them at the end).
fs.rmSync(path.join(env.STACK_LOG_DIR, "worker.log"), { force: true });
await run("integration tests on the real stack (cargo test -p stack-tests)", "cargo", ["test", "--no-fail-fast", "-p", "stack-tests"], env);
const nodeTests = (dir) =>
  fs.readdirSync(path.join(ROOT, dir)).filter((name) => name.endsWith(".test.mjs")).sort().map((name) => path.join(dir, name));
await run("setup tests: migrations and roles (node --test)", process.execPath, ["--test", "--test-concurrency=1", ...nodeTests("tests/setup")], env);
if (built) {
  await run("the built Worker in workerd via Miniflare (node --test)", process.execPath, ["--test", "--test-concurrency=1", ...nodeTests("tests/worker")], env);
  await run("the connect flow in Chromium (playwright-core, node --test)", process.execPath, ["--test", "--test-concurrency=1", ...nodeTests("tests/browser")], env);
  await run("log hygiene: every Worker log line of this run (node --test)", process.execPath, ["--test", ...nodeTests("tests/hygiene")], env);
} else {
  results.push({ label: "the built Worker in workerd (skipped: the build failed)", ok: false, seconds: 0 });
}
await finish(0);
