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
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p fdfs-integration --example bench_client
exec "$target_dir/release/examples/bench_client"
