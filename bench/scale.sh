#!/usr/bin/env bash
# Scale: cache hits with many objects in the cache, memory, and start-up with the cache on disk. For each
# count in SCALE_COUNTS (default 10,000, 100,000 and 1,000,000 objects of SCALE_SIZE bytes, random keys from
# bench/keys.py), each proxy of SCALE_CONTENDERS starts empty and gets two passes over all the objects
# (bench/warm.py: the first fills the cache, the second is all hits), then:
#   memory   RSS of the proxy's processes at start and after the two passes, RSS beyond the configured RAM
#            budget (MEM_MIB for the edge's memory tier and ATS's RAM cache; nginx has none), RSS per
#            cached object, and the edge's own accounting from /metrics;
#   hits     ROUNDS rounds (proxies alternating) of wrk picking keys uniformly and with Zipf-1 (bench/pick.lua),
#            medians of req/s, p99 and req/CPU-s, each count's req/s against the smallest count's;
#   memory tier hit ratio under Zipf-1, when the edge's /metrics exports its memory-tier hits and misses,
#            and pingora's TinyUFO with the same budget on the same sequence (bench/tinyufo-sim);
# Then, with the largest count on disk, every proxy is stopped and started again on the same cache: the time
# until it answers a cached object from its cache (checked with the origin's request count), its RSS then
# and 10 s later (nginx's cache loader is the anchor: it loads its index in the background).
#
#   bench/scale.sh                                         # 10k, 100k, 1M objects: long (1M: about 10 GiB of disk per proxy)
#   BENCH_QUICK=1 bench/scale.sh                           # 2,000 and 10,000 objects, 3 rounds of 2 s
#   SCALE_COUNTS="10000 100000" SCALE_SIZE=10240 SCALE_CONTENDERS="edge nginx-tuned trafficserver" WORKERS=1 bench/scale.sh
#   ROUNDS=3 DURATION=10s CONNS=32 MEM_MIB=64
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

if [[ $BENCH_QUICK == 1 ]]; then
    SCALE_COUNTS=${SCALE_COUNTS:-2000 10000}
    DURATION=${DURATION:-2s}
else
    SCALE_COUNTS=${SCALE_COUNTS:-10000 100000 1000000}
    DURATION=${DURATION:-10s}
fi
SCALE_SIZE=${SCALE_SIZE:-10240}
SCALE_CONTENDERS=${SCALE_CONTENDERS:-edge nginx-tuned trafficserver}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-1}
CONNS=${CONNS:-32}
read -ra COUNTS <<<"$SCALE_COUNTS"
read -ra NAMES <<<"$SCALE_CONTENDERS"
MAX=${COUNTS[-1]}
# every object must fit in every disk cache, with room to spare (read by lib.sh's render): the edge counts
# the blocks its files take, and a 10 KiB object takes 12 KiB of them with its meta (16 with nginx's 4 KiB
# header area, and before stop 25 with the edge's .meta files)
# shellcheck disable=SC2034
DISK_MIB=$((MAX * SCALE_SIZE * 2 / 1048576 + 1024))

bench_setup scale "$MAX" "$SCALE_SIZE"
PIN=() PIN_WRK=()
if [[ $WORKERS == 1 ]] && command -v taskset >/dev/null; then
    PIN=(taskset -c 0)
    PIN_WRK=(taskset -c 1)
fi

