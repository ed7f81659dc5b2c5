// scripts/migrate.sh against the test stack's PostgreSQL: each file once, in order, refused when
// an applied file changed, and a failing file leaves neither its changes nor a record behind.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");
const db = process.env.STACK_DATABASE_URL;

function migrate(dir) {
  return spawnSync("bash", [path.join(ROOT, "scripts/migrate.sh"), db], {
    encoding: "utf8",
    env: { ...process.env, ...(dir ? { MIGRATIONS_DIR: dir } : {}) },
  });
}

function sql(query) {
  const result = spawnSync("psql", [db, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

function tempMigrations(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "migrations-"));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

test("the project's migrations are all recorded and a second run applies nothing", () => {
  const files = fs.readdirSync(path.join(ROOT, "migrations")).filter((name) => name.endsWith(".sql")).sort();
  assert.deepEqual(sql("select filename from app_migrations.applied order by filename").split("\n"), files);
  const again = migrate();
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /0 new, database up to date/);
});

test("a failing migration leaves no changes and no record; a changed applied file is refused", () => {
  const name = `9000_probe_${process.pid}.sql`;
  const failing = tempMigrations({ [name]: "create table public.migration_probe (id int);\nselect 1/0;\n" });
  const failed = migrate(failing);
  assert.notEqual(failed.status, 0);
  assert.equal(sql("select count(*) from pg_tables where tablename = 'migration_probe'"), "0");
  assert.equal(sql(`select count(*) from app_migrations.applied where filename = '${name}'`), "0");

  const good = tempMigrations({ [name]: "create table public.migration_probe (id int);\n" });
  try {
    const applied = migrate(good);
    assert.equal(applied.status, 0, applied.stderr);
    assert.match(applied.stdout, /applied 9000_probe/);
    fs.writeFileSync(path.join(good, name), "create table public.migration_probe (id bigint);\n");
    const changed = migrate(good);
    assert.notEqual(changed.status, 0);
    assert.match(changed.stderr, /was changed after it was applied/);
  } finally {
    sql(`drop table if exists public.migration_probe; delete from app_migrations.applied where filename = '${name}'`);
  }
});

test("the local bootstrap created Supabase's roles with their attributes", () => {
  const roles = sql(
    "select rolname || ':' || rolcanlogin || ':' || rolbypassrls from pg_roles where rolname in ('anon','authenticated','service_role','authenticator') order by rolname",
  );
  assert.equal(roles, ["anon:false:false", "authenticated:false:false", "authenticator:true:false", "service_role:false:true"].join("\n"));
  assert.equal(sql("select has_function_privilege('anon', 'public.meta_publisher_health()', 'execute')"), "f");
  assert.equal(sql("select has_function_privilege('service_role', 'public.meta_publisher_health()', 'execute')"), "t");
});
