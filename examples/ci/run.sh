#!/bin/sh
# The same checks as github-actions.yml, for any CI (or a git pre-push hook). Exit status 1 on failure.
set -e
cd "$(dirname "$0")/../.."
ksqlite test examples/ci/pageviews_test.sql --junit-xml "${REPORT_DIR:-/tmp}/ksql-tests.xml"
ksqlite test-runner -s examples/ci/statements.sql -i examples/ci/input.json -o examples/ci/output.json
