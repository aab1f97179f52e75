#!/usr/bin/env bash
# The front door (issue 12), two measurements, each against a baseline in the same run:
#
# 1. The cost of [access] on cache hits: two edges (the same binary, the same origin), one without
#    [access], one where every path needs a signed URL; 10 KiB hits (wrk -t1 -c32, edges on CPU 0, wrk on
#    CPU 1), ROUNDS rounds with the two alternating, medians of req/s and req/CPU-s. Target: the signed
#    edge keeps >= 0.95 of the public one's hit throughput.
# 2. Uploads through the edge against the client `fdfs upload` runs (fdfs_client), into the emulator (one
#    storage) or the real FastDFS cluster FDFS_TEST_CLUSTER describes: UP_FILES_10K uploads of 10 KiB,
#    UP_FILES_1M of 1 MiB and UP_FILES_32M of 32 MiB, UP_PARALLEL at once, both driven in-process by
#    tests/integration/examples/bench_upload.rs (HTTP/1.1 PUTs on keep-alive connections to the edge's
#    [upload]; Client::upload): neither pays a process start per file; what a round stored is deleted
#    after it. The edge runs 2 threads. Placements: every process on both cores (the edge's CPU then
#    comes out of the storage's), then the cluster alone on CPU 1 with the edge and the uploader on
#    CPU 0 (the edge on its own machine, as on the tracker nodes; the uploader still shares the edge's
#    core). ROUNDS rounds alternating; medians of files/s and MB/s, and the CPU of the edge and of the
#    cluster an upload. Target: the edge >= 0.9 x the client, judged in the second placement (in the
#    first the edge's CPU is taken from the storage's, which no deployment does: the ratio there is
#    one of CPU, printed for what it says about cost).
#
#   BENCH_QUICK=1 bench/gateway.sh      # rounds of 2 s and fewer files
#   PLACEMENTS="shared storage-apart edge-apart" bench/gateway.sh   # the third: the edge alone on a core
#   ROUNDS=5 UP_PARALLEL=8 bench/gateway.sh
#   FDFS_TEST_CLUSTER=<cluster.toml> bench/gateway.sh   # a real FastDFS
set -uo pipefail
source "$(dirname "$0")/lib.sh"
EMU_BIN=${EMU_BIN:-$TARGET/release/fdfs-emu}
ROUNDS=${ROUNDS:-3}
if [[ $BENCH_QUICK == 1 ]]; then DURATION=${DURATION:-2s}; else DURATION=${DURATION:-10s}; fi
CONNS=${CONNS:-32}
UP_PARALLEL=${UP_PARALLEL:-16}
UP_FILES_10K=${UP_FILES_10K:-$([[ $BENCH_QUICK == 1 ]] && echo 2000 || echo 10000)}
UP_FILES_1M=${UP_FILES_1M:-$([[ $BENCH_QUICK == 1 ]] && echo 200 || echo 1000)}
UP_FILES_32M=${UP_FILES_32M:-$([[ $BENCH_QUICK == 1 ]] && echo 8 || echo 32)}
PIN_EDGE=(taskset -c 0)
PIN_WRK=(taskset -c 1)
TOKEN=bench-upload-token-0123456789
SECRET=bench-signing-secret-0123456789

UPLOADER=$TARGET/release/examples/bench_upload
(cd "$ROOT" && nice -n 19 cargo build --release -q -p fdfs-emu --bin fdfs-emu -p fdfs-integration --example bench_upload) || exit 1
bench_setup gateway 0 10240

# start_edge NAME EXTRA: starts an edge; sets CPORT/CPID/CDIR
start_edge() {
    CPORT[$1]=$(free_port)
    CDIR[$1]=$W/$1
    edge_toml "$W/$1" "${CPORT[$1]}" "$(free_port)" "${EDGE_THREADS:-1}" "$2"
    ${PIN_EDGE[@]+"${PIN_EDGE[@]}"} "$EDGE_BIN" -c "$W/$1/edge.toml" >"$W/$1/stderr.log" 2>&1 &
    CPID[$1]=$!
    local _
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:${CPORT[$1]}/" && return 0
        sleep 0.1
    done
    echo "edge $1 did not start:" >&2
    tail -5 "$W/$1/stderr.log" >&2
    exit 1
}

