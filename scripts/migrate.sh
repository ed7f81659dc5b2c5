#!/usr/bin/env bash
# Applies migrations/*.sql in file-name order, each exactly once, to the database at $1
# (a libpq connection string, e.g. a Supabase project's direct connection URI).
# Applied files are recorded with their SHA-256 in app_migrations.applied; an applied file whose
# content has changed stops the run (write a new migration instead). Each file and its record
# commit together. Ends with NOTIFY pgrst so PostgREST reloads its schema cache.
set -euo pipefail
export LC_ALL=C PGCLIENTENCODING=UTF8 # file-name order must not depend on the locale

db_url="${1:-${DATABASE_URL:-}}"
if [ -z "$db_url" ]; then
  echo "usage: npm run migrate -- <postgres connection string>   (or set DATABASE_URL)" >&2
  exit 2
fi
dir="${MIGRATIONS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/migrations}"
psql_q() { psql "$db_url" -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_q -c "create schema if not exists app_migrations;
  create table if not exists app_migrations.applied (
    filename text primary key,
    sha256 text not null,
    applied_at timestamptz not null default now());
  revoke all on schema app_migrations from public;" >/dev/null

applied=0
shopt -s nullglob
for file in "$dir"/*.sql; do
  name=$(basename "$file")
  sum=$(sha256sum "$file" | cut -d' ' -f1)
  recorded=$(psql_q -At -v name="$name" <<<"select sha256 from app_migrations.applied where filename = :'name';")
  if [ -n "$recorded" ]; then
    if [ "$recorded" != "$sum" ]; then
      echo "migrate: $name was changed after it was applied; add a new migration instead" >&2
      exit 1
    fi
    continue
  fi
  {
    echo "begin;"
    cat "$file"
    echo
    echo "insert into app_migrations.applied (filename, sha256) values (:'name', :'sum');"
    echo "commit;"
  } | psql_q -v name="$name" -v sum="$sum" >/dev/null
  echo "migrate: applied $name"
  applied=$((applied + 1))
done
psql_q -c "notify pgrst, 'reload schema';" >/dev/null
echo "migrate: $applied new, database up to date"
