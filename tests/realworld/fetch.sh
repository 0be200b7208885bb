#!/usr/bin/env bash
# tests/realworld/fetch.sh DEST
#
# Fetches a real-world PostgreSQL migration history for sluice's tests and writes it
# to DEST in the golang-migrate layout:
#
#   DEST/migrations/NNNN_<name>.up.sql     397 up/down pairs, NNNN = 0001..0397
#   DEST/migrations/NNNN_<name>.down.sql
#   DEST/prelude.sql      apply once before the first up (creates db-migrate's own
#                         "migrations" table, which 0133 and 0180 read/write)
#   DEST/LICENSE          upstream licence text (AGPL-3.0-or-later)
#   DEST/SOURCE.md        provenance
#   DEST/MANIFEST.sha256  checksums of everything above
#
# Source: the npm package unleash-server@8.2.0 (Unleash feature-flag server). Its history
# is 397 db-migrate migrations (dist/migrations/*.js), and almost all of them are just
# db.runSql(`...`). To get plain SQL, this script runs them with Unleash's own migrator
# (db-migrate 0.11.14 + db-migrate-pg 1.5.2, up all then reset) against a scratch
# PostgreSQL, records every statement the pg driver sends, and writes each migration's
# statements to its .up.sql/.down.sql file. Randomness (one random secret, one UUID) is
# pinned, so the output is the same on every run and is checked against EXPECTED_SHA.
#
# Needs: node + npm (npm registry reachable), a PostgreSQL server install
# (initdb/pg_ctl; default /usr/lib/postgresql/15/bin, override with PGBIN), and, when run
# as root, a "postgres" system user to run that scratch server as.
# Safe to run again: if DEST already holds a verified copy, it exits 0 without doing anything.
# Exit codes: 0 ok, 1 usage/prerequisite, 2 registry unreachable, 3 integrity/verification failure.
set -euo pipefail

PKG=unleash-server
VER=8.2.0
TARBALL_INTEGRITY='sha512-Fw7n3zsp1/B8Vjz7hvTFFzRmDZzxMqI9hbpGGMfU9wksAIu1ofKTx2HK6XBwd2DgEqy3me4xVGjknngyxRIdPA=='
# sha256 over "sha256sum migrations/* prelude.sql" output (sorted, relative paths)
EXPECTED_SHA=fc5e48608cf4e2f993baf79bf37da4ac0b7b1d78bff80b87bb7547c2d56e3e44
EXPECTED_PAIRS=397
TOOLS=(db-migrate@0.11.14 db-migrate-pg@1.5.2 db-migrate-base@2.3.1 db-migrate-shared@1.2.0 async@3.2.6 pg@8.23.1)

die() { local code=$1; shift; echo "realworld-fetch: error: $*" >&2; exit "$code"; }
say() { echo "realworld-fetch: $*" >&2; }

