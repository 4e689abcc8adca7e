#!/usr/bin/env bash
# The test command (README.md): installs what is needed, builds the release
# and the asan (AddressSanitizer + UBSan) presets, and runs the whole suite in
# both. Prints each ctest summary and, last, the total over both builds.
# Exits non-zero if anything fails to build or any test fails.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1

jobs=$(nproc)
passed=0
failed=0
status=0
for preset in release asan; do
    echo "== $preset: configure and build"
    if ! cmake --preset "$preset" >"build-$preset.log" 2>&1 ||
        ! cmake --build --preset "$preset" -j "$jobs" >>"build-$preset.log" 2>&1; then
        tail -n 60 "build-$preset.log"
        echo "== $preset: build FAILED (full log: build-$preset.log)"
        status=1
        continue
    fi
    rm -f "build-$preset.log"
    echo "== $preset: test"
    log=$(mktemp)
    ctest --preset "$preset" -j "$jobs" 2>&1 | tee "$log"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
    # The Linux test host's guest logs (tests/host): what the kernel side
    # did — ext4, fio verify, the drill — shown even when it passed.
    for console in "build/$preset"/tests/host/*/run/console.log; do
        [[ -f $console ]] || continue
        echo "== $preset: guest log $console"
        cat "$console"
    done
    grep -h "testhost: SKIPPED" "build/$preset/Testing/Temporary/LastTest.log" 2>/dev/null
    summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    rm -f "$log"
    if [[ $summary =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
        failed=$((failed + BASH_REMATCH[1]))
        passed=$((passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
    else
        echo "== $preset: no ctest summary"
        status=1
    fi
done

echo "total: $passed passed, $failed failed"
exit "$status"
