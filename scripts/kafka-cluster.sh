#!/usr/bin/env bash
# A local Apache Kafka cluster in KRaft mode, for ksqlite's tests and for trying ksqlite on Kafka.
#
#   scripts/kafka-cluster.sh up [N]     start N brokers (default 1) on 127.0.0.1; the LAST line
#                                       printed is the bootstrap servers (host:port,host:port,...)
#   scripts/kafka-cluster.sh down       stop the brokers and delete their data
#   scripts/kafka-cluster.sh status     print the bootstrap servers if the cluster runs
#
# Needs only Java 17+ and Maven: the broker's jars come from Maven Central (scripts/kafka/pom.xml,
# `mvn dependency:copy-dependencies`) and are cached under ~/.cache/ksqlite/kafka, so only the first
# `up` on a machine downloads (~50 MB, ~30 s). Nodes 1..min(N,3) are combined broker+controller
# nodes (the KRaft quorum), further nodes are brokers only. Each JVM gets -Xmx512m.
#
# Environment: KSQLITE_KAFKA_VERSION (3.9.1), KSQLITE_KAFKA_CACHE (~/.cache/ksqlite/kafka),
# KSQLITE_KAFKA_DIR (cluster data, logs and pids; ${TMPDIR:-/tmp}/ksqlite-kafka-cluster),
# KSQLITE_KAFKA_PORT (first broker port, 19092; controllers use port+100...).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="${KSQLITE_KAFKA_VERSION:-3.9.1}"
CACHE="${KSQLITE_KAFKA_CACHE:-$HOME/.cache/ksqlite/kafka}"
LIB="$CACHE/lib-$VERSION"
CLUSTER_DIR="${KSQLITE_KAFKA_DIR:-${TMPDIR:-/tmp}/ksqlite-kafka-cluster}"
BASE_PORT="${KSQLITE_KAFKA_PORT:-19092}"
START_TIMEOUT="${KSQLITE_KAFKA_START_TIMEOUT:-120}"

