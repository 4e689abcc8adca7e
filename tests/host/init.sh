#!/bin/busybox sh
# PID 1 of the test host guest (the /init of its initramfs; testhost.py builds
# it). It loads the modules the initramfs carries, mounts the host's root
# read-only over 9p with a tmpfs overlay on top, and runs the test the
# harness put in the results share (/testhost/run) in that root: chrooted,
# or, with testhost.systemd=1 on the kernel command line, as a unit of the
# host's own systemd booted as PID 1. Either way the guest's dmesg and, last,
# the exit status go to the results share and the guest powers off. The
# harness reads a missing status file as a guest failure, so every path out
# of here that is not a clean finish simply stops the machine.
/bin/busybox --install -s /bin
export PATH=/bin

say() { echo "testhost-init: $*"; }
# reboot -f makes QEMU exit (it runs with -no-reboot): no ACPI needed.
stop() {
    sync
    reboot -f
    sleep 10
}
fail() {
    say "guest setup FAILED: $*"
    dmesg | tail -n 40 # the console shows only the worst kernel messages
    stop
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

timeout_s=300
systemd=0
for word in $(cat /proc/cmdline); do
    case "$word" in
    testhost.timeout=*) timeout_s=${word#testhost.timeout=} ;;
    testhost.systemd=1) systemd=1 ;;
    esac
done

# testhost.order lists the modules in insmod order (modprobe --show-depends).
modules=/lib/modules/$(uname -r)
while read -r module; do
    insmod "$modules/$module" || fail "insmod $module"
done <"$modules/testhost.order"

# The host's root, read-only; multidevs=remap keeps inode numbers of the
# host's different filesystems apart. The overlay makes it writable in RAM,
# so the guest can run the host's own tools and the build tree's binaries.
mkdir -p /host /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /host ||
    fail "9p mount of the host's root"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot ||
    fail "overlay on the host's root"
# The host has no modules of this kernel: give the guest its own, so that
# modprobe (as the systemd attach unit calls it) finds the loaded ones.
mkdir -p /newroot/lib/modules
cp -a "$modules" /newroot/lib/modules/
for dir in proc sys dev run testhost; do mkdir -p "/newroot/$dir"; done
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
# A fresh /run: no stale sockets or pid files of the host's daemons. /tmp
# stays the host's (in the overlay), so a build tree there is seen too.
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
# The one writable share: the test script, its results, dmesg and the status.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /newroot/testhost ||
    fail "9p mount of the results share"

# How the test is run either way: bounded by coreutils' timeout (from the
# host; it exits 124 when time runs out), in a clean environment, output to
# the console. No pipe to tee: a leftover process holding the pipe would hang.
run_test='/usr/bin/timeout -k 10 '$timeout_s' /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root TERM=dumb LANG=C.UTF-8 /bin/bash /testhost/run </dev/null'

if [ "$systemd" = 1 ]; then
    # The test as a oneshot unit after basic.target; it records dmesg and the
    # status itself, then systemd powers off at once: nothing left running
    # can hold the guest up.
    cat >/newroot/run/testhost-unit.sh <<EOF
#!/bin/bash
$run_test
status=\$?
echo "testhost-init: test exited with status \$status"
dmesg >/testhost/dmesg.txt
echo \$status >/testhost/status.tmp && mv /testhost/status.tmp /testhost/status
sync
EOF
    mkdir -p /newroot/run/systemd/system
    cat >/newroot/run/systemd/system/testhost.service <<EOF
[Unit]
Description=hostcrypt test host: the guest test
After=basic.target
SuccessAction=poweroff-immediate
FailureAction=poweroff-immediate
[Service]
Type=oneshot
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/console
ExecStart=/bin/bash /run/testhost-unit.sh
EOF
    cat >/newroot/run/systemd/system/testhost.target <<EOF
[Unit]
Description=hostcrypt test host
Requires=basic.target testhost.service
After=basic.target testhost.service
EOF
    # systemd mounts these itself.
    umount /newroot/proc /newroot/sys
    # The host's root has docker's marker: systemd would think it runs in a
    # container, skip the VM's units and read its options from its own
    # arguments instead of the kernel command line.
    rm -f /newroot/.dockerenv
    say "running the test under systemd (at most ${timeout_s}s)"
    exec switch_root /newroot /lib/systemd/systemd --unit=testhost.target
    fail "switch_root to systemd"
fi

say "running the test (at most ${timeout_s}s)"
eval "chroot /newroot $run_test"
status=$?
say "test exited with status $status"

# Nothing may outlive the test: kill every process but PID 1.
kill -TERM -1 2>/dev/null
sleep 1
kill -KILL -1 2>/dev/null
dmesg >/newroot/testhost/dmesg.txt
# The status is written last: its presence means the guest finished.
echo "$status" >/newroot/testhost/status.tmp &&
    mv /newroot/testhost/status.tmp /newroot/testhost/status
umount /newroot/testhost
stop
