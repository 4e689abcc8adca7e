#!/usr/bin/env bash
# Installs a build tree into a scratch root and checks every systemd unit it
# installs with `systemd-analyze verify`. Any complaint fails the check:
# verify exits 0 after an unknown key or a value it cannot parse, which it
# only warns about, so its output is the verdict, not its exit code.
#
# usage: verify-installed-units.sh CMAKE BUILD_DIR SYSTEMD_ANALYZE [EXTRA_UNIT...]
# EXTRA_UNITs are put beside the installed units and checked with them: the
# test that the check catches a broken unit passes one.
#
# No running systemd is needed (nor used: in a container it is not PID 1).
set -euo pipefail

cmake=$1
build=$2
analyze=$3
shift 3

root=$(mktemp -d "${TMPDIR:-/tmp}/hostcrypt-units-XXXXXX")
trap 'rm -rf "$root"' EXIT

# The root stands for a host with hostcrypt installed: under --root, verify
# looks units and commands up inside it and nowhere else. It gets this
# host's own units (default dependencies name sysinit.target and others),
# with /lib -> usr/lib as on a merged-/usr Debian ...
mkdir -p "$root/usr/lib/systemd" "$root/usr/bin"
ln -s usr/lib "$root/lib"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
# (a hostcrypt installed on this host is not the one under test)
rm -f "$root"/usr/lib/systemd/system/hostcrypt*
# ... and, as stubs, the commands that the units run and other packages
# install (verify checks that each exists, not what it does). A new one
# makes verify say "Command ... is not executable" until it is added here.
for command in kill modprobe nbd-client; do
    printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/$command"
    chmod 0755 "$root/usr/bin/$command"
done

if ! install_log=$(DESTDIR="$root" "$cmake" --install "$build" 2>&1); then
    printf '%s\n' "$install_log"
    echo "FAILED: cmake --install $build"
    exit 1
fi

# Every unit the install wrote, from its manifest (paths carry the root).
units=()
while IFS= read -r file; do
    case $file in
    *.service | *.socket | *.timer | *.path | *.target | *.mount) units+=("${file#"$root"}") ;;
    esac
done <"$build/install_manifest.txt"
if ((${#units[@]} == 0)); then
    echo "FAILED: cmake --install $build installed no systemd unit"
    exit 1
fi
for extra in "$@"; do
    cp "$extra" "$root$(dirname "${units[0]}")/"
    units+=("$(dirname "${units[0]}")/$(basename "$extra")")
done

status=0
output=$(SYSTEMD_LOG_COLOR=0 "$analyze" verify --root="$root" "${units[@]}" 2>&1) || status=$?
if ((status != 0)) || [[ -n $output ]]; then
    printf '%s\n' "$output"
    echo "FAILED: systemd-analyze verify (exit $status) on ${units[*]}"
    exit 1
fi
echo "verified ${#units[@]} units: ${units[*]}"
