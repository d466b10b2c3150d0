#!/usr/bin/env bash
# The whole test suite: what `npm test` and CI run. Every stage runs even when an earlier one
# failed, so a unit failure does not hide what the build and the browser tests would say; a table
# of the stages (tests, passed, failed, seconds) ends the output, and the exit status is non-zero
# when any stage failed. The host setup is the exception: without chromium and libvulkan nothing
# after it can run, so its failure ends the run at once.
set -uo pipefail
cd "$(dirname "$0")/.."

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
rows=()
failed=0

# The counts of a vitest JSON report, as "tests passed failed" ("- - -" when there is none: the
# run died before writing it).
counts() {
  node -e '
    const fs = require("fs");
    try {
      const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      console.log(`${r.numTotalTests} ${r.numPassedTests} ${r.numFailedTests}`);
    } catch { console.log("- - -"); }
  ' "$1"
}

# stage NAME REPORT|"" COMMAND...: run it, time it, record its row.
stage() {
  local name=$1 report=$2
  shift 2
  echo "== $name: $*"
  local start=$SECONDS
  "$@"
  local status=$?
  local secs=$((SECONDS - start))
  local tests="- - -"
  [ -n "$report" ] && tests=$(counts "$report")
  local result=ok
  if [ $status -ne 0 ]; then result="FAILED (exit $status)"; failed=1; fi
  rows+=("$name $tests $secs $result")
  return $status
}

summary() {
  echo
  printf '%-12s %7s %7s %7s %8s  %s\n' stage tests passed failed seconds result
  local r
  for r in "${rows[@]}"; do
    # shellcheck disable=SC2086
    set -- $r
    local name=$1 tests=$2 passed=$3 fails=$4 secs=$5
    shift 5
    printf '%-12s %7s %7s %7s %8s  %s\n' "$name" "$tests" "$passed" "$fails" "$secs" "$*"
  done
}

if ! stage host-setup "" bash scripts/ensure-webgpu-host.sh; then
  summary
  echo "host setup failed: nothing else can run without chromium and libvulkan" >&2
  exit 1
fi
stage typecheck "" npx tsc -b
stage lint "" npx biome ci --error-on-warnings
stage unit "$reports/unit.json" npx vitest run --reporter=default --reporter=json --outputFile.json="$reports/unit.json"
stage build "" npx vite build --logLevel warn
stage e2e "$reports/e2e.json" npx vitest run --config vitest.e2e.config.ts --reporter=default --reporter=json --outputFile.json="$reports/e2e.json"
summary
exit $failed