metric() { # NAME -> the edge's /metrics value of NAME (summed over labels), empty when not exported
    curl -fs "http://127.0.0.1:${CADMIN[edge]}/metrics" 2>/dev/null |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2; f = 1} END {if (f) printf "%.0f", s}'
}
part() { # PART -> the edge's fdfs_edge_memory_bytes{part="PART"}
    curl -fs "http://127.0.0.1:${CADMIN[edge]}/metrics" 2>/dev/null |
        awk -v m="fdfs_edge_memory_bytes{part=\"$1\"}" '$1 == m {print $2}'
}
mib() { awk -v v="${1:-0}" 'BEGIN {printf "%.1f", v / 1048576}'; }
# pingora's TinyUFO replaying the same Zipf-1 sequence with the same budget (bench/tinyufo-sim)
TUFO_BIN=$ROOT/build/tinyufo-sim/release/tinyufo-sim
ensure_tinyufo_sim() {
    [[ -x $TUFO_BIN ]] && return 0
    [[ -n ${TUFO_FAILED:-} ]] && return 1
    echo "==> building bench/tinyufo-sim (nice -n 19)" >&2
    (cd "$ROOT/bench/tinyufo-sim" && CARGO_TARGET_DIR=$ROOT/build/tinyufo-sim nice -n 19 cargo build --release -q --locked) >&2 ||
        { TUFO_FAILED=1; note "bench/tinyufo-sim did not build: no TinyUFO reference"; return 1; }
}
budget_mib() { case $1 in edge | trafficserver | varnish | pingap) echo "$MEM_MIB" ;; *) echo 0 ;; esac; }

declare -A RPS P99 EFF MARK MEMLINE HITRATIO TUFO TUFO_CHARGED

for n in "${COUNTS[@]}"; do
    echo "==> $n objects of $SCALE_SIZE bytes: keys, two passes through ${NAMES[*]}" >&2
    python3 "$ROOT/bench/keys.py" "$n" "$W/paths-$n.txt" "$W/zipf-$n.txt" || exit 1
    for name in "${NAMES[@]}"; do
        rm -rf "$W/n$n/$name"
        start_contender "$name" "$WORKERS" "$W/n$n" "${PIN[@]}" || { note "$name skipped: ${CSKIP[$name]}"; continue; }
        rss0=$(rss_mib "${CPID[$name]}")
        t0=$(date +%s.%N)
        pass1=$("${PIN_WRK[@]}" python3 "$ROOT/bench/warm.py" "${CPORT[$name]}" "$W/paths-$n.txt" "$SCALE_SIZE") || { note "$name: $pass1"; MARK[$n,$name]="!"; }
        t1=$(date +%s.%N)
        pass2=$("${PIN_WRK[@]}" python3 "$ROOT/bench/warm.py" "${CPORT[$name]}" "$W/paths-$n.txt" "$SCALE_SIZE") || { note "$name: $pass2"; MARK[$n,$name]="!"; }
        sleep 1
        rss=$(rss_mib "${CPID[$name]}")
        pss=$(rss_mib "${CPID[$name]}" Pss smaps_rollup)
        b=$(budget_mib "$name")
        extra=""
        if [[ $name == edge ]]; then
            extra="memory tier $(mib "$(metric fdfs_edge_cache_memory_bytes)") MiB, $(metric fdfs_edge_cache_objects) objects indexed"
            if [[ -n $(metric fdfs_edge_heap_bytes) ]]; then # the edge's own breakdown of its RSS, MiB
                extra+="; RSS = tier bodies $(mib "$(part cache_memory_bodies)") + their meta and headers $(mib "$(part cache_memory_meta_and_headers)")"
                extra+=" + index $(mib "$(part cache_index)") + other heap $(mib "$(part heap_other)") + outside the heap $(mib "$(part outside_heap)")"
            fi
        fi
        MEMLINE[$n,$name]="| $n | $name | $rss0 | $rss | $pss | $b | $(awk -v r="$rss" -v b="$b" 'BEGIN {printf "%.1f", r - b}') | $(awk -v r="$rss" -v r0="$rss0" -v n="$n" 'BEGIN {printf "%.2f", (r - r0) * 1024 / n}') | $(du -sm "${CDIR[$name]}" | cut -f1) | $(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN {printf "%.0f", n / (b - a)}') | $pass1 / $pass2 | $extra |"
    done
    echo "==> $n objects: $ROUNDS rounds of hits, uniform and Zipf-1" >&2
    for access in uniform zipf; do
        args=("$W/paths-$n.txt")
        [[ $access == zipf ]] && args+=("$W/zipf-$n.txt")
        m0=$(metric fdfs_edge_cache_memory_hits_total) f0=$(metric fdfs_edge_cache_memory_misses_total)
        for r in $(seq "$ROUNDS"); do
            for name in "${NAMES[@]}"; do
                [[ -n ${CPID[$name]:-} ]] || continue
                before=$(origin_count)
                read -r rps p99 eff err < <(wrk_round "${CPID[$name]}" "http://127.0.0.1:${CPORT[$name]}/" \
                    -s "$ROOT/bench/pick.lua" -- "${args[@]}")
                after=$(origin_count)
                if [[ $before != "$after" || $err != 0 ]]; then
                    MARK[$n,$access,$name]="!"
                    note "$name, $n objects, $access, round $r: $((after - before)) requests reached the origin, $err errors"
                fi
                RPS[$n,$access,$name]+="$rps " P99[$n,$access,$name]+="$p99 " EFF[$n,$access,$name]+="$eff "
            done
        done
        if [[ $access == zipf ]] && ensure_tinyufo_sim; then
            TUFO[$n]=$("$TUFO_BIN" $((MEM_MIB << 20)) "$SCALE_SIZE" "$W/zipf-$n.txt" 2>&1)
            # The edge charges each object's meta and hit header to memory_size too: the same
            # budget with the edge's charge per object is the like-for-like reference.
            charged=$(metric fdfs_edge_cache_memory_bytes) held=$(metric fdfs_edge_cache_memory_objects)
            if [[ -n $held && ${held:-0} -gt 0 ]]; then
                TUFO_CHARGED[$n]="$("$TUFO_BIN" $((MEM_MIB << 20)) $((charged / held)) "$W/zipf-$n.txt" 2>&1) (objects weighed $((charged / held)) bytes, the edge's charge)"
            fi
        fi
        if [[ $access == zipf && -n $m0 && -n $f0 ]]; then
            m1=$(metric fdfs_edge_cache_memory_hits_total) f1=$(metric fdfs_edge_cache_memory_misses_total)
            HITRATIO[$n]=$(awk -v h=$((m1 - m0)) -v m=$((f1 - f0)) 'BEGIN {printf "%.3f", (h + m) ? h / (h + m) : 0}')
        fi
    done
    if [[ $n != "$MAX" ]]; then
        for name in "${NAMES[@]}"; do stop_contender "$name"; rm -rf "$W/n$n/$name"; done
    fi