log() { echo "kafka-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

fetch_jars() {
    [[ -f "$LIB/.complete" ]] && return
    command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars"
    log "fetching Apache Kafka $VERSION jars from Maven Central into $LIB"
    local staging="$LIB.tmp.$$"
    rm -rf "$staging"
    mvn -q -B -Dstyle.color=never -f "$HERE/kafka/pom.xml" -Dkafka.version="$VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$staging" >&2 \
        || { rm -rf "$staging"; die "mvn could not resolve org.apache.kafka:kafka_2.13:$VERSION"; }
    touch "$staging/.complete"
    rm -rf "$LIB"
    mv "$staging" "$LIB"
}

java_cmd() { echo "${JAVA_HOME:+$JAVA_HOME/bin/}java"; }

running_pids() {
    local pid
    for pidfile in "$CLUSTER_DIR"/node-*/pid; do
        [[ -f "$pidfile" ]] || continue
        pid="$(cat "$pidfile")"
        kill -0 "$pid" 2>/dev/null && echo "$pid"
    done
    return 0
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_node_config() {  # node_id count voters
    local id="$1" count="$2" voters="$3" dir="$CLUSTER_DIR/node-$1"
    local broker_port=$((BASE_PORT + id - 1)) controller_port=$((BASE_PORT + 100 + id - 1))
    local replicas=$(( count < 3 ? count : 3 ))
    local min_isr=$(( replicas < 3 ? 1 : 2 ))
    local roles="broker" listeners="PLAINTEXT://127.0.0.1:$broker_port"
    if (( id <= replicas )); then
        roles="broker,controller"
        listeners="$listeners,CONTROLLER://127.0.0.1:$controller_port"
    fi
    mkdir -p "$dir/data"
    cat > "$dir/server.properties" <<EOF
process.roles=$roles
node.id=$id
controller.quorum.voters=$voters
listeners=$listeners
advertised.listeners=PLAINTEXT://127.0.0.1:$broker_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$replicas
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=10
# ksqlite creates the topics it needs, as ksqlDB does.
auto.create.topics.enable=false
# A test cluster: a new group starts consuming at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
# Test data carries old timestamps (QTT's ROWTIME 0, benchmark data from 2023): by default keep
# records forever, so that a run is not deleted under its feet. ksqlite leaves a topic's retention
# to this default unless it asks for another one, which is then applied as usual.
log.retention.ms=-1
num.network.threads=2
num.io.threads=4
EOF
    cat > "$dir/log4j.properties" <<EOF
log4j.rootLogger=WARN, file
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

bootstrap_servers() {
    local count="$1" servers=() id
    for ((id = 1; id <= count; id++)); do servers+=("127.0.0.1:$((BASE_PORT + id - 1))"); done
    (IFS=,; echo "${servers[*]}")
}

cmd_up() {
    local count="${1:-1}"
    [[ "$count" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 up N (N >= 1)"
    if [[ -n "$(running_pids)" ]]; then
        local running; running="$(cat "$CLUSTER_DIR/count" 2>/dev/null || echo 0)"
        [[ "$running" == "$count" ]] || die "a $running-broker cluster is running in $CLUSTER_DIR: run '$0 down' first"
        log "already running"
        bootstrap_servers "$count"
        return
    fi
    fetch_jars
    rm -rf "$CLUSTER_DIR"
    mkdir -p "$CLUSTER_DIR"
    echo "$count" > "$CLUSTER_DIR/count"
    local replicas=$(( count < 3 ? count : 3 )) voters=() id port
    for ((id = 1; id <= count; id++)); do
        for port in $((BASE_PORT + id - 1)) $((BASE_PORT + 100 + id - 1)); do
            port_free "$port" || die "port $port is in use (set KSQLITE_KAFKA_PORT to move the cluster)"
        done
    done
    for ((id = 1; id <= replicas; id++)); do voters+=("$id@127.0.0.1:$((BASE_PORT + 100 + id - 1))"); done
    local voter_list; voter_list="$(IFS=,; echo "${voters[*]}")"
    # A cluster id is 16 random bytes in URL-safe base64 without padding (what `random-uuid` prints).
    local cluster_id; cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    local java; java="$(java_cmd)"
    local pids=()
    for ((id = 1; id <= count; id++)); do
        write_node_config "$id" "$count" "$voter_list"
        "$java" -Xmx256m -cp "$LIB/*" -Dlog4j.configuration="file:$CLUSTER_DIR/node-$id/log4j.properties" \
            kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" \
            -c "$CLUSTER_DIR/node-$id/server.properties" > "$CLUSTER_DIR/node-$id/format.out" 2>&1 &
        pids+=($!)
    done
    for id in "${!pids[@]}"; do
        wait "${pids[$id]}" || die "formatting node $((id + 1)) failed: $(tail -5 "$CLUSTER_DIR/node-$((id + 1))/format.out")"
    done
    for ((id = 1; id <= count; id++)); do
        local dir="$CLUSTER_DIR/node-$id"
        # setsid: the brokers outlive this script and the shell or CI step that ran it.
        setsid "$java" -Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
            -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$LIB/*" \
            kafka.Kafka "$dir/server.properties" > "$dir/stdout.log" 2>&1 < /dev/null &
        echo $! > "$dir/pid"
    done
    wait_until_started "$count"
    log "$count broker(s) up; logs in $CLUSTER_DIR/node-*/server.log"
    bootstrap_servers "$count"
}

wait_until_started() {
    local count="$1" deadline=$((SECONDS + START_TIMEOUT)) id
    for ((id = 1; id <= count; id++)); do
        local dir="$CLUSTER_DIR/node-$id"
        until grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null \
              && ! port_free $((BASE_PORT + id - 1)); do
            if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
                tail -20 "$dir/server.log" "$dir/stdout.log" >&2 || true
                cmd_down
                die "broker $id exited during start-up"
            fi
            if ((SECONDS > deadline)); then
                tail -20 "$dir/server.log" >&2 || true
                cmd_down
                die "broker $id did not start within ${START_TIMEOUT}s"
            fi
            sleep 0.2
        done
    done
}

cmd_down() {
    local pids; pids="$(running_pids)"
    if [[ -n "$pids" ]]; then
        # shellcheck disable=SC2086
        kill $pids 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while [[ -n "$(running_pids)" ]] && ((SECONDS < deadline)); do sleep 0.2; done
        pids="$(running_pids)"
        # shellcheck disable=SC2086
        [[ -z "$pids" ]] || kill -9 $pids 2>/dev/null || true
    fi
    rm -rf "$CLUSTER_DIR"
    log "down"
}

cmd_status() {
    [[ -n "$(running_pids)" ]] || { log "not running"; exit 1; }
    bootstrap_servers "$(cat "$CLUSTER_DIR/count")"
}

case "${1:-}" in
    up) cmd_up "${2:-1}" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    fetch) fetch_jars ;;
    *) die "usage: $0 up [N] | down | status" ;;
esac
