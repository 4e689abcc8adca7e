#!/usr/bin/python3
"""The Linux test host: boots Debian's own kernel in a QEMU guest under
software emulation (TCG) and runs a test script in it, against the host's
root filesystem (read-only over 9p, a tmpfs overlay on top).

Our machines' kernel has no NBD driver and KVM does not boot guests here, so
this is how hostcryptd's disks meet a real kernel: /dev/nbdN, ext4, fio and a
revocation drill (guest-test.sh). docs/testing.md tells how to run it and how
to read what it prints.

Guest artifacts (the kernel, unpacked from its .deb, and a small initramfs of
busybox, the modules and init.sh) are built once into a cache and rebuilt when
their inputs change. Exit codes: see EXIT_* below.
"""

import argparse
import fcntl
import hashlib
import lzma
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

EXIT_PASS = 0
EXIT_TEST_FAILED = 1    # the guest ran the test and it failed
EXIT_TIMEOUT = 2        # the test or the guest ran out of time
EXIT_GUEST_FAILED = 3   # the guest died (panic, setup failure): no exit status
EXIT_SETUP_FAILED = 4   # the harness could not build the guest artifacts
EXIT_SKIPPED = 77       # this machine cannot run the guest; nothing was tested

HERE = Path(__file__).resolve().parent
# What the guest needs beyond the kernel's built-ins, one name per
# modprobe --show-depends call: virtio-pci and 9p for the host's root,
# overlay for the writable layer, and what the test exercises.
MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay", "ext4", "nbd"]
# Bump when the way artifacts are built changes, to invalidate old caches.
BUILDER_VERSION = "2"
QBOOT = Path("/usr/share/qemu/qboot.rom")
BUSYBOX = Path("/bin/busybox")
KEEP_FAILED = 5  # failed runs kept in --work, the newest
# Host tools the guest test runs (through the 9p root) or the harness needs.
HOST_TOOLS = ["qemu-system-x86_64", "depmod", "modprobe", "cpio", "apt-get",
              "apt-cache", "dpkg-deb", "nbd-client", "fio", "mkfs.ext4"]


def log(message):
    print(f"testhost: {message}", flush=True)


class Skip(Exception):
    """This machine cannot run the guest."""


class SetupError(Exception):
    """Building the guest artifacts failed for a reason that is a bug."""


def run(command, timeout, **kwargs):
    """Runs a bounded command, returning its CompletedProcess (text output)."""
    return subprocess.run(command, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def is_static(path):
    """True if the ELF file has no program interpreter (PT_INTERP)."""
    data = path.read_bytes()[:4096]
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3a], "little")
    for i in range(phnum):
        entry = phoff + i * phentsize
        if int.from_bytes(data[entry:entry + 4], "little") == 3:
            return False
    return True


def check_machine():
    missing = [tool for tool in HOST_TOOLS if not shutil.which(tool)]
    if missing:
        raise Skip(f"missing {', '.join(missing)} (scripts/install-deps.sh installs them)")
    if not QBOOT.is_file():
        raise Skip(f"no {QBOOT} (package qemu-system-data)")
    if not BUSYBOX.is_file() or not is_static(BUSYBOX):
        raise Skip(f"{BUSYBOX} is missing or not static (package busybox-static)")


def kernel_version(cache):
    """The kernel linux-image-amd64 depends on now; else the newest cached one."""
    if version := os.environ.get("HOSTCRYPT_TESTHOST_KERNEL"):
        return version
    try:
        out = run(["apt-cache", "depends", "linux-image-amd64"], 60).stdout
        if found := re.findall(r"Depends: linux-image-(\d[\w.+-]*-amd64)$", out, re.M):
            return found[0]
    except subprocess.SubprocessError:
        pass
    cached = sorted(cache.glob("kernel-*"), key=lambda p: p.stat().st_mtime)
    if cached:
        version = cached[-1].name.removeprefix("kernel-").rsplit("-", 1)[0]
        log(f"apt-cache knows no linux-image-amd64; using the cached kernel {version}")
        return version
    raise Skip("apt-cache knows no linux-image-amd64 dependency and no kernel is cached")


