#!/usr/bin/env bash
# `make bench`: seed PostgreSQL in bulk, start guichet pinned to CPU 1, drive it from CPU 0 with
# guichet-bench for every scenario at 16×8 and at 1×1, stop it, then run the criterion
# micro-benchmarks of the decision. Not a test: it prints figures and asserts nothing about time.
#
# Environment (all optional):
#   GUICHET_BENCH_DATABASE_URL  the database to (re)create, default
#                               postgres://postgres@127.0.0.1:5432/guichet_bench (dropped first!)
#   BENCH_ACCOUNTS              accounts to seed (default 100000)
#   BENCH_MEMBERSHIPS           memberships to seed (default 1000000)
#   BENCH_DURATION, BENCH_WARMUP  seconds per run (default 10 and 3)
#   BENCH_SCENARIOS             default "hot uniform writes tree-writes uncached store-down lookups"
#                               (store-down starts a PostgreSQL of its own, see below; lookups
#                               seeds a database of its own, GUICHET_BENCH_DATABASE_URL's name
#                               with `_lookups`)
#   BENCH_ADDR, BENCH_ADMIN     the server's gRPC and admin addresses (default 127.0.0.1:50061 and
#                               127.0.0.1:50062)
#   BENCH_OUTAGE_ACCOUNTS, BENCH_OUTAGE_MEMBERSHIPS  the store-down world (default 2000 / 20000)
#   BENCH_OUTAGE_DOWN           seconds PostgreSQL stays stopped in store-down (default 30)
#   BENCH_SKIP_SEED=1           reuse the database as it is
#   BENCH_SKIP_CRITERION=1      skip `cargo bench`
#   BENCH_OUT                   where the frames and the report go (default bench/ in cargo's target
#                               directory)
#   BENCH_SERVER_BIN            the guichet binary to load (default release/guichet in cargo's target
#                               directory), e.g. a build of another commit, to compare two builds on
#                               one dataset
#   BENCH_BIN                   the guichet-bench binary (default release/guichet-bench in cargo's
#                               target directory)
#   BENCH_SKIP_BUILD=1          build nothing: run BENCH_SERVER_BIN and BENCH_BIN as they are (for a
#                               target directory that other worktrees share)
#   BENCH_PREWARM=0             do not read the database into memory before the writes and uncached
#                               scenarios (they then measure the disk too where the page cache was
#                               dropped)
#   BENCH_SKIP_LOOKUPS=1        skip the lookups over 100,000 candidates (their world is the database
#                               named as GUICHET_BENCH_DATABASE_URL's with `_lookups` appended,
#                               dropped first!)
set -euo pipefail

cd "$(dirname "$0")/../.."
CARGO=${CARGO:-cargo}
URL=${GUICHET_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/guichet_bench}
ACCOUNTS=${BENCH_ACCOUNTS:-100000}
MEMBERSHIPS=${BENCH_MEMBERSHIPS:-1000000}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
SCENARIOS=${BENCH_SCENARIOS:-hot uniform writes tree-writes uncached store-down lookups}
# Cargo's target directory, wherever CARGO_TARGET_DIR or a config puts it.
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
OUT=${BENCH_OUT:-$TARGET_DIR/bench}
ADDR=${BENCH_ADDR:-127.0.0.1:50061}
ADMIN=${BENCH_ADMIN:-127.0.0.1:50062}
WORLD=(--accounts "$ACCOUNTS" --memberships "$MEMBERSHIPS")

# taskset pins when the machine has the two CPUs; elsewhere the run goes on unpinned. `pin` execs, so
# call it only in a subshell (in the background or in a pipeline): `$!` is then the pid of the program.
pin() {
  local cpu=$1; shift
  if command -v taskset >/dev/null && taskset -c "$cpu" true 2>/dev/null; then
    exec taskset -c "$cpu" "$@"
  else
    exec "$@"
  fi
}