[ $# -eq 1 ] && [ -n "$1" ] || die 1 "usage: $0 DEST-DIR"
DEST=$1
STAMP="$PKG@$VER $EXPECTED_SHA"

tree_sha() { (cd "$1" && sha256sum migrations/*.sql prelude.sql | sha256sum | cut -d' ' -f1); }

# ---- idempotence: already there and intact? ------------------------------------------
if [ -f "$DEST/.realworld-stamp" ] && [ "$(cat "$DEST/.realworld-stamp")" = "$STAMP" ] &&
   [ -f "$DEST/MANIFEST.sha256" ] &&
   (cd "$DEST" && sha256sum --quiet -c MANIFEST.sha256 >/dev/null 2>&1) &&
   [ "$(tree_sha "$DEST")" = "$EXPECTED_SHA" ]; then
  say "$DEST already holds $PKG@$VER ($EXPECTED_PAIRS pairs), verified; nothing to do"
  exit 0
fi

# ---- prerequisites ------------------------------------------------------------------
command -v node >/dev/null || die 1 "node not found (apt-get install nodejs npm)"
command -v npm >/dev/null || die 1 "npm not found (apt-get install npm)"
command -v sha256sum >/dev/null || die 1 "sha256sum not found"
if [ -z "${PGBIN:-}" ]; then
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then PGBIN=/usr/lib/postgresql/15/bin
  else PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true); fi
fi
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] ||
  die 1 "no PostgreSQL server binaries (initdb, pg_ctl) found; set PGBIN or apt-get install postgresql-15"
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die 1 "running as root but there is no 'postgres' user to run the scratch server"
  RUNAS=(runuser -u postgres --)
fi

# ---- registry reachable? --------------------------------------------------------------
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
if ! got=$(timeout 90 npm view --fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000 --fetch-timeout=30000 "$PKG@$VER" version 2>/dev/null) || [ "$got" != "$VER" ]; then
  die 2 "the npm registry is unreachable (or does not serve $PKG@$VER): 'npm view $PKG@$VER version' failed; check network/npm config (npm config get registry = $(npm config get registry 2>/dev/null || echo '?'))"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/realworld-fetch.XXXXXX")
PGD=$(mktemp -d "${TMPDIR:-/tmp}/realworld-pg.XXXXXX")
cleanup() {
  if [ -f "$PGD/data/postmaster.pid" ]; then
    "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK" "$PGD"
}
trap cleanup EXIT

# ---- fetch and check the package ------------------------------------------------------------
say "fetching $PKG@$VER from the npm registry"
(cd "$WORK" && timeout 600 npm pack "$PKG@$VER" --silent >/dev/null 2>&1) ||
  die 2 "npm pack $PKG@$VER failed (registry unreachable?)"
TGZ="$WORK/$PKG-$VER.tgz"
[ -f "$TGZ" ] || die 3 "npm pack did not produce $TGZ"
have=$(node -e 'const c=require("crypto");process.stdout.write("sha512-"+c.createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$TGZ")
[ "$have" = "$TARBALL_INTEGRITY" ] || die 3 "tarball integrity mismatch: got $have, want $TARBALL_INTEGRITY"
mkdir -p "$WORK/pkg"
tar -xzf "$TGZ" -C "$WORK/pkg" package/LICENSE package/dist/migrations
n_js=$(ls "$WORK/pkg/package/dist/migrations/"*.js | wc -l)
[ "$n_js" = "$EXPECTED_PAIRS" ] || die 3 "expected $EXPECTED_PAIRS migrations in the package, found $n_js"

say "installing the migrator (${TOOLS[*]})"
mkdir -p "$WORK/tools"
echo '{"name":"realworld-tools","version":"0.0.0","private":true}' >"$WORK/tools/package.json"
(cd "$WORK/tools" && timeout 600 npm install --silent --ignore-scripts --no-package-lock "${TOOLS[@]}" >/dev/null 2>&1) ||
  die 2 "npm install of ${TOOLS[*]} failed (registry unreachable?)"

# ---- scratch PostgreSQL ---------------------------------------------------------------------
say "starting a scratch PostgreSQL ($PGBIN)"
chmod 755 "$PGD"
[ "$(id -u)" = 0 ] && chown postgres "$PGD"
"${RUNAS[@]}" "$PGBIN/initdb" -D "$PGD/data" --auth=trust -U postgres >"$PGD/initdb.log" 2>&1 ||
  { cat "$PGD/initdb.log" >&2; die 1 "initdb failed"; }
"${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w \
  -o "-k $PGD -c listen_addresses='' -c fsync=off" start >/dev/null ||
  { cat "$PGD/server.log" >&2; die 1 "could not start the scratch PostgreSQL"; }

# ---- run the migrations for real and record the SQL ----------------------------------------
cat >"$WORK/capture.js" <<'CAPTURE_JS'
'use strict';
// Run the package's db-migrate migrations (up all, then reset) and record every SQL
// text the pg driver sends; write one NNNN_<name>.{up,down}.sql pair per migration.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const [dir, host, database, outdir] = process.argv.slice(2);

// Determinism: two migrations generate a random secret / instance id.
let uuidN = 0;
crypto.randomUUID = () => '00000000-0000-4000-8000-' + String(++uuidN).padStart(12, '0');
crypto.randomBytes = function (n, cb) {
  const buf = Buffer.alloc(n, 0x5a);
  if (typeof cb === 'function') { process.nextTick(cb, null, buf); return undefined; }
  return buf;
};

const pg = require('pg');
const stream = [];
let phase = 'setup';
const orig = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, values) {
  let text, vals;
  if (typeof config === 'string') {
    text = config;
    vals = Array.isArray(values) ? values : undefined;
  } else if (config && typeof config.text === 'string') {
    text = config.text;
    vals = config.values || (Array.isArray(values) ? values : undefined);
  }
  if (text !== undefined) stream.push({ phase, text, vals });
  return orig.apply(this, arguments);
};

function literal(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (v instanceof Date) return "'" + v.toISOString() + "'";
  if (typeof v === 'object') v = JSON.stringify(v);
  return "'" + String(v).replace(/'/g, "''") + "'";
}
const inline = (text, vals) =>
  !vals || !vals.length ? text : text.replace(/\$(\d+)/g, (m, i) => literal(vals[Number(i) - 1]));

// db-migrate runs each migration as BEGIN; <statements>; <bookkeeping>; COMMIT;
function split(ph, marker) {
  const res = [];
  let cur = null;
  for (const q of stream) {
    if (q.phase !== ph) continue;
    const t = q.text.trim();
    if (t === 'BEGIN;') { cur = []; continue; }
    if (t === 'COMMIT;') { cur = null; continue; }
    if (cur === null) continue; // db-migrate's own setup queries
    if (marker.test(t)) {
      const name = String(q.vals[0]).replace(/^\//, '');
      if (!res.length || res[res.length - 1].name !== name) res.push({ name, stmts: cur });
      cur = [];
      continue;
    }
    const s = inline(q.text, q.vals).trim();
    if (s) cur.push(s);
  }
  return res;
}

function body(name, dirn, stmts) {
  let out = '-- unleash-server 8.2.0 dist/migrations/' + name + '.js (' + dirn + ')\n' +
    '-- statements as db-migrate 0.11.14 / db-migrate-pg 1.5.2 sent them to PostgreSQL\n';
  for (const s of stmts) out += '\n' + s + (/;\s*$/.test(s) ? '' : ';') + '\n';
  return out;
}

const DBMigrate = require('db-migrate');
(async () => {
  const dbm = DBMigrate.getInstance(true, {
    cwd: dir,
    config: { custom: { driver: 'pg', host, database, user: 'postgres' } },
    env: 'custom',
    throwUncatched: true,
  });
  dbm.silence(true);
  phase = 'up';
  await dbm.up();
  phase = 'down';
  await dbm.reset();

  const ups = split('up', /^INSERT INTO "migrations" /);
  const downs = new Map(split('down', /^DELETE FROM "migrations" /).map((m) => [m.name, m.stmts]));
  const js = fs.readdirSync(path.join(dir, 'migrations')).filter((f) => /\.js$/.test(f));
  if (ups.length !== js.length) throw new Error(`captured ${ups.length} up migrations, package has ${js.length}`);
  if (downs.size !== ups.length) throw new Error(`captured ${downs.size} down migrations for ${ups.length} up`);
  fs.mkdirSync(outdir, { recursive: true });
  ups.forEach((m, i) => {
    if (!downs.has(m.name)) throw new Error('no down captured for ' + m.name);
    const base = String(i + 1).padStart(4, '0') + '_' + m.name;
    fs.writeFileSync(path.join(outdir, base + '.up.sql'), body(m.name, 'up', m.stmts));
    fs.writeFileSync(path.join(outdir, base + '.down.sql'), body(m.name, 'down', downs.get(m.name)));
  });
  process.exit(0);
})().catch((e) => {
  console.error('capture failed:', (e && e.stack) || e);
  process.exit(1);
});
CAPTURE_JS

PSQL_CREATE=("${RUNAS[@]}" "$PGBIN/psql" -X -q -h "$PGD" -U postgres -d postgres -v ON_ERROR_STOP=1)
[ -x "$PGBIN/psql" ] || PSQL_CREATE=(psql -X -q -h "$PGD" -U postgres -d postgres -v ON_ERROR_STOP=1)
"${PSQL_CREATE[@]}" -c 'CREATE DATABASE capture' || die 1 "could not create the scratch database"

say "running the $EXPECTED_PAIRS migrations up and down with db-migrate, recording the SQL"
OUT="$WORK/out"
mkdir -p "$OUT/migrations"
NODE_PATH="$WORK/tools/node_modules" NODE_NO_WARNINGS=1 \
  node "$WORK/capture.js" "$WORK/pkg/package/dist" "$PGD" capture "$OUT/migrations" ||
  { tail -20 "$PGD/server.log" >&2; die 3 "capturing the migrations failed"; }

printf '%s\n' \
  '-- Apply once, before the first up migration: db-migrate'"'"'s bookkeeping table, which' \
  '-- 0133_20221103111940-fix-migrations.up.sql (DELETE) and' \
  '-- 0180_20230510113903-fix-api-token-username-migration.up.sql (SELECT) refer to.' \
  'CREATE TABLE IF NOT EXISTS "migrations" ("id" SERIAL PRIMARY KEY NOT NULL, "name" VARCHAR (255) NOT NULL, "run_on" TIMESTAMP NOT NULL);' \
  >"$OUT/prelude.sql"
cp "$WORK/pkg/package/LICENSE" "$OUT/LICENSE"
cat >"$OUT/SOURCE.md" <<EOF
# Provenance

- npm package: $PKG@$VER (Unleash, https://www.npmjs.com/package/$PKG), licence AGPL-3.0-or-later (LICENSE)
- tarball integrity: $TARBALL_INTEGRITY
- original form: dist/migrations/*.js, db-migrate migrations (exports.up / exports.down)
- conversion: run for real with db-migrate 0.11.14 + db-migrate-pg 1.5.2 (up all, then reset)
  against a scratch PostgreSQL; every statement the pg driver sent inside each migration's
  BEGIN..COMMIT is written to NNNN_<name>.up.sql / .down.sql, in that order (NNNN = the order
  db-migrate ran them; names kept as they were, because some db-migrate timestamps repeat).
  Bind parameters are written in as literals; crypto.randomUUID/randomBytes were pinned.
- apply prelude.sql first; run each file in its own transaction (psql --single-transaction):
  0095 uses CREATE TEMPORARY TABLE ... ON COMMIT DROP across statements.
EOF
ls "$OUT/migrations" | grep -c '\.up\.sql$' | grep -qx "$EXPECTED_PAIRS" || die 3 "wrong number of up files"
ls "$OUT/migrations" | grep -c '\.down\.sql$' | grep -qx "$EXPECTED_PAIRS" || die 3 "wrong number of down files"
got_sha=$(tree_sha "$OUT")
if [ "$got_sha" != "$EXPECTED_SHA" ]; then
  if [ "${REALWORLD_ALLOW_MISMATCH:-0}" = 1 ]; then
    say "warning: output checksum $got_sha differs from the expected $EXPECTED_SHA (allowed by REALWORLD_ALLOW_MISMATCH=1)"
  else
    die 3 "output checksum $got_sha differs from the expected $EXPECTED_SHA (set REALWORLD_ALLOW_MISMATCH=1 to accept)"
  fi
fi
(cd "$OUT" && sha256sum prelude.sql LICENSE SOURCE.md migrations/*.sql >MANIFEST.sha256)

# ---- install into DEST (replace only what this script owns) -----------------------------------------
mkdir -p "$DEST"
rm -rf "$DEST/migrations" "$DEST/.realworld-stamp"
cp -r "$OUT/migrations" "$DEST/migrations"
cp "$OUT/prelude.sql" "$OUT/LICENSE" "$OUT/SOURCE.md" "$OUT/MANIFEST.sha256" "$DEST/"
printf '%s\n' "$STAMP" >"$DEST/.realworld-stamp"
say "wrote $EXPECTED_PAIRS up/down pairs to $DEST/migrations (apply $DEST/prelude.sql first)"