def download_kernel(version, directory):
    package = f"linux-image-{version}"
    command = ["apt-get", "download", "-qq", package]
    result = run(command, 180, cwd=directory)
    if result.returncode != 0 and os.geteuid() == 0:
        # Stale package lists name a kernel the archive no longer has.
        log(f"apt-get download {package} failed; apt-get update and again")
        run(["apt-get", "update", "-qq"], 180)
        result = run(command, 180, cwd=directory)
    debs = list(directory.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not debs:
        reason = (result.stderr.strip().splitlines() or ["no .deb"])[-1]
        raise Skip(f"the kernel package {package} cannot be downloaded: {reason}")
    return debs[0]


def extract_vmlinux(vmlinuz, vmlinux):
    """The uncompressed kernel from the bzImage's xz payload: QEMU boots it
    through its PVH entry point, which saves the guest ~4 s of emulated xz."""
    data = vmlinuz.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    if start < 0:
        raise SetupError(f"{vmlinuz}: no xz payload (not an xz-compressed bzImage)")
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ)
    elf = decompressor.decompress(data[start:])
    if not decompressor.eof or elf[:4] != b"\x7fELF":
        raise SetupError(f"{vmlinuz}: the xz payload is not an ELF kernel")
    vmlinux.write_bytes(elf)


def build_kernel(version, target):
    """target/: vmlinux, and lib/modules/VERSION/ with the modules the guest
    needs, their own depmod indexes (so modprobe works in the guest, as the
    systemd attach unit needs) and testhost.order, their insmod order."""
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        scratch = Path(scratch)
        os.chmod(scratch, 0o755)  # apt-get download drops privileges to _apt
        deb = download_kernel(version, scratch)
        root = scratch / "root"
        if run(["dpkg-deb", "-x", str(deb), str(root)], 300).returncode != 0:
            raise SetupError(f"dpkg-deb -x {deb.name} failed")
        result = run(["depmod", "-b", str(root), version], 120)
        if result.returncode != 0:
            raise SetupError(f"depmod: {result.stderr.strip()}")
        staged = scratch / "kernel"
        source, tree = root / "lib/modules" / version, staged / "lib/modules" / version
        tree.mkdir(parents=True)
        for name in ["modules.order", "modules.builtin", "modules.builtin.modinfo"]:
            shutil.copy(source / name, tree / name)
        order = []
        for module in MODULES:
            # One call per module: several names would be taken as options.
            result = run(["modprobe", "-d", str(root), "-S", version,
                          "--show-depends", module], 60)
            if result.returncode != 0:
                raise SetupError(f"modprobe --show-depends {module}: {result.stderr.strip()}")
            for line in result.stdout.splitlines():
                if not line.startswith("insmod "):
                    continue
                relative = str(Path(line.split()[1]).relative_to(source))
                if relative not in order:
                    (tree / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(source / relative, tree / relative)
                    order.append(relative)
        (tree / "testhost.order").write_text("\n".join(order) + "\n")
        result = run(["depmod", "-b", str(staged), version], 120)
        if result.returncode != 0:
            raise SetupError(f"depmod of the guest's modules: {result.stderr.strip()}")
        extract_vmlinux(root / "boot" / f"vmlinuz-{version}", staged / "vmlinux")
        os.rename(staged, target)


def build_initramfs(kernel, target):
    """A newc cpio archive: busybox, /init and the kernel's lib/modules."""
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        tree = Path(scratch) / "tree"
        for directory in ["bin", "proc", "sys", "dev"]:
            (tree / directory).mkdir(parents=True)
        shutil.copy(BUSYBOX, tree / "bin" / "busybox")
        shutil.copy(HERE / "init.sh", tree / "init")
        os.chmod(tree / "init", 0o755)
        shutil.copytree(kernel / "lib", tree / "lib")
        names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
        archive = Path(scratch) / "initramfs.cpio"
        with open(archive, "wb") as out:
            result = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=tree,
                                    input="\n".join(names).encode(), stdout=out,
                                    stderr=subprocess.PIPE, timeout=120)
        if result.returncode != 0:
            raise SetupError(f"cpio: {result.stderr.decode().strip()}")
        os.rename(archive, target)


def digest(*parts):
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part if isinstance(part, bytes) else part.encode())
        hasher.update(b"\0")
    return hasher.hexdigest()[:16]


