#!/bin/bash
# The systemd variant of the test host (testhost.py --systemd): here the
# host's own systemd is PID 1 of the guest and this runs as a unit. It
# installs the build tree as an admin would (cmake --install: binaries,
# hostcryptd.service, hostcrypt-nbd@.service, the config), then:
#   1. systemctl start hostcrypt-nbd@c1 brings up hostcryptd.service with it
#      and attaches the disk as /dev/nbd0;
#   2. ext4 on it: files with known checksums survive umount and remount;
#   3. hostcrypt drill c1 through the daemon's control socket: I/O fails
#      after the grace, recovers, and the data is unchanged;
#   4. stopping the attach unit detaches nbd0; stopping hostcryptd is clean.
# Output as in guest-test.sh: "=== " per step, "ok:"/"FAILED:" per check.
set -uo pipefail

build_dir=${BUILD_DIR:?}
work=/run/hostcrypt-systemd-test
mnt=/mnt/c1
source "$(dirname "${BASH_SOURCE[0]}")/guest-common.sh"

cleanup() {
    status=$?
    mountpoint -q "$mnt" && umount "$mnt"
    if journalctl --quiet -n 1 >/dev/null 2>&1; then
        echo
        echo "=== the journal of hostcryptd.service and hostcrypt-nbd@c1.service"
        journalctl --no-pager -o short-monotonic \
            -u hostcryptd.service -u hostcrypt-nbd@c1.service | show
    fi
    echo
    if ((status == 0)); then echo "=== host test (systemd) PASSED in $(elapsed)s"; else echo "=== host test (systemd) FAILED"; fi
}
trap cleanup EXIT

step "systemd $(systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1 ($(ps -o comm= -p 1))"
mkdir -p "$work" "$mnt"

step "cmake --install $build_dir (into the guest's overlay, as symlinks)"
# Symlinks into the build tree: copying ~100 MB of binaries with their debug
# information through 9p under emulation costs a minute. A config the host
# may have is set aside (in the overlay only), so the example's defaults apply.
rm -f /etc/hostcrypt/hostcryptd.toml
CMAKE_INSTALL_MODE=ABS_SYMLINK timeout 120 cmake --install "$build_dir" >"$work/install.log" 2>&1 ||
    { show <"$work/install.log"; fail "cmake --install"; }
# What the service reads must be real files: inside its sandbox (PrivateTmp=,
# ProtectHome=) a symlink into a tree under /tmp, /home or /root leads
# nowhere. So every installed file but the command line (run from here, and
# big) is copied over its symlink; the daemon from the copy without debug
# information that the harness left in /testhost.
installed=$(command -v hostcryptd) || fail "cmake --install put no hostcryptd on PATH"
while read -r path || [[ -n $path ]]; do  # the manifest has no final newline
    [[ -L $path && $path != "$(command -v hostcrypt)" ]] || continue
    if [[ $path == "$installed" ]]; then
        cp --remove-destination /testhost/hostcryptd "$path"
    else
        cp --remove-destination "$(readlink -f "$path")" "$path"
    fi || fail "replace the symlink $path by a copy"
done <"$build_dir/install_manifest.txt"
systemctl daemon-reload || fail "daemon-reload"
for unit in hostcryptd.service hostcrypt-nbd@c1.service; do
    ok "$unit: $(systemctl show -P FragmentPath "$unit")"
done
ls -l "$(command -v hostcrypt)" "$(command -v hostcryptd)" /etc/hostcrypt/hostcryptd.toml | show

