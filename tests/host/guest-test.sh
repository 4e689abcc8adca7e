#!/bin/bash
# The test the Linux test host runs inside its guest (testhost.py boots it; the
# guest's init runs this as root, chrooted into the host's root with a tmpfs
# overlay). hostcryptd serves a customer disk and a double disk on a unix
# socket; the kernel attaches them as /dev/nbd0 and /dev/nbd1:
#   1. ext4 on nbd0: files with known checksums survive umount and remount;
#   2. fio writes nbd1 and verifies every block (crc32c);
#   3. the backing files hold none of the plaintext written;
#   4. revocation drill: the customer key is disabled while ext4 on nbd0 is
#      mounted and written; after the grace I/O fails with EIO; the key is
#      enabled, I/O recovers; after reconnecting, fsck finds nothing but free
#      counts and every file synced before the revocation is intact.
# Every step prints one "=== " line and every check an "ok:" or "FAILED:"
# line. Exit 0 if all passed, 1 at the first failure. Everything is bounded
# with timeout; the guest's init kills whatever this leaves behind.
set -uo pipefail

hostcryptd=${HOSTCRYPTD_BIN:?}
hostcrypt_bin=${HOSTCRYPT_BIN:?}
work=/run/hostcrypt-test       # tmpfs: the state and its backing files
state=$work/state
socket=$work/nbd.sock
control=$work/control.sock
mnt=/mnt/c1
source "$(dirname "${BASH_SOURCE[0]}")/guest-common.sh"
hostcrypt() { timeout 60 "$hostcrypt_bin" --state "$state" "$@"; }
live() { hostcrypt --control "$control" "$@"; }
drop_caches() {
    sync
    blockdev --flushbufs /dev/nbd0 /dev/nbd1 2>/dev/null
    echo 3 >/proc/sys/vm/drop_caches
}
# One direct 4 KiB read (not from the page cache): prints dd's error, if any.
read_block() { timeout 20 dd if="$1" of=/dev/null bs=4096 count=1 skip="${2:-0}" iflag=direct status=none 2>&1; }
attach() { timeout 60 nbd-client -unix "$socket" "$1" -b 4096 -N "$2" >/dev/null; }

cleanup() {
    status=$?
    [[ -n ${writer_pid:-} ]] && kill "$writer_pid" 2>/dev/null
    mountpoint -q "$mnt" && { umount "$mnt" 2>/dev/null || umount -l "$mnt"; }
    for device in /dev/nbd0 /dev/nbd1; do timeout 20 nbd-client -d "$device" >/dev/null 2>&1; done
    if [[ -n ${daemon_pid:-} ]] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        timeout 30 tail --pid="$daemon_pid" -f /dev/null
    fi
    if [[ -f $work/daemon.log ]]; then
        echo
        echo "=== hostcryptd's log"
        show "$work/daemon.log"
    fi
    echo
    if ((status == 0)); then echo "=== host test PASSED in $(elapsed)s"; else echo "=== host test FAILED"; fi
}
trap cleanup EXIT

for tool in nbd-client fio mkfs.ext4 fsck.ext4 debugfs blockdev "$hostcryptd" "$hostcrypt_bin"; do
    command -v "$tool" >/dev/null || fail "no $tool in the guest (PATH=$PATH)"
done

step "state: customer key K (rsa-3072), double set over key K2 (aes-256) and the platform key; disks c1 (customer) and d1 (double), 256 MiB, 4096-byte sectors"
mkdir -p "$work" "$mnt"
hostcrypt vault key create K --type rsa-3072 >/dev/null || fail "vault key create K"
# K2 is an AES key: an RSA key costs ~10 s of emulated prime search.
hostcrypt vault key create K2 --type aes-256 >/dev/null || fail "vault key create K2"
hostcrypt set create cs --type customer --vault local --key K >/dev/null || fail "set create cs"
# The double disk has a key of its own, so that the drill revokes c1 alone
# and can show d1 serving on meanwhile.
hostcrypt set create ds --type double --vault local --key K2 >/dev/null || fail "set create ds"
hostcrypt disk create c1 --set cs --size 256M --sector-size 4096 >/dev/null || fail "disk create c1"
hostcrypt disk create d1 --set ds --size 256M --sector-size 4096 >/dev/null || fail "disk create d1"
ok "created in $(elapsed)s"

