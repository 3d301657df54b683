#!/usr/bin/env bash
# Brings up the PostgreSQL that `make dev` and `make test` need, idempotently.
#
#   scripts/provision-db.sh dev    the dev database  (cluster "main", port 5432, database numeraloop)
#   scripts/provision-db.sh test   the test database (cluster "numeraloop_test", port 5433, database numeraloop_test)
#
# pg_cron lives in exactly one database per cluster (cron.database_name), and both the dev
# and the test database need the real extension, so each gets its own cluster: tests drop
# and recreate their database freely and can never touch dev data.
#
# With DATABASE_URL (dev) or TEST_DATABASE_URL (test) set, that server is used as it is
# (for example the one `supabase start` runs) and nothing local is installed or changed.
set -euo pipefail

PG_VERSION="${NUMERALOOP_PG_VERSION:-15}"
target="${1:-}"

log() { printf 'provision-db: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "$target" in
  dev)
    url_var=DATABASE_URL; url="${DATABASE_URL:-}"
    cluster="main"; port="${NUMERALOOP_DEV_PG_PORT:-5432}"; dbname="numeraloop" ;;
  test)
    url_var=TEST_DATABASE_URL; url="${TEST_DATABASE_URL:-}"
    cluster="numeraloop_test"; port="${NUMERALOOP_TEST_PG_PORT:-5433}"; dbname="numeraloop_test" ;;
  *) die "usage: $0 dev|test" ;;
esac

if [ -n "$url" ]; then
  log "$target: using the server at \$$url_var as configured; nothing local is changed"
  psql "$url" -XAtqc 'select 1' >/dev/null || die "cannot connect to the configured $target database"
  exit 0
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else die "needs root to run: $* (or set $url_var)"; fi
}

ensure_packages() {
  local ext=/usr/share/postgresql/$PG_VERSION/extension missing=()
  command -v pg_ctlcluster >/dev/null || missing+=("postgresql-$PG_VERSION")
  [ -f "$ext/pg_cron.control" ] || missing+=("postgresql-$PG_VERSION-cron")
  [ -f "$ext/pgtap.control" ] || missing+=("postgresql-$PG_VERSION-pgtap")
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

cluster_status() { pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$cluster" '$1==v && $2==c {print $4}'; }

ensure_cluster() {
  if [ -z "$(cluster_status)" ]; then
    log "creating cluster $PG_VERSION/$cluster on port $port"
    # Loopback-only, trust auth: this is a disposable local cluster, as the main one here is.
    as_root pg_createcluster "$PG_VERSION" "$cluster" -p "$port" -- --auth-local=trust --auth-host=trust >/dev/null
    printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$port" \
      | as_root tee "/etc/postgresql/$PG_VERSION/$cluster/conf.d/50-numeraloop-listen.conf" >/dev/null
  fi
  if [ "$(cluster_status)" != online ]; then
    log "starting cluster $PG_VERSION/$cluster"
    as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$cluster" start
  fi
  wait_ready
}

wait_ready() {
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && return
    sleep 0.5
  done
  die "PostgreSQL on 127.0.0.1:$port did not become ready; see /var/log/postgresql/postgresql-$PG_VERSION-$cluster.log"
}

q() { psql -h 127.0.0.1 -p "$port" -U postgres -d "${2:-postgres}" -XAtqc "$1"; }

ensure_pg_cron() {
  local preload cron_db conf restart=no
  preload="$(q 'show shared_preload_libraries')"
  cron_db="$(q "select current_setting('cron.database_name', true)")"
  if [[ ",${preload// /}," != *",pg_cron,"* ]]; then
    local merged="pg_cron"
    [ -n "${preload// /}" ] && merged="${preload// /},pg_cron"
    log "adding pg_cron to shared_preload_libraries of $cluster"
    q "alter system set shared_preload_libraries = '$merged'" >/dev/null
    restart=yes
  fi
  conf="/etc/postgresql/$PG_VERSION/$cluster/conf.d/60-numeraloop-cron.conf"
  # cron.* cannot be set with ALTER SYSTEM before pg_cron is loaded, hence a conf.d file.
  # Background workers run jobs without a libpq login, so pg_hba needs no entry for them.
  local want
  want=$(printf "cron.database_name = '%s'\ncron.use_background_workers = on\n" "$dbname")
  if [ "$cron_db" != "$dbname" ] || [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    log "setting cron.database_name = $dbname on $cluster"
    printf '%s\n' "$want" | as_root tee "$conf" >/dev/null
    restart=yes
  fi
  if [ "$restart" = yes ]; then
    log "restarting cluster $PG_VERSION/$cluster to load pg_cron"
    as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$cluster" restart
    wait_ready
  fi
}

ensure_database() {
  if [ "$(q "select 1 from pg_database where datname = '$dbname'")" != 1 ]; then
    log "creating database $dbname"
    q "create database $dbname" >/dev/null
  fi
}

ensure_packages
ensure_cluster
ensure_pg_cron
ensure_database
log "$target database ready: postgresql://postgres@127.0.0.1:$port/$dbname"