echo "## [access] on cache hits: an edge where every path is signed against one where none is"
echo
start_edge public ""
start_edge signed "[access]
default = \"signed\"
[[access.key]]
id = \"bench\"
secret = \"$SECRET\""
obj=/group1/M00/00/00/obj10k
signed_path=$("$EDGE_BIN" -c "$W/signed/edge.toml" sign --expires 1d "$obj")
# three ways: the public edge with the bare URL, the public edge with the signed URL's query (the
# same request line: part of its cache key, cached after the warm-up), the signed edge checking it
declare -A URL=([bare]="http://127.0.0.1:${CPORT[public]}$obj"
    [same]="http://127.0.0.1:${CPORT[public]}$signed_path"
    [signed]="http://127.0.0.1:${CPORT[signed]}$signed_path")
declare -A OWNER=([bare]=public [same]=public [signed]=signed)
ways=(bare same signed)
for n in "${ways[@]}"; do
    for _ in 1 2 3; do curl -fs -o /dev/null "${URL[$n]}" || { echo "warming $n failed" >&2; exit 1; }; done
done
declare -A RPS EFF
for r in $(seq "$ROUNDS"); do
    order=("${ways[@]}")
    ((r % 2 == 0)) && order=(signed same bare)
    for n in "${order[@]}"; do
        read -r rps p99 eff err < <(wrk_round "${CPID[${OWNER[$n]}]}" "${URL[$n]}")
        ((err > 0)) && note "$n, round $r: $err errors"
        RPS[$n]+="$rps "
        EFF[$n]+="$eff "
    done
done
for n in "${ways[@]}"; do
    RPS[$n]=$(med "${RPS[$n]}")
    EFF[$n]=$(med "${EFF[$n]}")
done
echo "| request | req/s | req/CPU-s |"
echo "|---|---|---|"
echo "| public edge, bare URL | $(human "${RPS[bare]}") | $(human "${EFF[bare]}") |"
echo "| public edge, the signed URL (not checked) | $(human "${RPS[same]}") | $(human "${EFF[same]}") |"
echo "| signed edge, the signed URL (checked) | $(human "${RPS[signed]}") | $(human "${EFF[signed]}") |"
r_rps=$(ratio "${RPS[signed]}" "${RPS[same]}")
r_eff=$(ratio "${EFF[signed]}" "${EFF[same]}")
verdict=$(awk -v a="$r_rps" 'BEGIN {print (a >= 0.95) ? "met" : "not met"}')
echo
echo "the check (signed / public, same request line): req/s $r_rps, req/CPU-s $r_eff (target: req/s >= 0.95: $verdict)"
echo "signed URLs in all (signed edge / public edge with the bare URL): req/s $(ratio "${RPS[signed]}" "${RPS[bare]}"), req/CPU-s $(ratio "${EFF[signed]}" "${EFF[bare]}")"
echo "wrk -t1 -c$CONNS, edges on CPU 0, wrk on CPU 1, $ROUNDS rounds of $DURATION, medians"
stop_contender public
stop_contender signed
echo

# The cluster: the emulator, or the real one FDFS_TEST_CLUSTER describes (tests/README.md; its first
# tracker), whose fdfs_trackerd and fdfs_storaged are placed and measured when they run here (not in
# CPID: the bench stops what is there, and a real cluster is not the bench's to stop).
CLUSTER_PIDS=()
if [[ -n ${FDFS_TEST_CLUSTER:-} ]]; then
    TRACKER=$(sed -n 's/^trackers *= *\[ *"\([^"]*\)".*/\1/p' "$FDFS_TEST_CLUSTER")
    [[ -n $TRACKER ]] || { echo "no trackers = [\"ip:port\", ...] in $FDFS_TEST_CLUSTER" >&2; exit 1; }
    CLUSTER_NAME="FastDFS (tracker $TRACKER)"
    mapfile -t CLUSTER_PIDS < <(pgrep -x 'fdfs_trackerd|fdfs_storaged')
