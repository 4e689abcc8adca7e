#!/usr/bin/env bash
# Builds the release preset, runs the crypto microbenchmark against
# `openssl speed` and writes the result, with the machine it ran on and this
# command, between the crypto-bench markers of bench/README.md.
#
#   bench/run-crypto-bench.sh [crypto_bench options, e.g. --trials 7]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target crypto_bench >/dev/null

table=$(./build/release/bench/crypto_bench "$@")
# shellcheck source=bench/lib/readme-section.sh
source bench/lib/readme-section.sh
section=$(mktemp)
engine=$(./build/release/bench/crypto_bench --engine)
bench_section crypto-bench run-crypto-bench.sh "" \
    "$(openssl version | cut -d' ' -f1-2), sector cipher in $engine" "" \
    "$table" "$@" >"$section"
replace_readme_section crypto-bench "$section" || exit 1
rm -f "$section"
echo "$table"
