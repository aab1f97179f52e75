#!/usr/bin/env bash
# `make bench`: every part's benchmark, each printing its figures and its ratios against a baseline measured
# in the same run (absolute numbers on shared machines mean little; ratios do). Results go to BENCHMARKS.md
# by hand, with the commands.
#   BENCH_PARTS="contenders scale" make bench   # some parts only (default: all, in this order)
#   BENCH_QUICK=1 make bench                    # contenders and scale in quick mode (BENCHMARKS.md)
set -uo pipefail
cd "$(dirname "$0")/.."
read -ra parts <<<"${BENCH_PARTS:-client module edge contenders scale aio instructions gateway images}"
status=0
for part in "${parts[@]}"; do
    script="bench/$part.sh"
    echo "================ $part ================"
    if [ -x "$script" ]; then
        "$script" || { echo "bench $part: FAILED"; status=1; }
    else
        echo "bench $part: not written yet"
    fi
done
exit $status