def guest_artifacts(cache):
    """(vmlinux, initramfs), built if the cache does not hold them for the
    current inputs; stale entries are removed (each kernel is ~70 MB)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "lock", "w") as lock:
        # Two builds (say release and a developer's) may share one cache.
        fcntl.flock(lock, fcntl.LOCK_EX)
        version = kernel_version(cache)
        kernel = cache / f"kernel-{version}-{digest(BUILDER_VERSION, version, *MODULES)}"
        initramfs = cache / ("initramfs-" + digest(
            BUILDER_VERSION, version, *MODULES, (HERE / "init.sh").read_bytes(),
            BUSYBOX.read_bytes()) + ".cpio")
        started = time.monotonic()
        built = []
        if not kernel.is_dir():
            log(f"building the guest kernel {version} into {kernel}")
            build_kernel(version, kernel)
            built.append("kernel")
        if not initramfs.is_file():
            build_initramfs(kernel, initramfs)
            built.append("initramfs")
        for entry in cache.iterdir():
            # Stale entries, and scratch directories of a build that was killed.
            if entry.name.startswith(("kernel-", "initramfs-", "tmp")) and entry not in (kernel, initramfs):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if built:
            log(f"built {' and '.join(built)} in {time.monotonic() - started:.1f}s")
        else:
            log(f"guest artifacts cached: {kernel.name}, {initramfs.name}")
        return kernel / "vmlinux", initramfs


def default_cache(work):
    """/var/cache/hostcrypt-testhost when we may write there: it outlives
    build trees and is shared by all of them (the kernel is a 70 MB download).
    Otherwise the build tree's own directory."""
    if env := os.environ.get("HOSTCRYPT_TESTHOST_CACHE"):
        return Path(env)
    system = Path("/var/cache/hostcrypt-testhost")
    if os.access(system if system.exists() else system.parent, os.W_OK):
        return system
    return work / "cache"