else
    TRACKER=127.0.0.1:$(free_port)
    "$EMU_BIN" --groups 1 --storages-per-group 1 --first-storage-ip 127.0.0.1 --tracker "$TRACKER" \
        --storage-port "$(free_port)" --http-port "$(free_port)" --base-dir "$W/store" >"$W/emu.out" 2>"$W/emu.log" &
    CPID[emu]=$!
    for _ in $(seq 100); do grep -qs '^ready' "$W/emu.out" && break; sleep 0.1; done
    grep -q '^ready' "$W/emu.out" || { echo "emulator did not start" >&2; cat "$W/emu.log" >&2; exit 1; }
    CLUSTER_PIDS=("${CPID[emu]}")
    CLUSTER_NAME="the emulator"
fi
echo "## Uploads: HTTP PUT to the edge's [upload] against fdfs_client (fdfs upload), into $CLUSTER_NAME"
echo
PIN_EDGE=()
EDGE_THREADS=2
start_edge upload "[trackers]
servers = [\"$TRACKER\"]
[upload]
max_concurrent_per_client = 64
requests_per_minute_per_client = 0
[[upload.bearer]]
id = \"bench\"
token = \"$TOKEN\""
declare -A COUNT=([10k]=$UP_FILES_10K [1m]=$UP_FILES_1M [32m]=$UP_FILES_32M)
declare -A BYTES=([10k]=10240 [1m]=1048576 [32m]=33554432)
UP_PIN=()
# upload_round WAY SIZE: prints "seconds failures" for every upload of SIZE; the ids go to $W/ids
upload_round() {
    if [[ $1 == edge ]]; then
        BENCH_UPLOAD_IDS=$W/ids ${UP_PIN[@]+"${UP_PIN[@]}"} "$UPLOADER" edge "127.0.0.1:${CPORT[upload]}" "${BYTES[$2]}" "${COUNT[$2]}" "$UP_PARALLEL" "$TOKEN"
    else
        BENCH_UPLOAD_IDS=$W/ids ${UP_PIN[@]+"${UP_PIN[@]}"} "$UPLOADER" fdfs "$TRACKER" "${BYTES[$2]}" "${COUNT[$2]}" "$UP_PARALLEL"
    fi
}
# delete_round WAY: deletes what the round stored (after its CPU was read), so rounds do not fill the disk
delete_round() {
    if [[ $1 == edge ]]; then
        "$UPLOADER" delete-edge "127.0.0.1:${CPORT[upload]}" "$W/ids" "$UP_PARALLEL" "$TOKEN"
    else
        "$UPLOADER" delete-fdfs "$TRACKER" "$W/ids" "$UP_PARALLEL"
    fi
}
# cluster_ticks: the CPU of the cluster's processes (clock ticks; 0 when none runs here)
cluster_ticks() {
    local p t=0
    for p in ${CLUSTER_PIDS[@]+"${CLUSTER_PIDS[@]}"}; do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}
# place shared|storage-apart|edge-apart: every process on both cores; the cluster (storage and tracker)
# alone on CPU 1 and the edge and the uploader on CPU 0, as where the edge runs on the tracker nodes, not on
# the storages' machines; or the edge alone on CPU 0, the storage and the uploader on CPU 1 (taskset
# -a: every thread of the running process)
place() {
    local storage=0,1 edge=0,1 uploader=0,1
    case $1 in
    storage-apart) storage=1 edge=0 uploader=0 ;;
    edge-apart) storage=1 edge=0 uploader=1 ;;
    esac
    local p
    for p in ${CLUSTER_PIDS[@]+"${CLUSTER_PIDS[@]}"}; do taskset -a -p -c "$storage" "$p" >/dev/null; done
    taskset -a -p -c "$edge" "${CPID[upload]}" >/dev/null
    UP_PIN=(taskset -c "$uploader")
}
# per_upload TICKS COUNT: CPU time an upload, "80 us" or "25.3 ms"
per_upload() {
    awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN {us = t * 1e6 / hz / n
        if (us >= 1000) printf "%.1f ms", us / 1000; else printf "%.0f us", us}'
}
declare -A REL=()
PLACEMENTS=${PLACEMENTS:-shared storage-apart}
declare -A TITLE=([shared]="Every process on both cores"
    [storage-apart]="The cluster (storage and tracker) alone on CPU 1, the edge and the uploader on CPU 0"
    [edge-apart]="The edge alone on CPU 0, the cluster (storage and tracker) and the uploader on CPU 1")