step "state in /var/lib/hostcrypt: key K, customer set cs, disk c1 (64 MiB); /etc/hostcrypt/nbd/c1.conf"
# The unit passes --config: cmake --install must have put the example there.
[[ -f /etc/hostcrypt/hostcryptd.toml ]] || fail "cmake --install put no /etc/hostcrypt/hostcryptd.toml"
rm -rf /var/lib/hostcrypt
timeout 60 hostcrypt vault key create K --type aes-256 >/dev/null || fail "vault key create K"
timeout 60 hostcrypt set create cs --type customer --vault local --key K >/dev/null || fail "set create cs"
timeout 60 hostcrypt disk create c1 --set cs --size 64M >/dev/null || fail "disk create c1"
mkdir -p /etc/hostcrypt/nbd
echo "NBD_DEVICE=/dev/nbd0" >/etc/hostcrypt/nbd/c1.conf
ok "created"

step "systemctl start hostcrypt-nbd@c1 (pulls in hostcryptd.service)"
if ! timeout 120 systemctl start hostcrypt-nbd@c1.service; then
    systemctl status --no-pager hostcryptd.service hostcrypt-nbd@c1.service | show
    fail "systemctl start hostcrypt-nbd@c1"
fi
for unit in hostcryptd.service hostcrypt-nbd@c1.service; do
    state=$(systemctl is-active "$unit")
    [[ $state == active ]] || fail "$unit is $state"
    ok "$unit: active"
done
ok "hostcryptd says: $(systemctl show -P StatusText hostcryptd.service)"
size=$(blockdev --getsize64 /dev/nbd0)
[[ $size == 67108864 ]] || fail "/dev/nbd0: $size bytes"
ok "/dev/nbd0: $size bytes"

step "ext4 on /dev/nbd0: mkfs, mount, write files with known checksums, sync, umount, remount, verify"
timeout 120 mkfs.ext4 -q -F /dev/nbd0 || fail "mkfs.ext4"
mount -t ext4 /dev/nbd0 "$mnt" || fail "mount"
for i in 1 2 3 4; do
    timeout 60 dd if=/dev/urandom of="$mnt/f$i" bs=64k count=$((i * 8)) status=none || fail "dd f$i"
done
(cd "$mnt" && sha256sum f*) >"$work/files.sha256"
sync
umount "$mnt" || fail "umount"
sync
blockdev --flushbufs /dev/nbd0
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 /dev/nbd0 "$mnt" || fail "mount again"
(cd "$mnt" && timeout 60 sha256sum --quiet -c "$work/files.sha256") || fail "checksums after remount"
umount "$mnt" || fail "umount"
ok "ext4 verify: all 4 files match their checksums after remount"

step "hostcrypt drill c1 --grace 3s --interval 1s (through hostcryptd.service's control socket)"
timeout 120 hostcrypt drill c1 --grace 3s --interval 1s >"$work/drill.txt" 2>&1
drill_rc=$?
show <"$work/drill.txt"
((drill_rc == 0)) || fail "hostcrypt drill exited $drill_rc"
grep -q 'Input/output error' "$work/drill.txt" || fail "the drill saw no I/O error"
grep -q 'data verified: unchanged' "$work/drill.txt" || fail "the drill did not verify the data"
ok "drill: I/O failed after the grace, came back, data unchanged"
mount -t ext4 /dev/nbd0 "$mnt" || fail "mount after the drill"
(cd "$mnt" && timeout 60 sha256sum --quiet -c "$work/files.sha256") || fail "checksums after the drill"
umount "$mnt" || fail "umount"
ok "ext4 after the drill: all 4 files intact"

step "systemctl stop hostcrypt-nbd@c1 (detaches), systemctl stop hostcryptd"
timeout 60 systemctl stop hostcrypt-nbd@c1.service || fail "systemctl stop hostcrypt-nbd@c1"
[[ $(cat /sys/block/nbd0/size) == 0 ]] || fail "/dev/nbd0 still attached"
ok "/dev/nbd0 detached"
timeout 60 systemctl stop hostcryptd.service || fail "systemctl stop hostcryptd"
result=$(systemctl show -P Result hostcryptd.service) code=$(systemctl show -P ExecMainStatus hostcryptd.service)
[[ $result == success && $code == 0 ]] || fail "hostcryptd stopped with result $result, exit $code"
ok "hostcryptd stopped: result $result, exit $code"
