#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target of fuzz/ for a bounded time and fails if one finds a crash
# (a panic, an overflow caught by debug assertions, an ASan report, a timeout or an out-of-memory).
#
#   FUZZ_SECONDS=60        time per target (libFuzzer -max_total_time)
#   FUZZ_TARGETS="a b"     only these targets (default: all of `cargo fuzz list`)
#   FUZZ_SANITIZER=address address (default) or none; when the ASan build fails the script retries with none
#   FUZZ_VECTORS=dir       conformance vectors to seed the corpora from (default ../shared/vectors)
#
# Corpora (fuzz/corpus/<target>) are seeded at run time from the shared vectors and kept between runs;
# crashes are written to fuzz/artifacts/<target>/ (both gitignored). Replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<crash-file>
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
FUZZ_VECTORS=${FUZZ_VECTORS:-$root/../shared/vectors}

# cargo-fuzz builds with flags that stable rustc only accepts from a nightly compiler
# (-Zsanitizer=address, -Cpasses=sancov-module with -Cllvm-args for coverage, --cfg fuzzing...).
# Only the stable toolchain is available here, and RUSTC_BOOTSTRAP=1 lets it accept unstable flags.
# It is set for this script's builds only; nothing else in the project relies on it.
export RUSTC_BOOTSTRAP=1
# Keep the fuzz builds out of the workspace's target/ (fuzz/ is a workspace of its own anyway).
unset CARGO_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked || { echo "fuzz: could not install cargo-fuzz"; exit 1; }
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list)
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz: no targets"; exit 1; }

echo "==> seeding corpora"
extra=()
for f in nginx-conf/storage/mod_fastdfs.conf nginx-conf/storage/http.conf /etc/nginx/mime.types; do
    [ -f "$f" ] && extra+=("$f")
done
if command -v python3 >/dev/null; then
    python3 fuzz/seeds.py "$FUZZ_VECTORS" fuzz/corpus "${extra[@]}" || echo "fuzz: seeding failed, going on unseeded"
else
    echo "fuzz: no python3, corpora not seeded"
fi

echo "==> building all targets (sanitizer $FUZZ_SANITIZER; log build/fuzz-build.log)"
mkdir -p build
build() { cargo fuzz build --sanitizer "$1" >build/fuzz-build.log 2>&1; }
if ! build "$FUZZ_SANITIZER"; then
    tail -20 build/fuzz-build.log
    if [ "$FUZZ_SANITIZER" = none ]; then
        echo "fuzz: build failed"
        exit 1
    fi
    echo "fuzz: the $FUZZ_SANITIZER build failed, retrying without a sanitizer"
    FUZZ_SANITIZER=none
    build none || { tail -30 build/fuzz-build.log; echo "fuzz: build failed"; exit 1; }
fi

status=0
summary=()
for t in "${targets[@]}"; do
    echo "================ $t (${FUZZ_SECONDS}s) ================"
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="build/fuzz-$t.log"
    # -timeout: an input taking over 10 s counts as a hang; -rss_limit_mb: 2 GiB is an OOM.
    cargo fuzz run --sanitizer "$FUZZ_SANITIZER" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE 'in [0-9]+' | grep -oE '[0-9]+' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        line="$t: ok, ${runs:-?} execs in ${secs:-?}s, coverage ${cov:-?}, corpus $corpus"
    else
        status=1
        crash=$(grep -oE "fuzz/artifacts/$t/[a-z-]+[0-9a-f]+" "$log" | tail -1)
        line="$t: FAILED (exit $rc) after ${runs:-?} execs${crash:+, input $crash}; log $log"
        grep -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY' "$log" | head -5
    fi
    echo "$line"
    summary+=("$line")
done

echo
echo "==> fuzz summary (sanitizer $FUZZ_SANITIZER)"
printf '%s\n' "${summary[@]}"
exit $status
