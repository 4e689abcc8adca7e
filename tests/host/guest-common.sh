# The output conventions of the guest tests (guest-test.sh, guest-systemd.sh),
# sourced by both: one "=== [seconds] " line per step, "ok:" or "FAILED:"
# per check (the first failure exits 1), "  | " before quoted output.

started=$EPOCHREALTIME

# Seconds since $1 (default: the start), one decimal.
elapsed() { awk -v now="$EPOCHREALTIME" -v since="${1:-$started}" 'BEGIN { printf "%.1f", now - since }'; }
step() { echo; echo "=== [$(elapsed)s] $*"; }
ok() { echo "  ok: $*"; }
fail() {
    echo "  FAILED: $*"
    exit 1
}
show() { sed 's/^/  | /' "$@"; }
