#!/usr/bin/env bash
# Runs every libFuzzer target of fuzz/ for a bounded time each and prints one line per target and a
# total: inputs tried and crashes (a panic, an abort, a timeout or an out-of-memory of the decode +
# validation path). Exits non-zero when any target crashed; the crashing input is left in
# fuzz/artifacts/<target>/ to replay with `cargo fuzz run <target> <file>`.
#
# Works on the stable toolchain: with `--sanitizer none` cargo-fuzz passes only stable `-C` flags
# (SanitizerCoverage instrumentation, `--cfg fuzzing`), and the code under test has no `unsafe`, so
# AddressSanitizer would find nothing a panic does not already show. Debug assertions are on, so an
# arithmetic overflow is a crash too.
#
#   FUZZ_SECONDS   seconds per target (default 3)
#   FUZZ_TARGETS   space-separated targets (default: every one `cargo fuzz list` prints)
set -euo pipefail
cd "$(dirname "$0")"
CARGO="${CARGO:-cargo}"
seconds="${FUZZ_SECONDS:-3}"
if ! "$CARGO" fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)"
  "$CARGO" install cargo-fuzz --locked --version 0.13.2
fi
# cargo-fuzz's default build: optimised, with debug assertions and coverage instrumentation.
if [ -n "${FUZZ_TARGETS:-}" ]; then
  targets="$FUZZ_TARGETS"
  for t in $targets; do "$CARGO" fuzz build --sanitizer none "$t"; done
else
  targets="$("$CARGO" fuzz list)"
  "$CARGO" fuzz build --sanitizer none
fi
triple="$(rustc -vV | sed -n 's/^host: //p')"
# cargo-fuzz builds into cargo's target directory (fuzz/target, or wherever CARGO_TARGET_DIR says).
target_dir="$("$CARGO" metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin_dir="$target_dir/$triple/release"
total_runs=0
crashed=()
count=0
for t in $targets; do
  count=$((count + 1))
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  if "$bin_dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="artifacts/$t/" "corpus/$t" >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    crashed+=("$t")
  fi
  runs="$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n1)"
  runs="${runs:-0}"
  total_runs=$((total_runs + runs))
  printf '%-28s %10s inputs  %s\n' "$t" "$runs" "$status"
  if [ "$status" = CRASH ]; then tail -n 30 "$log"; fi
done
echo "fuzz: $count targets, $total_runs inputs, ${#crashed[@]} crashes (${seconds} s each)"
if [ "${#crashed[@]}" -gt 0 ]; then
  echo "crashed: ${crashed[*]}" >&2
  exit 1
fi
