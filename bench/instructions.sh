#!/usr/bin/env bash
# Instructions per cache hit and per start, counted by callgrind (Debian valgrind): unlike requests per
# second, a count that does not move with the load of a shared machine, so a change of a few per cent shows.
# fdfs-edge (bench/contenders/edge.toml) and nginx as the seed deployment has it and tuned
# (bench/contenders/nginx-seed.conf, nginx-tuned.conf), one worker each, in front of the same origin
# (bench/origin.py). For each proxy and object size, two runs under callgrind, each on a fresh cache:
# started, the object fetched once, then 1,000 hits (ab, keep-alive, 8 at once) and nothing more, or
# HITS more; the difference of the two totals over HITS is what one hit costs (the start and the warm-up
# cancel out), the first run's total is the start's (with its 1,000 hits). The origin's request count is
# checked: every measured request was a hit. Counts are user-space instructions of every process and
# thread of the proxy (nginx's master and worker): the kernel's work, sendfile's copy included, is not
# in them; `bench/contenders.sh` measures the time.
#
#   bench/instructions.sh                           # HITS=20000, objects of 1 KiB and 10 KiB
#   HITS=5000 CASES=1k PROXIES="edge nginx-seed" bench/instructions.sh
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

HITS=${HITS:-20000}
WARM=1000
CASES=${CASES:-1k 10k}
PROXIES=${PROXIES:-edge nginx-seed nginx-tuned}

ensure_packages valgrind
bench_setup instructions 0 0

# counted NAME CASE N -> the total instructions of a run with N hits after the warm-up (empty on failure)
counted() {
    local name=$1 obj=/group1/M00/00/00/obj$2 n=$3 base
    base=$W/$name-$2-$n
    mkdir -p "$base/$name"
    start_contender "$name" 1 "$base" valgrind -q --tool=callgrind \
        --callgrind-out-file="$base/$name/cg.%p" || {
        echo "$name: ${CSKIP[$name]:-did not start}" >&2
        unset "CSKIP[$name]"
        return 1
    }
    local url="http://127.0.0.1:${CPORT[$name]}$obj" before after
    curl -fs -o /dev/null "$url"
    ab -q -k -n "$WARM" -c 8 "$url" >/dev/null
    before=$(origin_count)
    ((n > 0)) && ab -q -k -n "$n" -c 8 "$url" >"$base/ab.txt"
    after=$(origin_count)
    local p
    # SIGINT: a fast stop for both (Pingora and nginx), so callgrind writes its counts at once
    for p in $(ptree "${CPID[$name]}"); do kill -INT "$p" 2>/dev/null || true; done
    stop_contender "$name"
    if ((after != before)); then
        echo "$name $2: $((after - before)) requests reached the origin during the hits" >&2
        return 1
    fi
    if ((n > 0)) && ! grep -q "^Complete requests: *$n" "$base/ab.txt"; then
        echo "$name $2: ab did not complete $n requests" >&2
        return 1
    fi
    local total copies
    total=$(cat "$base/$name"/cg.* 2>/dev/null | awk '/^summary:/ {s += $2} END {if (s > 0) print s}')
    [[ -n $total ]] || return 1
    # memcpy/memmove's own instructions: glibc copies a block of more than a few KiB with `rep movsb`,
    # which callgrind counts once per byte (the CPU runs it as one instruction)
    copies=$(for f in "$base/$name"/cg.*; do callgrind_annotate --inclusive=no --threshold=100 "$f"; done 2>/dev/null |
        awk '$0 ~ /:__(memcpy|memmove)_/ {gsub(",", "", $1); s += $1} END {print s + 0}')
    echo "$total $copies"
}

echo "## Instructions per cache hit (callgrind; one worker; $HITS hits after $WARM, ab -k -c 8)"
echo
echo "The last two columns leave out memcpy/memmove, whose \`rep movsb\` callgrind counts byte by byte."
echo
echo "| proxy | object | instructions per hit | per hit / fdfs-edge's | a start and $WARM hits (millions) | per hit without memcpy | that / fdfs-edge's |"
echo "|---|---|---|---|---|---|---|"
declare -A PER NOCOPY
for obj in $CASES; do
    for name in $PROXIES; do
        read -r idle idle_copies < <(counted "$name" "$obj" 0) &&
            read -r busy busy_copies < <(counted "$name" "$obj" "$HITS") &&
            [[ -n ${idle:-} && -n ${busy:-} ]] || {
            echo "| $name | $obj | failed (see above) | | | | |"
            continue
        }
        PER[$name.$obj]=$(((busy - idle) / HITS))
        NOCOPY[$name.$obj]=$(((busy - busy_copies - idle + idle_copies) / HITS))
        echo "| $name | $obj | ${PER[$name.$obj]} | $(ratio "${PER[$name.$obj]}" "${PER[edge.$obj]:-0}") |" \
            "$(awk -v v="$idle" 'BEGIN {printf "%.1f", v / 1e6}') | ${NOCOPY[$name.$obj]} |" \
            "$(ratio "${NOCOPY[$name.$obj]}" "${NOCOPY[edge.$obj]:-0}") |"
    done
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