mkdir -p "$OUT"
REPORT="$OUT/report.txt"
: >"$REPORT"
say() { echo "$@" | tee -a "$REPORT"; }
# A path as the report shows it: relative to the repository or to the target directory, never a
# path of this machine.
rel() {
  case "$1" in
    "$PWD"/*) echo "${1#"$PWD/"}" ;;
    "$TARGET_DIR"/*) echo "<target>/${1#"$TARGET_DIR/"}" ;;
    *) basename "$1" ;;
  esac
}

say "== guichet bench: $(nproc) CPUs, $(uname -sr), $ACCOUNTS accounts / $MEMBERSHIPS memberships"
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  $CARGO build --release --locked -p guichet-server -p guichet-bench
fi
BENCH=${BENCH_BIN:-$TARGET_DIR/release/guichet-bench}
GUICHET=${BENCH_SERVER_BIN:-$TARGET_DIR/release/guichet}

if [[ "${BENCH_SKIP_SEED:-0}" != 1 ]]; then
  # The database name is the URL's path; the maintenance connection is the same server's `postgres`.
  DB=${URL##*/}; DB=${DB%%\?*}
  MAINTENANCE=${URL%/*}/postgres
  say "== (re)creating database $DB"
  psql "$MAINTENANCE" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" -c "CREATE DATABASE \"$DB\""
  say "== seeding"
  "$BENCH" seed --database-url "$URL" "${WORLD[@]}" | tee -a "$REPORT"
fi

say "== frames in $(rel "$OUT/frames")"
"$BENCH" frames --out "$OUT/frames" "${WORLD[@]}" | tee -a "$REPORT"

LOG="$OUT/server.log"
SERVER=
# start_server URL [VAR=value…]: starts guichet pinned to CPU 1 on $ADDR (admin on $ADMIN) over the
# database URL, with the extra environment given; sets SERVER to its pid.
start_server() {
  local url=$1; shift
  (
    export GUICHET__AUTHZEN__ENABLED=false GUICHET__ADMIN__LISTEN="$ADMIN" "$@"
    pin 1 "$GUICHET" serve --listen "$ADDR" --database-url "$url"
  ) >"$LOG" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do
    grep -q "listening on" "$LOG" && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$LOG"; echo "guichet did not start" >&2; exit 1; }
    sleep 0.2
  done
  grep -q "listening on" "$LOG" || { cat "$LOG"; echo "guichet did not start in time" >&2; exit 1; }
}
stop() { [[ -n "$SERVER" ]] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; SERVER=; }
trap stop EXIT
start_server "$URL"
say "== server $(rel "$GUICHET"), load generator $(rel "$BENCH")"
say "== guichet pid $SERVER on $ADDR (CPU 1); load generator on CPU 0; RSS at start $(awk '/VmRSS/ {print $2, $3}' /proc/$SERVER/status)"

# The writes and uncached scenarios measure the store over a database whose working set is in
# memory, as a production PostgreSQL's is. Pages idle for a few seconds may have left the page cache (some virtual
# machines reclaim idle memory proactively, e.g. DAMON's pageout), so read every table and index of
# the database back first with pg_prewarm (a contrib extension shipped with PostgreSQL).
prewarm() {
  [[ "${BENCH_PREWARM:-1}" == 1 ]] || return 0
  local pages
  if pages=$(psql "$URL" -qAt -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
    -c "SELECT sum(pg_prewarm(c.oid::regclass)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')" 2>&1); then
    say "== prewarmed ${pages##*$'\n'} pages"
  else
    say "== not prewarmed (pg_prewarm: ${pages##*$'\n'}): the store scenarios may read from disk"
  fi
}

# store-down: a PostgreSQL of the bench's own (initdb into a temporary folder, as the `postgres`
# user when run as root, on a free port), seeded with a small world, stopped for
# BENCH_OUTAGE_DOWN seconds under a cached load, with cache.serve_stale_when_store_down_ms 0 and
# 60000. The shared database server is never stopped.
store_down() {
  local pgbin dir port url as=() opts
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [[ -x "$pgbin/initdb" ]] || { say "== store-down skipped: no /usr/lib/postgresql/*/bin/initdb"; return 0; }
  dir=$(mktemp -d "${TMPDIR:-/tmp}/guichet-bench-pg.XXXXXX")
  if [[ $(id -u) == 0 ]]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as[@]}" "$pgbin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
  opts="-p $port -k $dir -c listen_addresses=127.0.0.1"
  local pgctl=("${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "$opts")
  "${pgctl[@]}" start >/dev/null
  url="postgres://postgres@127.0.0.1:$port/postgres"
  local world=(--accounts "${BENCH_OUTAGE_ACCOUNTS:-2000}" --memberships "${BENCH_OUTAGE_MEMBERSHIPS:-20000}")
  say "== store-down: PostgreSQL of its own on port $port; seeding ${world[*]}"
  "$BENCH" seed --database-url "$url" "${world[@]}" | tee -a "$REPORT"
  local stop_cmd start_cmd
  stop_cmd="$(printf '%q ' "${pgctl[@]}") -m immediate stop >/dev/null"
  start_cmd="$(printf '%q ' "${pgctl[@]}") start >/dev/null"
  for bound in 0 60000; do
    start_server "$url" GUICHET__CACHE__SERVE_STALE_WHEN_STORE_DOWN_MS="$bound"
    pin 0 "$BENCH" outage --addr "$ADDR" --connections 16 --streams 8 --distinct 10000 --before 5 \
      --down "${BENCH_OUTAGE_DOWN:-30}" --after 10 --bound-ms "$bound" --stop "$stop_cmd" --start "$start_cmd" \
      "${world[@]}" | tee -a "$REPORT"
    stop
  done
  "${pgctl[@]}" -m immediate stop >/dev/null || true
  rm -rf "$dir"
}

