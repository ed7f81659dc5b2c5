// The local stack: PostgreSQL (with Supabase's roles and our migrations), postrust (PostgREST),
// a gateway that serves it under /rest/v1 like a Supabase project URL, and the Meta sandbox.
//
// Each profile ("dev", "test") has its own ports and its own folder under .local/, so the
// tests can run while `npm run dev` is up. A lock file holds the owner's pid and its children's
// pids: a second start of the same profile is refused while the owner lives, and the strays of
// an owner that was killed are stopped before a new start.

import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");

export const PROFILES = {
  dev: { pg: 54322, postrust: 54330, gateway: 54321, sandbox: 54340, worker: 8787 },
  test: { pg: 55322, postrust: 55330, gateway: 55321, sandbox: 55340, worker: 58787 },
  bench: { pg: 56322, postrust: 56330, gateway: 56321, sandbox: 56340, worker: 58788 },
};

const PG_BIN = "/usr/lib/postgresql/15/bin";

export class AlreadyRunning extends Error {}

export function say(message) {
  console.log(`stack: ${message}`);
}

// ---- secrets ---------------------------------------------------------------------------------

/** Fresh random local secrets. Nothing here is a real credential. */
export function generateSecrets() {
  return {
    jwtSecret: crypto.randomBytes(32).toString("hex"),
    metaAppId: String(100000000000000 + crypto.randomInt(0, 2 ** 40)),
    metaAppSecret: crypto.randomBytes(16).toString("hex"),
    tokenEncryptionKey: crypto.randomBytes(32).toString("base64"),
    cronSecret: crypto.randomBytes(32).toString("hex"),
    operatorToken: crypto.randomBytes(32).toString("hex"),
  };
}

/** An HS256 JWT like Supabase's API keys (`role` claim, long expiry). */
export function mintJwt(secret, claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${encode({ alg: "HS256", typ: "JWT" })}.${encode({ iss: "supabase-local", iat: now, exp: now + 10 * 365 * 86400, ...claims })}`;
  const signature = crypto.createHmac("sha256", secret).update(body).digest("base64url");
  return `${body}.${signature}`;
}

/** The Worker's variables for a stack on `ports` with `secrets`. */
export function workerVars(ports, secrets) {
  return {
    META_APP_ID: secrets.metaAppId,
    META_APP_SECRET: secrets.metaAppSecret,
    META_TOKEN_ENCRYPTION_KEY: secrets.tokenEncryptionKey,
    META_GRAPH_BASE_URL: `http://127.0.0.1:${ports.sandbox}`,
    META_DIALOG_BASE_URL: `http://127.0.0.1:${ports.sandbox}`,
    SUPABASE_URL: `http://127.0.0.1:${ports.gateway}`,
    SUPABASE_SERVICE_ROLE_KEY: mintJwt(secrets.jwtSecret, { role: "service_role" }),
    SUPABASE_ANON_KEY: mintJwt(secrets.jwtSecret, { role: "anon" }),
    SUPABASE_JWT_SECRET: secrets.jwtSecret,
    CRON_SECRET: secrets.cronSecret,
    OPERATOR_TOKEN: secrets.operatorToken,
    APP_URL: `http://127.0.0.1:${ports.sandbox}/app`,
    PUBLIC_BASE_URL: `http://127.0.0.1:${ports.worker}`,
  };
}

// ---- processes -------------------------------------------------------------------------------

function pgUser() {
  if (process.getuid() !== 0) return null;
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0) throw new Error("running as root needs the 'postgres' user (apt package postgresql-15)");
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/** A process's identity: its pid and start time (field 22 of /proc/<pid>/stat), so a pid the
 * kernel has since given to another process is not mistaken for ours. */
function identity(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return null; // exited, not yet reaped
    return { pid, start: fields[19] };
  } catch {
    return null;
  }
}

function alive(recorded) {
  if (!recorded?.pid) return false;
  const current = identity(recorded.pid);
  return current !== null && current.start === recorded.start;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { encoding: "utf8", ...options });
  if (result.status !== 0) {
    throw new Error(`${path.basename(cmd)} ${args[0] ?? ""} failed:\n${result.stderr || result.stdout || result.error}`);
  }
  return result.stdout;
}

