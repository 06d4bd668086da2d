#!/usr/bin/env bash
# A distributed Kafka Connect worker on a running Kafka cluster, for ksqlite's external connect
# mode (ksql.connect.url) and its tests.
#
#   scripts/connect-worker.sh up BOOTSTRAP   start a worker (REST on 127.0.0.1:18083); the LAST line
#                                            printed is its URL
#   scripts/connect-worker.sh down           stop it and delete its files
#   scripts/connect-worker.sh status         print the URL if it runs
#
# Needs Java 17+ and Maven: Apache Kafka's connect-runtime, connect-file and connect-json jars
# (the broker's version, 3.9.1) come from Maven Central (scripts/connect/pom.xml) and are cached
# under ~/.cache/ksqlite/connect. The worker runs with -Xmx256m; start-up waits at most
# KSQLITE_CONNECT_START_TIMEOUT seconds (90) for the REST API to answer.
#
# Environment: KSQLITE_KAFKA_VERSION (3.9.1), KSQLITE_CONNECT_CACHE, KSQLITE_CONNECT_DIR
# (${TMPDIR:-/tmp}/ksqlite-connect-worker), KSQLITE_CONNECT_PORT (18083).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="${KSQLITE_KAFKA_VERSION:-3.9.1}"
CACHE="${KSQLITE_CONNECT_CACHE:-$HOME/.cache/ksqlite/connect}"
LIB="$CACHE/lib-$VERSION"
DIR="${KSQLITE_CONNECT_DIR:-${TMPDIR:-/tmp}/ksqlite-connect-worker}"
PORT="${KSQLITE_CONNECT_PORT:-18083}"
START_TIMEOUT="${KSQLITE_CONNECT_START_TIMEOUT:-90}"

log() { echo "connect-worker: $*" >&2; }
die() { log "$*"; exit 1; }

fetch_jars() {
    [[ -f "$LIB/.complete" ]] && return
    command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka Connect jars"
    log "fetching Apache Kafka Connect $VERSION jars from Maven Central into $LIB"
    local staging="$LIB.tmp.$$"
    rm -rf "$staging"
    mvn -q -B -Dstyle.color=never -f "$HERE/connect/pom.xml" -Dkafka.version="$VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$staging" >&2 \
        || { rm -rf "$staging"; die "mvn could not resolve org.apache.kafka:connect-runtime:$VERSION"; }
    touch "$staging/.complete"
    rm -rf "$LIB"
    mv "$staging" "$LIB"
}

url() { echo "http://127.0.0.1:$PORT"; }

running_pid() {
    [[ -f "$DIR/pid" ]] || return 0
    local pid; pid="$(cat "$DIR/pid")"
    if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && grep -q '"version"' <&3) 2>/dev/null; }

cmd_up() {
    local bootstrap="${1:-}"
    [[ -n "$bootstrap" ]] || die "usage: $0 up BOOTSTRAP_SERVERS"
    if [[ -n "$(running_pid)" ]]; then log "already running"; url; return; fi
    fetch_jars
    rm -rf "$DIR"
    mkdir -p "$DIR"
    local id; id="ksqlite-connect-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    cat > "$DIR/worker.properties" <<PROPS
bootstrap.servers=$bootstrap
group.id=$id
listeners=http://127.0.0.1:$PORT
rest.advertised.host.name=127.0.0.1
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=false
offset.storage.topic=$id-offsets
config.storage.topic=$id-configs
status.storage.topic=$id-status
offset.storage.replication.factor=1
config.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=1000
plugin.path=
PROPS
    cat > "$DIR/log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.logger.org.apache.kafka.connect=INFO
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/connect.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
    local java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
    # setsid: the worker outlives this script and the shell or CI step that ran it.
    setsid "$java" -Xms64m -Xmx256m -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$DIR/log4j.properties" -cp "$LIB/*" \
        org.apache.kafka.connect.cli.ConnectDistributed "$DIR/worker.properties" \
        > "$DIR/stdout.log" 2>&1 < /dev/null &
    echo $! > "$DIR/pid"
    local deadline=$((SECONDS + START_TIMEOUT))
    until answers; do
        if [[ -z "$(running_pid)" ]]; then
            tail -20 "$DIR/connect.log" "$DIR/stdout.log" >&2 || true
            die "the worker exited during start-up"
        fi
        if ((SECONDS > deadline)); then
            tail -20 "$DIR/connect.log" >&2 || true
            cmd_down
            die "the worker did not answer within ${START_TIMEOUT}s"
        fi
        sleep 0.5
    done
    log "up; log in $DIR/connect.log"
    url
}

cmd_down() {
    local pid; pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        kill "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while [[ -n "$(running_pid)" ]] && ((SECONDS < deadline)); do sleep 0.2; done
        pid="$(running_pid)"
        [[ -z "$pid" ]] || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$DIR"
    log "down"
}

cmd_status() {
    [[ -n "$(running_pid)" ]] || { log "not running"; exit 1; }
    url
}

case "${1:-}" in
    up) cmd_up "${2:-}" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    fetch) fetch_jars ;;
    *) die "usage: $0 up BOOTSTRAP | down | status" ;;
esac
