#!/usr/bin/env bash
# Client benchmark: the async client (fdfs_client::client::Client) against a minimal blocking std::net
# client speaking the raw frames of fdfs_client::proto (the floor cost of the protocol and the cluster),
# both measured in this run: 10 KiB files (ops/s at 32 concurrent) and one 256 MiB file (MB/s), with
# each phase's peak memory (VmHWM), then the client/baseline ratios. The cluster is the emulator, or the
# real cluster described by the file named in FDFS_TEST_CLUSTER (tests/README.md).
#
#   BENCH_SMALL_OPS=3200   number of 10 KiB files
#   BENCH_CONCURRENCY=32   concurrent operations
#   BENCH_LARGE_MIB=256    size of the large file
#   BENCH_ROUNDS=5         rounds per phase (baseline and client alternate; the best round counts)
#   BENCH_C_CLIENT=<exe>   FastDFS's C client (bench/c-client/cbench.c) in the 10 KiB phase too; built
#                          here when FastDFS's client library and headers are installed (they are not
#                          Debian packages: FastDFS's make.sh install); BENCH_C_CLIENT=none skips it
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p fdfs-integration --example bench_client
if [[ -z ${BENCH_C_CLIENT:-} && -f /usr/include/fastdfs/fdfs_client.h ]]; then
    BENCH_C_CLIENT=$target_dir/release/cbench
    cc -O2 -Wall -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -I/usr/include/fastdfs -I/usr/include/fastcommon \
        -o "$BENCH_C_CLIENT" bench/c-client/cbench.c -lfdfsclient -lfastcommon -lserverframe -lpthread ||
        { echo "bench/c-client/cbench.c did not build: no C client figures" >&2; BENCH_C_CLIENT=none; }
fi
[[ ${BENCH_C_CLIENT:-none} == none ]] && { echo "C client: not measured (BENCH_C_CLIENT=none, or FastDFS's client library is not installed)"; BENCH_C_CLIENT=; }
export BENCH_C_CLIENT
exec "$target_dir/release/examples/bench_client"