step "hostcryptd: unix socket $socket, key checks every 1s, revocation grace 3s"
"$hostcryptd" --config /dev/null --state "$state" --unix "$socket" --control "$control" \
    --key-check-interval 1s --revocation-grace 3s >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do
    grep -q '^hostcryptd: ready' "$work/daemon.log" && break
    kill -0 "$daemon_pid" 2>/dev/null || fail "hostcryptd exited: $(cat "$work/daemon.log")"
    sleep 0.1
done
grep -q '^hostcryptd: ready' "$work/daemon.log" || fail "hostcryptd not ready after 30s"
ok "$(grep '^hostcryptd: ready' "$work/daemon.log")"

step "nbd-client: c1 on /dev/nbd0, d1 on /dev/nbd1 (block size 4096)"
attach /dev/nbd0 c1 || fail "nbd-client c1"
attach /dev/nbd1 d1 || fail "nbd-client d1"
for device in /dev/nbd0 /dev/nbd1; do
    size=$(blockdev --getsize64 "$device") sector=$(blockdev --getss "$device")
    [[ $size == 268435456 && $sector == 4096 ]] || fail "$device: $size bytes, $sector-byte sectors"
    ok "$device: $size bytes, logical sectors of $sector bytes"
done

step "ext4 on /dev/nbd0: mkfs, mount, write files with known checksums, sync"
timeout 120 mkfs.ext4 -q -F /dev/nbd0 || fail "mkfs.ext4"
mount -t ext4 /dev/nbd0 "$mnt" || fail "mount"
mkdir -p "$work/source" "$mnt/files"
marker="hostcrypt-testhost-plaintext-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
for i in $(seq 1000); do echo "$marker line $i"; done >"$work/source/marker.txt"
for spec in small:1:4K medium:64:16K large:8:1M odd:1:12345; do
    IFS=: read -r name count bs <<<"$spec"
    timeout 60 dd if=/dev/urandom of="$work/source/$name.bin" bs="$bs" count="$count" status=none ||
        fail "dd $name"
done
cp "$work/source/"* "$mnt/files/" || fail "copy to ext4"
(cd "$work/source" && sha256sum -- *) | sed 's|  |  files/|' >"$work/synced.sha256"
sync
ok "$(wc -l <"$work/synced.sha256") files, $(du -sh "$work/source" | cut -f1), synced"

step "ext4: umount, drop caches, mount again, verify"
umount "$mnt" || fail "umount"
drop_caches
mount -t ext4 /dev/nbd0 "$mnt" || fail "mount again"
(cd "$mnt" && timeout 60 sha256sum --quiet -c "$work/synced.sha256") || fail "checksums after remount"
ok "ext4 verify: all $(wc -l <"$work/synced.sha256") files match their checksums after remount"

step "fio on /dev/nbd1 (double): 64 MiB random 4k writes, iodepth 16, verify=crc32c"
timeout 240 fio --name=nbd1-verify --filename=/dev/nbd1 --ioengine=libaio --direct=1 \
    --rw=randwrite --bs=4k --iodepth=16 --size=64M --verify=crc32c --verify_fatal=1 \
    --do_verify=1 --eta=never --output="$work/fio.txt" || { cat "$work/fio.txt"; fail "fio verify"; }
grep -E 'err= *0|WRITE:|READ:|IOPS' "$work/fio.txt" | sed 's/^ */  | /'
grep -q 'err= 0' "$work/fio.txt" || fail "fio reports an error"
ok "fio verify: every block of 64 MiB written and read back with its crc32c"

step "plaintext: the marker is readable through the disk, and absent from the backing files"
printf '%s\n' "$marker" | timeout 30 dd of=/dev/nbd1 bs=4096 seek=$((200 * 256)) conv=sync,fsync \
    oflag=direct status=none || fail "marker to nbd1"
