#!/usr/bin/env bash
# The run command (README.md): installs what is needed, builds the release
# preset and starts hostcryptd in the foreground on a demo state directory,
# with one disk of each encryption type, listening on a unix socket and on
# 127.0.0.1:10809. Prints how to connect. Ctrl-C stops it (exit 0).
#
# Everything it makes lives under $HOSTCRYPT_DEMO (default /var/tmp/hostcrypt-demo);
# a second run reuses the disks and keys of the first.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=${HOSTCRYPT_DEMO:-/var/tmp/hostcrypt-demo}
state=$demo/state
socket=$demo/nbd.sock
port=${HOSTCRYPT_DEMO_PORT:-10809}

scripts/install-deps.sh
echo "== building hostcrypt (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target hostcryptd hostcrypt >/dev/null

hostcrypt=build/release/tools/hostcrypt
hostcryptd=build/release/daemon/hostcryptd
cli() { "$hostcrypt" --state "$state" "$@" >/dev/null; }

# The demo's encryption sets and disks, made once: a platform-key disk, a
# customer-key disk under a key in the embedded local vault, and a disk with
# both layers (double encryption).
if [[ ! -e $demo/.complete ]]; then
    echo "== creating the demo state in $state"
    rm -rf "$state"
    mkdir -p "$demo"
    cli vault key create demo-key --type rsa-3072
    cli set create platform-set --type platform
    cli set create customer-set --type customer --vault local --key demo-key
    cli set create double-set --type double --vault local --key demo-key
    cli disk create platform-disk --set platform-set --size 1G
    cli disk create customer-disk --set customer-set --size 1G
    cli disk create double-disk --set double-set --size 1G --sector-size 512
    touch "$demo/.complete"
fi

cat <<TEXT

hostcryptd serves these disks as NBD exports (state: $state):
$("$hostcrypt" --state "$state" disk list | sed 's/^/  /')

NBD URIs:
  nbd+unix:///platform-disk?socket=$socket      nbd://127.0.0.1:$port/platform-disk
  nbd+unix:///customer-disk?socket=$socket      nbd://127.0.0.1:$port/customer-disk
  nbd+unix:///double-disk?socket=$socket        nbd://127.0.0.1:$port/double-disk

Connect from another shell:
  nbdinfo --list 'nbd+unix:///?socket=$socket'
  nbdcopy some.img 'nbd+unix:///customer-disk?socket=$socket'
  fio --name=t --ioengine=nbd --uri='nbd+unix:///double-disk?socket=$socket' \\
      --rw=randrw --bs=4k --iodepth=32 --size=256m --verify=crc32c
  nbd-client -unix $socket /dev/nbd0 -b 4096 -N platform-disk   (a kernel with nbd.ko)

Manage it while it serves (the commands run in the daemon):
  $hostcrypt --state $state status
  $hostcrypt --state $state vault key rotate demo-key
Run a revocation drill (disables demo-key: I/O fails after the grace, then recovers):
  $hostcrypt --state $state drill customer-disk --grace 10s
Stop with Ctrl-C.

TEXT
exec "$hostcryptd" --config /dev/null --state "$state" --unix "$socket" --tcp "$port" \
    --control "$demo/control.sock"
