#!/usr/bin/env bash
# A throwaway PostgreSQL server for the JDBC connector tests (Debian's `postgresql` package).
#
#   scripts/postgres.sh up      initdb + start on 127.0.0.1:${KSQLITE_POSTGRES_PORT:-15432} as the
#                               postgres user; the LAST line printed is the JDBC URL to use
#   scripts/postgres.sh down    stop it and delete its data
#
# Trust authentication on the loopback address only: a test server, never a real one.
set -euo pipefail
PORT="${KSQLITE_POSTGRES_PORT:-15432}"
DIR="${KSQLITE_POSTGRES_DIR:-${TMPDIR:-/tmp}/ksqlite-postgres}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
log() { echo "postgres: $*" >&2; }
die() { log "$*"; exit 1; }
[[ -n "$BIN" ]] || die "PostgreSQL is not installed (apt-get install postgresql)"

as_postgres() { if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cmd_up() {
    if [[ -f "$DIR/data/postmaster.pid" ]] && as_postgres "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        log "already running"
    else
        rm -rf "$DIR"
        mkdir -p "$DIR"
        [[ "$(id -u)" == 0 ]] && chown postgres "$DIR"
        as_postgres "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync >/dev/null
        as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
            -o "-h 127.0.0.1 -p $PORT -k $DIR -F" start >/dev/null || { tail -20 "$DIR/server.log" >&2; die "did not start"; }
        log "up; log in $DIR/server.log"
    fi
    echo "jdbc:postgresql://127.0.0.1:$PORT/postgres?user=postgres"
}

cmd_down() {
    if [[ -d "$DIR/data" ]]; then
        as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
    log "down"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    *) die "usage: $0 up | down" ;;
esac