done

# start-up with MAX objects on disk: stop, start again on the same cache, time until a cached object comes
# from the cache (the origin's count must not move), RSS then and 10 s later
declare -A STARTUP
for name in "${NAMES[@]}"; do
    [[ -n ${CPID[$name]:-} ]] || continue
    stop_contender "$name"
    sync
    probe=$(shuf -n 1 "$W/paths-$MAX.txt")
    t0=$(date +%s.%N)
    start_contender "$name" "$WORKERS" "$W/n$MAX" "${PIN[@]}" || { note "$name did not restart: ${CSKIP[$name]}"; continue; }
    before=$(origin_count)
    while :; do
        curl -fs -o /dev/null "http://127.0.0.1:${CPORT[$name]}$probe" && break
        sleep 0.01
    done
    t1=$(date +%s.%N)
    rss1=$(rss_mib "${CPID[$name]}")
    # 100 more random cached objects: how many the restarted cache had lost (fetched again from the origin;
    # ATS, for one, syncs its directory to disk only every proxy.config.cache.dir.sync_frequency)
    b2=$(origin_count)
    for p in $(shuf -n 100 "$W/paths-$MAX.txt"); do curl -fs -o /dev/null "http://127.0.0.1:${CPORT[$name]}$p"; done
    a2=$(origin_count)
    sleep 10
    STARTUP[$name]="| $name | $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') | $([[ $b2 == "$before" ]] && echo yes || echo no) | $((a2 - b2)) | $rss1 | $(rss_mib "${CPID[$name]}") |"
