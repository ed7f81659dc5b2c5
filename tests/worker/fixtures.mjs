// Fixtures for tests through the built Worker: SQL against the test database, the Meta
// sandbox's control API, workspaces with signed-in members, and connecting a workspace the way
// a user does (OAuth start -> sandbox code as if Continue was clicked -> callback).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { mintJwt } from "../../scripts/lib/stack.mjs";
import { stackVars } from "./harness.mjs";

export const SANDBOX = process.env.STACK_SANDBOX_URL;

export function sql(query) {
  const result = spawnSync("psql", [process.env.STACK_DATABASE_URL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

/** GET (no body) or POST a JSON body to the sandbox's `/_sandbox/{path}`. */
export async function sandbox(path, body) {
  const response = await fetch(`${SANDBOX}/_sandbox/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${path}: ${response.status}`);
  return response.json();
}

/** A workspace on `plan` with the given members ({role}); answers ids and user JWTs. */
export function workspace(plan, roles) {
  const vars = stackVars();
  const id = crypto.randomUUID();
  sql(`insert into public.workspaces (id, name, plan) values ('${id}', 'worker test', '${plan}')`);
  const members = {};
  for (const role of roles) {
    const user = crypto.randomUUID();
    sql(`insert into public.workspace_members (workspace_id, user_id, role) values ('${id}', '${user}', '${role}')`);
    members[role] = { id: user, jwt: mintJwt(vars.SUPABASE_JWT_SECRET, { role: "authenticated", sub: user }) };
  }
  return { id, members };
}

/** `api(path, {method, jwt, body, origin, bearer})` against a started Worker. */
export function apiOf(worker) {
  return (path, { method = "GET", jwt, bearer, body, origin } = {}) =>
    worker.fetch(path, {
      method,
      headers: {
        ...(jwt || bearer ? { authorization: `Bearer ${jwt ?? bearer}` } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
        ...(origin ? { origin } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      redirect: "manual",
    });
}

/** start -> sandbox code (as if `fbUser` clicked Continue with `grant`) -> callback. */
export async function connect(api, ws, jwt, fbUser, grant = {}) {
  const started = await api("/api/meta/oauth/start", { method: "POST", jwt, body: { workspace_id: ws.id } });
  assert.equal(started.status, 200, await started.clone().text());
  const url = new URL((await started.json()).authorize_url);
  const state = url.searchParams.get("state");
  const { code } = await sandbox("codes", { user_id: fbUser, redirect_uri: url.searchParams.get("redirect_uri"), ...grant });
  const callback = await api(`/api/meta/oauth/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`);
  return { url, state, callback, location: callback.headers.get("location") };
}

let serial = 0;
/** A new sandbox Facebook user with one Page and the Instagram account linked to it; ids start
 * with `prefix` (two digits) so each test file's ids are recognisable. */
export async function facebookUser(prefix) {
  serial += 1;
  const stamp = `${Date.now() % 1e9}`.padStart(9, "0") + String(serial).padStart(3, "0");
  const user = { fbUser: `${prefix}${stamp}`, pageId: `${Number(prefix) + 1}${stamp}`, igId: `178${prefix}${stamp}` };
  await sandbox("users", { users: [{ id: user.fbUser, name: `User ${prefix}`, pages: [{ id: user.pageId, name: "Page", instagram: { id: user.igId, username: `u${prefix}${serial}` } }] }] });
  return user;
}

/** A new Growth workspace with `roles`, connected to `user` through the OAuth flow. */
export async function connectedWorkspace(api, user, roles = ["owner"]) {
  const ws = workspace("growth", roles);
  const { location } = await connect(api, ws, ws.members[roles[0]].jwt, user.fbUser);
  assert.equal(location, `${stackVars().APP_URL}?meta=connected`);
  return ws;
}
