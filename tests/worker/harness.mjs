// Loads the built Worker (index.js + index_bg.wasm from WORKER_BUILD_DIR, default build/) into
// workerd through Miniflare, with the variables of the stack that `npm test` started
// (STACK_WORKER_VARS).
// Every console line the Worker writes is captured, so tests can assert on structured logs.

import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BUILD = process.env.WORKER_BUILD_DIR ?? path.join(ROOT, "build");
// Every line every Worker writes during `npm test` also goes here, for the final log hygiene check.
const LOG_FILE = process.env.STACK_LOG_DIR ? path.join(process.env.STACK_LOG_DIR, "worker.log") : null;

export function stackVars() {
  const text = process.env.STACK_WORKER_VARS;
  if (!text) throw new Error("STACK_WORKER_VARS is not set: run the tests through `npm test`");
  return JSON.parse(text);
}

/** Starts the Worker with the stack's variables, changed by `overrides` (null removes one).
 * With `port`, it also listens on 127.0.0.1:port (for a browser). With `images`, the Worker's
 * requests to https://images.test/<name> are answered by `images(name, request)` (a Response),
 * standing in for a public image host; every other request goes out as usual. */
export async function startWorker(overrides = {}, { port, images } = {}) {
  const bindings = { ...stackVars() };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) delete bindings[key];
    else bindings[key] = value;
  }
  const logs = [];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      cf: false,
      ...(port ? { host: "127.0.0.1", port } : {}),
      handleStructuredLogs: (entry) => {
        logs.push(entry);
        if (LOG_FILE) fs.appendFileSync(LOG_FILE, `${JSON.stringify(entry)}\n`);
      },
      workers: [
        {
          name: "meta-publisher",
          modulesRoot: BUILD,
          modules: [
            { type: "ESModule", path: path.join(BUILD, "index.js") },
            { type: "CompiledWasm", path: path.join(BUILD, "index_bg.wasm") },
          ],
          compatibilityDate: "2026-11-01",
          bindings,
          ...(images ? { outboundService: (request) => outbound(request, images) } : {}),
        },
      ],
    }),
  );
  await mf.ready;
  return {
    mf,
    logs,
    /** The Worker's own JSON log lines, parsed. */
    events(name) {
      return logs
        .map((entry) => {
          try {
            return JSON.parse(entry.message);
          } catch {
            return null;
          }
        })
        .filter((line) => line && (!name || line.event === name));
    },
    fetch(pathAndQuery, init) {
      return mf.dispatchFetch(`http://worker.test${pathAndQuery}`, init);
    },
    async scheduled(cron = "* * * * *") {
      const worker = await mf.getWorker();
      return worker.scheduled({ cron });
    },
    dispose: () => mf.dispose(),
  };
}

async function outbound(request, images) {
  const url = new URL(request.url);
  if (url.hostname === "images.test") return images(url.pathname.slice(1), request);
  const body = ["GET", "HEAD"].includes(request.method) ? undefined : await request.arrayBuffer();
  return fetch(request.url, { method: request.method, headers: request.headers, body, redirect: "manual" });
}

/** Waits until `check()` is truthy (log lines arrive asynchronously from workerd). */
export async function eventually(check, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