drop_caches
# The control: the marker is there in plaintext when read through the disk
# (a direct read of the block ext4 put the file's first block in).
block=$(timeout 30 debugfs -R "bmap files/marker.txt 0" /dev/nbd0 2>/dev/null)
[[ $block =~ ^[0-9]+$ ]] || fail "debugfs: no block for files/marker.txt"
timeout 30 dd if=/dev/nbd0 bs=4096 skip="$block" count=1 iflag=direct status=none |
    grep -qaF "$marker" || fail "the marker is not in block $block of /dev/nbd0"
timeout 30 dd if=/dev/nbd1 bs=4096 skip=$((200 * 256)) count=1 iflag=direct status=none |
    grep -qaF "$marker" || fail "the marker is not at 200 MiB of /dev/nbd1"
ok "marker read back through /dev/nbd0 (ext4 block $block) and /dev/nbd1 (at 200 MiB)"
for image in "$state"/disks/*.img; do
    if grep -qaF "$marker" "$image"; then fail "plaintext marker in $image"; fi
    ok "no plaintext in $image ($(du -h "$image" | cut -f1) allocated)"
done

step "drill: a writer on the mounted ext4 (64 KiB files, fsync each; recorded only once fsync succeeded)"
mkdir -p "$mnt/drill" "$work/drill"
: >"$work/acked.sha256"
(
    for i in $(seq 200); do
        head -c 65536 /dev/urandom >"$work/drill/w$i"
        if ! out=$(timeout 20 dd if="$work/drill/w$i" of="$mnt/drill/w$i" bs=64k conv=fsync status=none 2>&1); then
            echo "  writer: w$i: ${out:-timed out}"
            exit 0
        fi
        (cd "$work/drill" && sha256sum "w$i") | sed 's|  |  drill/|' >>"$work/acked.sha256"
        sleep 0.2
    done
    echo "  writer: never failed"
) &
writer_pid=$!
for _ in $(seq 300); do (($(wc -l <"$work/acked.sha256") >= 3)) && break; sleep 0.1; done
(($(wc -l <"$work/acked.sha256") >= 3)) || fail "the writer acknowledged no 3 files"
ok "writer running: $(wc -l <"$work/acked.sha256") files acknowledged"

step "drill: disable key K through the daemon (hostcrypt vault key disable K)"
live vault key disable K >/dev/null || fail "vault key disable K"
disabled=$EPOCHREALTIME
ok "key K disabled at T+0; grace 3s, checks every 1s"
live status | show

step "drill: direct reads of /dev/nbd0 until one fails"
error=
for _ in $(seq 300); do
    error=$(read_block /dev/nbd0 $((RANDOM % 65536))) || break
    error=
    sleep 0.1
done
[[ $error == *"Input/output error"* ]] || fail "no read failed with EIO within 30s (${error:-all succeeded})"
ok "T+$(elapsed "$disabled")s dd: $error"
fio_out=$(timeout 60 fio --name=revoked --filename=/dev/nbd0 --readonly --ioengine=libaio \
    --direct=1 --rw=randread --bs=4k --size=64M --runtime=2 --time_based --eta=never 2>&1)
fio_rc=$?
fio_error=$(grep -m1 -i 'Input/output error' <<<"$fio_out")
if ((fio_rc == 0)) || [[ -z $fio_error ]]; then
    echo "$fio_out"
    fail "fio read of nbd0 did not fail with EIO"
fi
ok "T+$(elapsed "$disabled")s fio (exit $fio_rc): ${fio_error#"${fio_error%%[! ]*}"}"
timeout 20 tail --pid="$writer_pid" -f /dev/null || kill "$writer_pid"
wait "$writer_pid"
writer_pid=
acked=$(wc -l <"$work/acked.sha256")
ok "the writer stopped after $acked acknowledged files"
error=$(read_block /dev/nbd1) || fail "/dev/nbd1 (key K2) failed during K's revocation: $error"
ok "/dev/nbd1 (double disk under key K2) still reads"
live status | show
live status | grep -Eq '^c1 .*REVOKED' || fail "status does not show c1 revoked"
ok "status shows c1 REVOKED"
dmesg | grep -E 'nbd0' | grep -Eq 'I/O error|returned error' || fail "no nbd0 I/O error in dmesg"
echo "  the kernel's view (first lines of each kind; the kernel rate-limits them):"
for pattern in 'Other side returned error' 'I/O error, dev nbd0' 'Buffer I/O error on dev nbd0' \
    'Aborting journal' 'Remounting filesystem read-only' 'EXT4-fs error'; do
    dmesg | grep -m1 -F "$pattern" | show
done
ok "dmesg shows nbd0 I/O errors"

step "drill: enable key K, direct reads of /dev/nbd0 until one succeeds on the same connection"
live vault key enable K >/dev/null || fail "vault key enable K"
enabled=$EPOCHREALTIME
for _ in $(seq 300); do
    error=$(read_block /dev/nbd0 $((RANDOM % 65536))) && break
    sleep 0.1
done
error=$(read_block /dev/nbd0) || fail "I/O did not come back within 30s of enabling K: $error"
ok "I/O back $(elapsed "$enabled")s after enabling K"
live status | grep -Eq '^c1 .*serving' || fail "status does not show c1 serving"
ok "status shows c1 serving"

step "drill: umount, disconnect, reconnect, fsck.ext4 -fn"
if ! umount "$mnt" 2>"$work/umount.txt"; then
    ok "umount: $(cat "$work/umount.txt"); lazy umount instead"
    umount -l "$mnt" || fail "umount -l"
fi
timeout 30 nbd-client -d /dev/nbd0 >/dev/null || fail "nbd-client -d /dev/nbd0"
drop_caches
attach /dev/nbd0 c1 || fail "nbd-client c1 again"
ok "/dev/nbd0 attached again"
timeout 120 fsck.ext4 -fn /dev/nbd0 >"$work/fsck.txt" 2>&1
fsck_rc=$?
show "$work/fsck.txt"
# An aborted journal leaves the free counts of the superblock and the group
# descriptors behind the bitmaps: that and only that is allowed (exit 4).
# Any other finding (or a worse exit code) is damage.
unexpected=$(grep -vE '^(e2fsck [0-9]|Pass [1-5][a-z]?:|Warning: skipping journal recovery|/dev/nbd0 contains a file system with errors|/dev/nbd0: \*+ WARNING: Filesystem still has errors|/dev/nbd0: [0-9]+/[0-9]+ files|Free (blocks|inodes) count wrong|Fix\? no|$)' \
    "$work/fsck.txt")
((fsck_rc == 0 || fsck_rc == 4)) || fail "fsck.ext4 exit $fsck_rc"
[[ -z $unexpected ]] || fail "fsck found more than free-count differences: $unexpected"
findings=$(grep -oE '^Free (blocks|inodes) count wrong' "$work/fsck.txt" | sort -u | paste -sd';' - | sed 's/;/; /')
if [[ -n $findings ]]; then
    ok "fsck (exit $fsck_rc): only free-count differences ($findings), as after any aborted journal"
else
    ok "fsck (exit $fsck_rc): no findings"
fi

step "drill: mount (replays the journal) and verify every file synced before the revocation"
mount -t ext4 /dev/nbd0 "$mnt" || fail "mount after the drill"
(cd "$mnt" && timeout 60 sha256sum --quiet -c "$work/synced.sha256") || fail "pre-drill files changed"
ok "all $(wc -l <"$work/synced.sha256") files synced before the drill are intact"
(cd "$mnt" && timeout 60 sha256sum --quiet -c "$work/acked.sha256") || fail "acknowledged drill files changed"
ok "all $acked files the writer had fsynced before the revocation are intact"
umount "$mnt" || fail "umount after the drill"
timeout 120 fsck.ext4 -fn /dev/nbd0 >"$work/fsck2.txt" 2>&1 || { cat "$work/fsck2.txt"; fail "fsck after the journal replay"; }
ok "fsck after the journal replay: clean"

step "shutdown: disconnect both devices, SIGTERM hostcryptd"
for device in /dev/nbd0 /dev/nbd1; do timeout 30 nbd-client -d "$device" >/dev/null || fail "nbd-client -d $device"; done
kill -TERM "$daemon_pid"
timeout 30 tail --pid="$daemon_pid" -f /dev/null || fail "hostcryptd did not stop within 30s"
wait "$daemon_pid"
rc=$?
daemon_pid=
((rc == 0)) || fail "hostcryptd exited $rc"
ok "hostcryptd exited 0"