async function waitFor(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function rootHash() {
  return crypto.createHash("sha256").update(ROOT).digest("hex").slice(0, 10);
}

/** A folder only we (or, as root, the postgres user) own: created if missing, and refused if it
 * is a symlink or belongs to someone else (a shared folder like /tmp could hold a trap). */
function privateDir(dir, user) {
  const owner = user ? user.uid : process.getuid();
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    if (user) fs.chownSync(dir, user.uid, user.gid);
  } catch (err) {
    if (err.code !== "EEXIST") throw err;
  }
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== owner) {
    throw new Error(`${dir} is not a folder owned by uid ${owner}; remove it and retry`);
  }
  return dir;
}

export async function httpOk(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return response.ok;
}

export class Stack {
  constructor(profile, { secrets }) {
    this.profile = profile;
    this.ports = PROFILES[profile];
    this.secrets = secrets;
    this.vars = workerVars(this.ports, secrets);
    this.dir = path.join(ROOT, ".local", profile);
    this.lockFile = path.join(this.dir, "stack.lock");
    this.children = [];
    this.stopping = false;
    this.onUnexpectedExit = (name, code) => {
      console.error(`stack: ${name} exited unexpectedly (code ${code}); see ${path.relative(ROOT, this.logPath(name))}`);
    };
  }

  logPath(name) {
    return path.join(this.dir, "logs", `${name}.log`);
  }