# lookups: the lookup world (lookups.rs) in a database of its own, asked by `guichet-bench lookups`.
# ListAccessibleAccounts, ListAuthorizedSubjects and ListAccessibleResources, 100,000
# candidates per question, 1% and 50% allowed; first page of 50 (asked 100 times: min, p50, p99,
# max) and full listing in pages of 1,000, with the store statements per walk.
lookups() {
  [[ "${BENCH_SKIP_LOOKUPS:-0}" != 1 ]] || { say "== lookups skipped (BENCH_SKIP_LOOKUPS=1)"; return 0; }
  local db url
  db=${URL##*/}; db=${db%%\?*}_lookups
  url=${URL%/*}/$db
  psql "${URL%/*}/postgres" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\""
  say "== lookups: seeding $db"
  "$BENCH" lookups-seed --database-url "$url" | tee -a "$REPORT"
  start_server "$url"
  pin 0 "$BENCH" lookups --addr "$ADDR" --repeat 100 --database-url "$url" --server-pid "$SERVER" | tee -a "$REPORT"
  stop
}

for scenario in $SCENARIOS; do
  case "$scenario" in
    store-down | lookups) continue ;;
  esac
  for shape in "16 8" "1 1"; do
    case "$scenario" in
      writes | tree-writes | uncached) prewarm ;;
    esac
    read -r connections streams <<<"$shape"
    pin 0 "$BENCH" load --addr "$ADDR" --scenario "$scenario" --connections "$connections" --streams "$streams" \
      --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER" --metrics "$ADMIN" "${WORLD[@]}" | tee -a "$REPORT"
  done
done

stop
say "== server stopped"
for scenario in $SCENARIOS; do
  case "$scenario" in
    store-down) store_down ;;
    lookups) lookups ;;
  esac
done
trap - EXIT

if [[ "${BENCH_SKIP_CRITERION:-0}" != 1 ]]; then
  $CARGO bench --locked -p guichet-domain --bench decision 2>&1 | tee -a "$REPORT"
fi
say "== report: $(rel "$REPORT")"
