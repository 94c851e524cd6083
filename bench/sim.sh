#!/usr/bin/env bash
# Simulator throughput: the whole vehicle/kinematic model (physics + formatting, 60-sample
# messages, one core) and the per-sample formatter against snprintf on the same values.
# Prints one line per figure (from test_sim's test_bench).
#   bench/sim.sh [vehicles]     (default 2000 vehicles x 1 simulated hour = 120 k messages)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${FP_BUILD:-build}
FP_SIM_BENCH_VEHICLES=${1:-2000} "$BUILD/test_sim" tests/data test_bench | grep '^bench'