  // -- lock --
  /** Creates the lock atomically; a lock whose owner is gone is taken over, and the children
   * that owner left running are stopped by stopStrays(). */
  takeLock() {
    fs.mkdirSync(path.join(this.dir, "logs"), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lockFile, JSON.stringify(this.lockState()), { flag: "wx" });
        this.locked = true;
        return;
      } catch (err) {
        if (err.code !== "EEXIST") throw err;
      }
      let previous = null;
      try {
        previous = JSON.parse(fs.readFileSync(this.lockFile, "utf8"));
      } catch {
        previous = null; // half-written or unreadable: its owner died while writing it
      }
      if (alive(previous?.owner)) {
        throw new AlreadyRunning(
          `the ${this.profile} stack is already running (pid ${previous.owner.pid}); stop it first (Ctrl-C in its terminal)`,
        );
      }
      this.strays = previous?.children ?? [];
      fs.rmSync(this.lockFile, { force: true });
    }
    throw new AlreadyRunning(`another ${this.profile} stack is starting at this moment; try again`);
  }

  lockState() {
    return {
      owner: identity(process.pid),
      children: this.children.filter((child) => !child.exited).map((child) => ({ ...child.identity, signal: child.stopSignal })),
    };
  }

  writeLock() {
    if (this.locked) fs.writeFileSync(this.lockFile, JSON.stringify(this.lockState()));
  }

  /** Stops what an earlier owner that died without cleaning up left running, and waits until
   * it is gone (a PostgreSQL that is still exiting would block the new one's start). */
  async stopStrays() {
    for (const stray of this.strays ?? []) {
      if (!alive(stray)) continue;
      say(`stopping process ${stray.pid}, left running by an earlier run`);
      const signalGroup = (signal) => {
        try {
          process.kill(-stray.pid, signal);
        } catch {
          /* gone */
        }
      };
      signalGroup(stray.signal ?? "SIGTERM");
      const deadline = Date.now() + 15000;
      while (alive(stray) && Date.now() < deadline) await sleep(100);
      if (alive(stray)) {
        signalGroup("SIGKILL");
        const killDeadline = Date.now() + 5000;
        while (alive(stray) && Date.now() < killDeadline) await sleep(50);
      }
      if (alive(stray)) throw new Error(`process ${stray.pid} from an earlier run does not stop; stop it by hand`);
    }
    this.strays = [];
  }

  // -- children --
  spawnChild(name, cmd, args, { env = {}, user = null, stopSignal = "SIGTERM", stdio = null } = {}) {
    if (this.stopping) throw new Error("stopping: not starting anything more");
    const log = fs.openSync(this.logPath(name), "a");
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      detached: true, // own process group: we stop it (and its children) ourselves
      stdio: stdio ?? ["ignore", log, log],
      ...(user ?? {}),
    });
    fs.closeSync(log);
    const entry = { name, process: child, stopSignal, exited: false, identity: identity(child.pid) ?? { pid: child.pid } };
    child.on("exit", (code) => {
      entry.exited = true;
      if (!this.stopping) this.onUnexpectedExit(name, code);
    });
    this.children.push(entry);
    this.writeLock();
    return child;
  }

  async stop() {
    this.stopping = true;
    for (const entry of [...this.children].reverse()) {
      if (entry.exited) continue;
      const gone = new Promise((resolve) => entry.process.once("exit", resolve));
      try {
        process.kill(-entry.process.pid, entry.stopSignal);
      } catch {
        continue;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-entry.process.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }, 10000);
      await gone;
      clearTimeout(timer);
    }
    this.gateway?.close();
    this.gateway?.closeAllConnections?.();
    if (this.locked) fs.rmSync(this.lockFile, { force: true });
    this.locked = false;
  }

  // -- start --
  async start() {
    this.takeLock();
    await this.stopStrays();
    for (const [name, port] of Object.entries(this.ports)) {
      if (!(await portFree(port))) {
        throw new Error(`port ${port} (${name}) is in use by another program; free it and retry`);
      }
    }
    this.buildSandbox();
    await this.startPostgres();
    this.bootstrapDatabase();
    await this.startPostrust();
    await this.startGateway();
    await this.startSandbox();
    return this;
  }

  buildSandbox() {
    say("building the Meta sandbox (cargo build -p meta-sandbox)");
    run("cargo", ["build", "--quiet", "-p", "meta-sandbox"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  }

  async startPostgres() {
    const user = pgUser();
    const pgDir = this.dataDir(user);
    // Unix socket paths are limited to 107 bytes: keep the socket folder short, whatever the clone's path.
    const socketDir = privateDir(path.join(os.tmpdir(), `meta-publisher-${rootHash()}-${this.profile}`), user);
    const data = path.join(pgDir, "data");
    // Test and bench runs start from an empty cluster, so no run depends on another.
    if (this.profile !== "dev") fs.rmSync(data, { recursive: true, force: true });
    if (!fs.existsSync(path.join(data, "PG_VERSION"))) {
      say(`creating a PostgreSQL 15 cluster in ${path.relative(ROOT, data) || data}`);
      fs.rmSync(data, { recursive: true, force: true });
      run(`${PG_BIN}/initdb`, ["-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"], user ?? {});
    }
    const settings = ["-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${socketDir}`, "-c", "max_connections=60"];
    if (this.profile !== "dev") settings.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
    say(`starting PostgreSQL on 127.0.0.1:${this.ports.pg}`);
    // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
    this.spawnChild("postgres", `${PG_BIN}/postgres`, ["-D", data, "-p", String(this.ports.pg), ...settings], { user, stopSignal: "SIGINT" });
    this.socketDir = socketDir;
    this.databaseUrl = `postgresql://postgres@/postgres?host=${encodeURIComponent(socketDir)}&port=${this.ports.pg}`;
    await waitFor("PostgreSQL", async () => spawnSync(`${PG_BIN}/pg_isready`, ["-q", "-U", "postgres", "-h", socketDir, "-p", String(this.ports.pg)]).status === 0);
  }

  /** The cluster folder: .local/<profile>/pg, or, when running as root and the postgres user
   * cannot reach the project (e.g. a clone under /root), a folder under /var/tmp it can reach. */
  dataDir(user) {
    const local = path.join(this.dir, "pg");
    if (!user) return local;
    const reachable = spawnSync("test", ["-x", this.dir], { uid: user.uid, gid: user.gid }).status === 0;
    if (reachable) return privateDir(local, user);
    const outside = privateDir(path.join("/var/tmp", `meta-publisher-${rootHash()}-${this.profile}`), user);
    say(`the postgres user cannot reach this folder; the ${this.profile} cluster lives in ${outside}`);
    return outside;
  }

  bootstrapDatabase() {
    this.authenticatorPassword = crypto.randomBytes(24).toString("hex");
    const psqlArgs = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", this.socketDir, "-p", String(this.ports.pg), "-U", "postgres", "-d", "postgres"];
    run("psql", [...psqlArgs, "-v", `authenticator_password=${this.authenticatorPassword}`, "-f", path.join(ROOT, "scripts/stack/bootstrap-roles.sql")]);
    run("psql", [...psqlArgs, "-f", path.join(ROOT, "scripts/stack/bootstrap-database.sql")]);
    const out = run("bash", [path.join(ROOT, "scripts/migrate.sh"), this.databaseUrl]);
    for (const line of out.trim().split("\n")) say(line);
  }

  /** How PostgREST logs in: as `authenticator`, which switches to the request's role. */
  get authenticatorUrl() {
    return `postgres://authenticator:${this.authenticatorPassword}@127.0.0.1:${this.ports.pg}/postgres`;
  }

  async startPostrust() {
    say(`starting postrust (PostgREST) on 127.0.0.1:${this.ports.postrust}`);
    this.spawnChild("postrust", path.join(ROOT, ".tools/bin/postrust"), [], {
      env: {
        PGRST_DB_URI: this.authenticatorUrl,
        PGRST_DB_SCHEMAS: "public",
        PGRST_DB_ANON_ROLE: "anon",
        PGRST_JWT_SECRET: this.secrets.jwtSecret,
        PGRST_SERVER_HOST: "127.0.0.1",
        PGRST_SERVER_PORT: String(this.ports.postrust),
        PGRST_COMPAT_MODE: "true",
        PGRST_DB_CHANNEL_ENABLED: "true",
        RUST_LOG: "warn",
      },
    });
    await waitFor("postrust", async () => {
      const response = await fetch(`http://127.0.0.1:${this.ports.postrust}/`, { signal: AbortSignal.timeout(1000) });
      return response.status < 500;
    });
  }

  /** Serves postrust under /rest/v1 like a Supabase project URL (Supabase's gateway does the
   * same); 502 when postrust does not answer, 404 elsewhere. */
  async startGateway() {
    if (this.stopping) throw new Error("stopping: not starting anything more");
    const upstreamPort = this.ports.postrust;
    this.gateway = http.createServer((req, res) => {
      const match = /^\/rest\/v1(\/.*)?$/.exec(req.url.split("?")[0]);
      if (!match) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: "no Route matched with those values" }));
        return;
      }
      const upstreamPath = req.url.slice("/rest/v1".length) || "/";
      const upstream = http.request(
        { host: "127.0.0.1", port: upstreamPort, method: req.method, path: upstreamPath.startsWith("/") ? upstreamPath : `/${upstreamPath}`, headers: { ...req.headers, host: `127.0.0.1:${upstreamPort}` } },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      upstream.on("error", () => {
        if (res.headersSent) return res.destroy();
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: "An invalid response was received from the upstream server" }));
      });
      req.pipe(upstream);
    });
    await new Promise((resolve, reject) => {
      this.gateway.once("error", reject);
      this.gateway.listen(this.ports.gateway, "127.0.0.1", resolve);
    });
    say(`Supabase-style REST gateway on ${this.vars.SUPABASE_URL}/rest/v1`);
  }

  async startSandbox() {
    say(`starting the Meta sandbox on 127.0.0.1:${this.ports.sandbox}`);
    this.spawnChild("meta-sandbox", path.join(ROOT, "target/debug/meta-sandbox"), [String(this.ports.sandbox)], {
      env: { META_APP_ID: this.secrets.metaAppId, META_APP_SECRET: this.secrets.metaAppSecret },
    });
    await waitFor("the Meta sandbox", () => httpOk(`http://127.0.0.1:${this.ports.sandbox}/health`));
  }

  /** What test layers need to reach this stack. */
  testEnv() {
    return {
      STACK_SUPABASE_URL: this.vars.SUPABASE_URL,
      STACK_SERVICE_ROLE_KEY: this.vars.SUPABASE_SERVICE_ROLE_KEY,
      STACK_ANON_KEY: this.vars.SUPABASE_ANON_KEY,
      STACK_SANDBOX_URL: `http://127.0.0.1:${this.ports.sandbox}`,
      STACK_DATABASE_URL: this.databaseUrl,
      // For tests that run (and stop) a PostgREST of their own against the stack's database.
      STACK_AUTHENTICATOR_URL: this.authenticatorUrl,
      STACK_LOG_DIR: path.join(this.dir, "logs"),
      STACK_WORKER_VARS: JSON.stringify(this.vars),
    };
  }
}
