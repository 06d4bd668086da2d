#!/usr/bin/env bash
# Scale-out on Apache Kafka: a 3-broker cluster on loopback, then 1, 2 and 3 ksqlite processes
# running a stream-table join and a windowed aggregation over 1M bids as one service under
# exactly_once_v2, with one process killed (SIGKILL) halfway through the 3-process run. The
# results are compared with a single-process run on the embedded log; the last line is
# `scale-out: OK` or says what differed.
#
#   examples/scale-out/run.sh [EVENTS]        (default 1000000; needs Java 17+ and Maven)
#
# The cluster uses its own directory and ports (29092-29094), so it can run beside the
# one-broker test cluster, and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS="${1:-1000000}"
export KSQLITE_KAFKA_DIR="${TMPDIR:-/tmp}/ksqlite-scale-out-cluster"
export KSQLITE_KAFKA_PORT=29092
trap 'scripts/kafka-cluster.sh down >/dev/null 2>&1 || true' EXIT
BOOTSTRAP="$(scripts/kafka-cluster.sh up 3 | tail -1)"
python examples/scale-out/scale_out.py --bootstrap-servers "$BOOTSTRAP" --events "$EVENTS"