def die_with_parent():
    """QEMU gets SIGKILL when the harness dies, even by SIGKILL (ctest's
    timeout): nothing is left running."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def boot(vmlinux, initramfs, results, console_log, guest_timeout, timeout, systemd):
    """Runs the guest; returns True if it stopped by itself within timeout.

    qboot rather than SeaBIOS: no terminal escape codes on the console; the
    uncompressed vmlinux boots through PVH. loglevel=2 keeps the expected
    I/O errors of the drill off the console (the test prints what matters of
    them, and dmesg.txt has them all) but shows panics and oopses. The
    host's root is shared read-only; the results directory is the one
    writable share. With systemd as PID 1, two units are masked:
    systemd-tmpfiles-setup walks the host's whole root over 9p (~40 s under
    emulation) and the host's timers (apt-daily...) have no business here."""
    append = f"console=ttyS0 panic=-1 loglevel=2 mitigations=off testhost.timeout={guest_timeout}"
    if systemd:
        append += (" testhost.systemd=1 systemd.mask=systemd-tmpfiles-setup.service"
                   " systemd.mask=timers.target systemd.show_status=error")
    command = [
        "qemu-system-x86_64", "-nodefaults", "-no-user-config",
        "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "2048", "-smp", "2",
        "-display", "none", "-serial", "stdio", "-monitor", "none",
        "-no-reboot", "-nic", "none", "-bios", str(QBOOT),
        "-kernel", str(vmlinux), "-initrd", str(initramfs),
        "-append", append,
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={results},mount_tag=results,security_model=none,multidevs=remap",
    ]
    with open(console_log, "wb") as console:
        qemu = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

        def copy():
            # The console, as it comes, to the log and to ctest's output.
            for line in qemu.stdout:
                line = line.replace(b"\r", b"")
                console.write(line)
                sys.stdout.write(line.decode(errors="replace"))
                sys.stdout.flush()

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
        try:
            qemu.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()
            return False
        except BaseException:  # SIGTERM, Ctrl-C: the guest goes with us
            qemu.kill()
            qemu.wait()
            raise
        finally:
            reader.join(timeout=5)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True,
                        help="directory for this run's results and kept failures")
    parser.add_argument("--cache", type=Path, help="guest artifact cache (default: see docs)")
    parser.add_argument("--systemd", action="store_true",
                        help="boot the host's systemd as PID 1 and run the test as a unit "
                             "(default test: guest-systemd.sh)")
    parser.add_argument("--guest-test", type=Path,
                        help="the test to run in the guest (default: guest-test.sh)")
    parser.add_argument("--build-dir", type=Path,
                        help="the build tree, for tests that install it (guest-systemd.sh)")
    parser.add_argument("--timeout", type=int, default=300,
                        help="seconds the guest test may take (default 300; boot and "
                             "shutdown get 60 more)")
    parser.add_argument("--hostcryptd", type=Path, default=os.environ.get("HOSTCRYPTD_BIN"))
    parser.add_argument("--hostcrypt", type=Path, default=os.environ.get("HOSTCRYPT_BIN"))
    args = parser.parse_args()
    if not args.hostcryptd or not args.hostcrypt:
        parser.error("--hostcryptd and --hostcrypt (or HOSTCRYPTD_BIN, HOSTCRYPT_BIN) are needed")
    if args.systemd and not args.build_dir:
        parser.error("--systemd needs --build-dir")
    guest_test = args.guest_test or HERE / ("guest-systemd.sh" if args.systemd else "guest-test.sh")

    def on_sigterm(*_):
        # ctest's timeout: SystemExit, so that the guest is stopped on the way out.
        log(f"interrupted by SIGTERM; the console so far: {args.work / 'run' / 'console.log'}")
        sys.exit(EXIT_TIMEOUT)

    signal.signal(signal.SIGTERM, on_sigterm)

    # depmod, modprobe and mkfs.ext4 live in sbin, which a user's PATH may lack.
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    started = time.monotonic()
    work = args.work.resolve()
    try:
        check_machine()
        if args.systemd and not Path("/lib/systemd/systemd").is_file():
            raise Skip("no /lib/systemd/systemd (package systemd)")
        vmlinux, initramfs = guest_artifacts((args.cache or default_cache(work)).resolve())
    except Skip as reason:
        log(f"SKIPPED: {reason}")
        return EXIT_SKIPPED
    except (SetupError, subprocess.SubprocessError, OSError) as error:
        log(f"FAILED to build the guest artifacts: {error}")
        return EXIT_SETUP_FAILED

    # The results share: the guest sees it as /testhost.
    results = work / "run"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    (results / "run").write_text(
        "#!/bin/bash\n# Written by testhost.py: what the guest's init runs.\n"
        f"export HOSTCRYPTD_BIN={shlex.quote(str(args.hostcryptd.resolve()))}\n"
        f"export HOSTCRYPT_BIN={shlex.quote(str(args.hostcrypt.resolve()))}\n"
        + (f"export BUILD_DIR={shlex.quote(str(args.build_dir.resolve()))}\n"
           if args.build_dir else "")
        + f"exec /bin/bash {shlex.quote(str(guest_test.resolve()))}\n")
    if args.systemd:
        # The service cannot follow a symlink into a build tree under /tmp,
        # /home or /root (PrivateTmp=, ProtectHome=), so the guest installs
        # the daemon as a real file: this copy without debug information, a
        # few MB through 9p instead of 50.
        try:
            run(["strip", "--strip-debug", "-o", str(results / "hostcryptd"),
                 str(args.hostcryptd.resolve())], timeout=120).check_returncode()
        except (subprocess.SubprocessError, OSError) as error:
            log(f"FAILED to strip a copy of hostcryptd: {error}")
            return EXIT_SETUP_FAILED
    console_log = results / "console.log"
    log(f"booting the guest (TCG; console below, also in {console_log})")
    booted = time.monotonic()
    stopped = boot(vmlinux, initramfs, results, console_log, args.timeout,
                   args.timeout + 60, args.systemd)
    elapsed = f"guest {time.monotonic() - booted:.0f}s, total {time.monotonic() - started:.0f}s"

    status_file = results / "status"
    status = status_file.read_text().strip() if status_file.is_file() else None
    if not stopped:
        code, what = EXIT_TIMEOUT, f"the guest did not stop within {args.timeout + 60}s"
    elif status is None:
        panic = re.search(rb"Kernel panic[^\n]*", console_log.read_bytes())
        code, what = EXIT_GUEST_FAILED, "the guest stopped without an exit status" + (
            f" ({panic.group().decode(errors='replace').strip()})" if panic else "")
    elif status == "0":
        log(f"PASSED ({elapsed})")
        return EXIT_PASS
    elif status in ("124", "137"):
        code, what = EXIT_TIMEOUT, f"the guest test ran out of its {args.timeout}s"
    elif status == str(EXIT_SKIPPED):
        log(f"SKIPPED: the guest test skipped itself (see {console_log})")
        return EXIT_SKIPPED
    else:
        code, what = EXIT_TEST_FAILED, f"the guest test failed with exit status {status}"

    kept = work / time.strftime("failed-%Y%m%d-%H%M%S")
    results.rename(kept)
    for old in sorted(work.glob("failed-*"))[:-KEEP_FAILED]:
        shutil.rmtree(old, ignore_errors=True)
    log(f"FAILED: {what} ({elapsed}); exit {code}")
    log(f"kept: {kept / 'console.log'}")
    dmesg = kept / "dmesg.txt"
    log(f"kept: {dmesg}" if dmesg.is_file() else "no guest dmesg (the guest did not finish)")
    return code


if __name__ == "__main__":
    sys.exit(main())