if ((${#CLUSTER_PIDS[@]} == 0)); then
    note "the cluster does not run on this machine: measured with every process where it is"
    PLACEMENTS=shared
fi
for placement in $PLACEMENTS; do
    place "$placement"
    echo "### ${TITLE[$placement]}"
    echo
    echo "| files | way | files/s | MB/s | edge / fdfs upload | the edge's CPU an upload | the cluster's CPU an upload |"
    echo "|---|---|---|---|---|---|---|"
    for s in 10k 1m 32m; do
        declare -A SECS=() EDGE_CPU=() STORE_CPU=()
        for r in $(seq "$ROUNDS"); do
            order=(edge fdfs)
            ((r % 2 == 0)) && order=(fdfs edge)
            for way in "${order[@]}"; do
                e0=$(cpu_ticks "${CPID[upload]}") s0=$(cluster_ticks)
                read -r secs fails < <(upload_round "$way" "$s")
                ((fails > 0)) && note "$way, $s, $placement, round $r: $fails uploads failed"
                SECS[$way]+="$secs "
                EDGE_CPU[$way]+="$(($(cpu_ticks "${CPID[upload]}") - e0)) "
                STORE_CPU[$way]+="$(($(cluster_ticks) - s0)) "
                delete_round "$way"
            done
        done
        for way in fdfs edge; do
            med=$(med "${SECS[$way]}")
            fps=$(awk -v n="${COUNT[$s]}" -v t="$med" 'BEGIN {printf "%.1f", n / t}')
            mbs=$(awk -v n="${COUNT[$s]}" -v b="${BYTES[$s]}" -v t="$med" 'BEGIN {printf "%.1f", n * b / t / 1e6}')
            eval "FPS_$way=$fps"
            rel="" ecpu="-"
            if [[ $way == edge ]]; then
                rel=$(ratio "$fps" "$FPS_fdfs")
                REL[$placement]+="$s $rel, "
                ecpu=$(per_upload "$(med "${EDGE_CPU[$way]}")" "${COUNT[$s]}")
            fi
            scpu="-"
            ((${#CLUSTER_PIDS[@]} > 0)) && scpu=$(per_upload "$(med "${STORE_CPU[$way]}")" "${COUNT[$s]}")
            echo "| ${COUNT[$s]} x $s | $way | $fps | $mbs | $rel | $ecpu | $scpu |"
        done
    done
    echo
done
place shared # a real cluster is not left pinned to one core
echo "$UP_PARALLEL at once, $ROUNDS rounds alternating, medians; CPU: utime + stime of the process (/proc), median"
echo "of the rounds, over the files of a round; target: edge / fdfs upload >= 0.9"
# The target is judged where the edge runs in a deployment: on the tracker nodes, not on the storages'
# machines. With every process on the same two cores the ratio is one of CPU: the edge's work comes
# out of the storage's.
for placement in $PLACEMENTS; do
    verdict=$(awk -v r="${REL[$placement]}" 'BEGIN {n = split(r, a, ", "); ok = 1
        for (i = 1; i < n; i++) { split(a[i], f, " "); if (f[2] < 0.9) ok = 0 }
        print ok ? "met" : "not met"}')
    label="${TITLE[$placement]}"
    [[ $placement == storage-apart ]] && label+=" (judged)"
    echo "$label: ${REL[$placement]%, }: $verdict"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
