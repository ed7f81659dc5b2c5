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

function migrate(dir, url = db) {
  return spawnSync("bash", [path.join(ROOT, "scripts/migrate.sh"), url], {
    encoding: "utf8",
    env: { ...process.env, ...(dir ? { MIGRATIONS_DIR: dir } : {}) },
  });
}

function sql(query, url = db) {
  const result = spawnSync("psql", [url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query], { encoding: "utf8" });
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

/** A new empty database in the test cluster, bootstrapped like a Supabase project's. */
function freshDatabase(name) {
  sql(`drop database if exists ${name}`);
  sql(`create database ${name}`);
  const url = db.replace("/postgres?", `/${name}?`);
  const boot = spawnSync("psql", [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", path.join(ROOT, "scripts/stack/bootstrap-database.sql")], { encoding: "utf8" });
  assert.equal(boot.status, 0, boot.stderr);
  return url;
}

test("on an empty database the migrations apply cleanly, and a second run is a no-op", () => {
  const url = freshDatabase("migrate_empty");
  try {
    const first = migrate(undefined, url);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /applied 0001_health\.sql/);
    const second = migrate(undefined, url);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /0 new, database up to date/);
  } finally {
    sql("drop database migrate_empty");
  }
});

test("a host app's own workspace tables are kept when they have the needed columns, refused otherwise", () => {
  const url = freshDatabase("migrate_host");
  try {
    sql(`create table public.workspaces (id uuid primary key, title text, plan text not null, billing_id text);
         create table public.workspace_members (workspace_id uuid references public.workspaces, user_id uuid, role text, invited_by uuid);
         insert into public.workspaces values ('00000000-0000-0000-0000-000000000001', 'Host', 'growth', 'cus_1');`, url);
    const applied = migrate(undefined, url);
    assert.equal(applied.status, 0, applied.stderr);
    // Kept as they were: the host's extra columns and rows are still there, and no policy was added.
    assert.equal(sql("select billing_id from public.workspaces", url), "cus_1");
    assert.equal(sql("select count(*) from pg_policies where tablename in ('workspaces', 'workspace_members')", url), "0");
  } finally {
    sql("drop database migrate_host");
  }
  const lacking = freshDatabase("migrate_lacking");
  try {
    sql("create table public.workspaces (id uuid primary key, tier text); create table public.workspace_members (workspace_id uuid, user_id uuid);", lacking);
    const refused = migrate(undefined, lacking);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /lack columns this service needs: workspaces\.plan \(text\), workspace_members\.role \(text\)/);
    assert.equal(sql("select count(*) from app_migrations.applied where filename like '0002%'", lacking), "0");
  } finally {
    sql("drop database migrate_lacking");
  }
});