done

echo "## Scale: $SCALE_SIZE-byte objects, $WORKERS worker(s)$([[ $WORKERS == 1 ]] && echo ", servers on CPU 0, wrk on CPU 1")"
echo
echo "### Memory after two passes over every object (MiB; RAM budget = memory tier / RAM cache configured)"
echo
echo "| objects | proxy | RSS at start | RSS after | PSS after | RAM budget | RSS beyond budget | KiB per object (RSS growth) | disk (du, MiB) | first pass objects/s | X-Cache-Status pass 1 / pass 2 | the edge's /metrics |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in "${COUNTS[@]}"; do for name in "${NAMES[@]}"; do [[ -n ${MEMLINE[$n,$name]:-} ]] && echo "${MEMLINE[$n,$name]}"; done; done
echo
echo "### Hits: wrk -t${WRK_THREADS:-1} -c$CONNS, $ROUNDS rounds of $DURATION, medians; contenders as ratios to fdfs-edge (req/s, p99, req/CPU-s)"
echo
line="| objects | access | fdfs-edge: req/s, p99, req/CPU-s | edge req/s vs ${COUNTS[0]} objects |"
sep="|---|---|---|---|"
for name in "${NAMES[@]:1}"; do line+=" $name |"; sep+="---|"; done
echo "$line"
echo "$sep"
for n in "${COUNTS[@]}"; do
    for access in uniform zipf; do
        e=$(med "${RPS[$n,$access,edge]:-}") ep=$(med "${P99[$n,$access,edge]:-}") ee=$(med "${EFF[$n,$access,edge]:-}")
        line="| $n | $access | $(human "$e"), $(printf '%.1f' "$ep") ms, $(human "$ee")${MARK[$n,$access,edge]:-} | $(ratio "$e" "$(med "${RPS[${COUNTS[0]},$access,edge]:-}")") |"
        for name in "${NAMES[@]:1}"; do
            if [[ -z ${RPS[$n,$access,$name]:-} ]]; then line+=" skipped |"; continue; fi
            line+=" $(ratio "$(med "${RPS[$n,$access,$name]}")" "$e"), $(ratio "$(med "${P99[$n,$access,$name]}")" "$ep"), $(ratio "$(med "${EFF[$n,$access,$name]}")" "$ee")${MARK[$n,$access,$name]:-} |"
        done
        echo "$line"
    done
done
echo
echo "Targets (issue 14): edge req/s at 1,000,000 objects >= 0.9 x at 10,000; \"!\" = a round not all cache hits or with errors."
echo
echo "### Memory tier hit ratio under Zipf-1 (fdfs-edge, memory_size ${MEM_MIB} MiB)"
echo
for n in "${COUNTS[@]}"; do
    echo "- $n objects: ${HITRATIO[$n]:-not measured: the /metrics of this edge have no fdfs_edge_cache_memory_hits_total / fdfs_edge_cache_memory_misses_total}"
done
for n in "${COUNTS[@]}"; do
    echo "- TinyUFO (pingora's, bench/tinyufo-sim), same budget, same Zipf-1 sequence replayed twice, second replay: $n objects: ${TUFO[$n]:-not measured}"
    [[ -n ${TUFO_CHARGED[$n]:-} ]] && echo "- the same with each object weighed as the edge charges it: $n objects: ${TUFO_CHARGED[$n]}"
done
echo
echo "### Start-up with $MAX objects on disk (stopped, started again on the same cache)"
echo
echo "| proxy | s to the first cached answer | served from the cache | origin requests for 100 random cached objects | RSS then (MiB) | RSS 10 s later (MiB) |"
echo "|---|---|---|---|---|---|"
for name in "${NAMES[@]}"; do [[ -n ${STARTUP[$name]:-} ]] && echo "${STARTUP[$name]}"; done
echo
echo "Target (issue 14): fdfs-edge serves hits within 2 s of its start with 1,000,000 objects on disk."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
