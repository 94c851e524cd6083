#!/usr/bin/env bash
# The data-quality checks (config/checks, `fleetpipe check run`) over one simulated day of a
# fleet, next to the time of the marts of the same day: bench/warehouse.sh's data and server,
# its figures 1 (the load), 6 (the marts) and 7 (the checks).
#
#   BENCH_VEHICLES=1000 bench/check.sh      (default 1000 vehicles)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_MARTS_ONLY=1 exec bench/warehouse.sh "$@"
