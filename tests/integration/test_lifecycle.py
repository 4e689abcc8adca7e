"""hostcryptd over its life: what reaches the backing file (never the
plaintext), SIGTERM (in-flight requests finished, exit 0, nothing
acknowledged lost), the catalog changed while serving (a disk created is
served at once, a disk in use is not deleted), SIGHUP, and disks whose keys
are unusable at start (not served, named in the log, served once usable).
"""
import os
import signal
import time

import nbd

from harness import (DISK_IO, LOG_TIMEOUT, STOP_TIMEOUT, KiB, MiB, IntegrationTest, list_exports,
                     pattern)

MARKER = b"PLAINTEXT-MARK!\n"  # 16 bytes: a recognizable plaintext


def file_contains(path, needle, chunk=8 * MiB):
    """Whether `needle` occurs anywhere in the file, also across chunks."""
    with open(path, "rb") as f:
        tail = b""
        while True:
            block = f.read(chunk)
            if not block:
                return False
            if needle in tail + block:
                return True
            tail = block[-(len(needle) - 1):]


class Plaintext(IntegrationTest):
    """A recognizable pattern written through NBD, for every type and both
    sector sizes, is nowhere in the backing file — and the
    data is really there: it reads back after a restart (and offline)."""

    def test_backing_files_never_hold_the_plaintext(self):
        self.make_sets()
        disks = {"plain-p": ("p", 4096), "plain-c": ("c", 4096), "plain-d": ("d", 4096),
                 "plain-p512": ("p", 512), "plain-d512": ("d", 512)}
        for name, (set_name, sector) in disks.items():
            self.make_disk(name, set_name, 16 * MiB, sector)
        self.start_daemon()
        block = MARKER * (64 * KiB // len(MARKER))
        # Aligned to every sector size, so that this test does not depend on
        # read-modify-write (Unaligned covers that).
        writes = [(0, block * 4, 0),                                   # 256 KiB
                  (1 * MiB + 4096, block[:12 * 4096], 0),
                  (2 * MiB, block, nbd.CMD_FLAG_FUA),
                  (16 * MiB - 64 * KiB, block, 0)]                     # the last sectors
        for disk in disks:
            h = self.connect(disk)
            for offset, data, flags in writes:
                h.pwrite(data, offset, flags)
            h.zero(4096, 2 * MiB + 4096, nbd.CMD_FLAG_NO_HOLE)  # encrypted zeroes, too
            h.flush()
        self.stop_daemon()
        for disk in disks:
            path = self.backing_path(disk)
            self.assertGreaterEqual(os.path.getsize(path), 16 * MiB, disk)
            for needle in (MARKER, MARKER[:8], MARKER[8:]):
                self.assertFalse(file_contains(path, needle),
                                 f"{disk}: {needle!r} is in its backing file {path}")
            if DISK_IO:
                self.assertEqual(self.read_offline(disk, 0, 64 * KiB), block, disk)
        self.start_daemon()
        for disk in disks:
            h = self.connect(disk)
            for offset, data, _ in writes:
                expected = data
                if offset == 2 * MiB:
                    expected = data[:4096] + bytes(4096) + data[8192:]
                self.assertEqual(h.pread(len(data), offset), expected, f"{disk} at {offset}")


class Shutdown(IntegrationTest):
    """SIGTERM and SIGINT: requests in flight are finished, the daemon exits 0
    in time, and every write it acknowledged reads back after a restart."""

    def write_while_stopping(self, signum):
        self.make_sets()
        self.make_disk("s-d", "d", 64 * MiB, 4096)
        self.make_disk("s-p", "p", 64 * MiB, 512)
        self.start_daemon()
        done_before = {}
        for disk in ("s-d", "s-p"):
            h = self.connect(disk)
            data = pattern(1 * MiB, len(disk))
            h.pwrite(data, 0)
            done_before[disk] = data
        # Two connections with many writes in flight when the signal comes.
        handles = [(disk, self.connect(disk)) for disk in ("s-d", "s-p")]
        issued = []  # (disk, handle, cookie, offset, data, buffer)
        for disk, h in handles:
            for i in range(64):
                data = pattern(64 * KiB, 1000 * len(disk) + i)
                buf = nbd.Buffer.from_bytearray(bytearray(data))
                offset = 8 * MiB + i * 64 * KiB
                issued.append((disk, h, h.aio_pwrite(buf, offset), offset, data, buf))
        self.daemon.send_signal(signum)
        started = time.monotonic()
        acknowledged, failed = [], []
        for disk, h, cookie, offset, data, _ in issued:
            while True:
                try:
                    if h.aio_command_completed(cookie):
                        acknowledged.append((disk, offset, data))
                        break
                except nbd.Error as e:
                    failed.append((disk, offset, e.errnum))
                    break
                if h.aio_is_dead() or h.aio_is_closed():
                    failed.append((disk, offset, None))
                    break
                try:
                    h.poll(1000)
                except nbd.Error:
                    pass
                self.assertLess(time.monotonic() - started, STOP_TIMEOUT,
                                "requests neither completed nor failed after the signal")
        code = self.daemon.stop(signum)
        self.assertEqual(code, 0, f"exit code after signal {signum}")
        self.handles.clear()
        self.start_daemon()
        for disk, data in done_before.items():
            self.assertEqual(self.connect(disk).pread(len(data), 0), data, disk)
        lost = []
        for disk, offset, data in acknowledged:
            if self.connect(disk).pread(len(data), offset) != data:
                lost.append((disk, offset))
        self.assertEqual(lost, [], f"acknowledged writes lost ({len(acknowledged)} "
                         f"acknowledged, {len(failed)} failed)")
        return acknowledged, failed

    def test_sigterm_finishes_in_flight_writes_and_exits_0(self):
        acknowledged, failed = self.write_while_stopping(signal.SIGTERM)
        self.assertGreater(len(acknowledged), 0)

    def test_sigint_too(self):
        self.write_while_stopping(signal.SIGINT)

    def test_an_idle_connection_does_not_hold_up_sigterm(self):
        self.make_set("p", "platform")
        self.make_disk("x", "p", 1 * MiB)
        self.start_daemon()
        h = self.connect("x")
        h.pwrite(b"\x11" * 4096, 0)
        self.daemon.send_signal(signal.SIGTERM)  # h stays connected, and idle
        self.assertEqual(self.daemon.proc.wait(STOP_TIMEOUT), 0)
        self.assertFalse(os.path.exists(self.sock) and self._connectable(),
                         "the socket still accepts connections after exit")
        self.start_daemon()  # and a new daemon starts on the same socket path
        self.assertEqual(self.connect("x").pread(4096, 0), b"\x11" * 4096)

    def _connectable(self):
        import socket
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()


class LiveCatalog(IntegrationTest):
    """A disk created with the CLI while the daemon runs is made by the daemon
    (through its control socket) and served at once; connections already
    open go on. SIGHUP reloads the catalog and changes nothing that is
    already right."""

    def test_a_disk_created_while_serving_is_served_at_once(self):
        self.make_sets()
        self.make_disk("old", "p", 8 * MiB)
        self.start_daemon()
        self.assertEqual(list_exports(self.sock), ["old"])
        h = self.connect("old")
        data = pattern(256 * KiB, 1)
        h.pwrite(data, 0)

        mark = self.daemon.mark()
        self.make_disk("fresh-disk", "d", 12 * MiB, 512)  # while the daemon runs
        self.assertEqual(list_exports(self.sock), ["fresh-disk", "old"])
        self.daemon.wait_for_line("fresh-disk", since=mark, what="a line naming the new disk")
        fresh = self.connect("fresh-disk")
        self.assertEqual(fresh.get_size(), 12 * MiB)
        self.assertEqual(fresh.get_block_size(nbd.SIZE_MINIMUM), 512)
        more = pattern(64 * KiB, 2)
        fresh.pwrite(more, 512 * 7)
        self.assertEqual(fresh.pread(len(more), 512 * 7), more)
        # the connection from before still works, its data intact
        self.assertEqual(h.pread(len(data), 0), data)
        h.pwrite(more, 1 * MiB)
        self.assertEqual(self.connect("old").pread(len(more), 1 * MiB), more)
        # a reload with nothing new changes nothing
        mark = self.daemon.mark()
        self.daemon.send_signal(signal.SIGHUP)
        self.daemon.wait_for_line(r"serving 2 export\(s\)", since=mark, what="the reload's summary")
        self.assertTrue(self.daemon.alive())
        self.assertEqual(list_exports(self.sock), ["fresh-disk", "old"])
        self.assertEqual(fresh.pread(len(more), 512 * 7), more)

    def test_a_disk_in_use_is_not_deleted(self):
        self.make_sets()
        self.make_disk("busy", "p", 8 * MiB)
        self.start_daemon()
        h = self.connect("busy")
        h.pwrite(pattern(64 * KiB, 3), 0)
        error = self.run_cli("disk", "delete", "busy", expect=6).stderr
        self.assertIn("in use by 1 connection", error)
        self.assertEqual(list_exports(self.sock), ["busy"])
        self.assertEqual(h.pread(64 * KiB, 0), pattern(64 * KiB, 3))
        self.disconnect(h)
        # The daemon notices the disconnection on its own time.
        deadline = time.monotonic() + LOG_TIMEOUT
        while self.run_cli("disk", "delete", "busy", expect=None).returncode != 0:
            self.assertLess(time.monotonic(), deadline, "still in use after the disconnect")
            time.sleep(0.1)
        self.assertEqual(list_exports(self.sock), [])
        self.assertFalse(os.path.exists(os.path.join(self.state, "disks", "busy.img")))


class Revoked(IntegrationTest):
    """A disk whose vault key is disabled when the daemon starts is not served
    and a log line names it and why; the other disks are served. When the key
    is enabled (through the daemon), the daemon notices and serves it, its
    data intact."""

    def test_disk_with_a_disabled_key_is_not_served(self):
        self.make_sets()
        for set_name in ("p", "c", "d"):
            self.make_disk(f"disk-{set_name}", set_name, 8 * MiB)
        self.start_daemon()
        data = pattern(128 * KiB, 3)
        for disk in ("disk-p", "disk-c", "disk-d"):
            self.connect(disk).pwrite(data, 0, nbd.CMD_FLAG_FUA)
        self.stop_daemon()

        self.run_cli("vault", "key", "disable", "app-key")
        daemon = self.start_daemon()
        for disk in ("disk-c", "disk-d"):
            daemon.wait_for_line(lambda line, d=disk: d in line and "disabled" in line.lower(),
                                 what=f"a line naming {disk} and its disabled key")
        self.assertFalse(any("disk-p" in line and "disabled" in line.lower()
                             for line in daemon.stderr_lines()))
        self.assertEqual(list_exports(self.sock), ["disk-p"])
        for disk in ("disk-c", "disk-d"):
            with self.assertRaises(nbd.Error, msg=disk):
                self.connect(disk)
        self.assertEqual(self.connect("disk-p").pread(len(data), 0), data)

        self.run_cli("vault", "key", "enable", "app-key")
        deadline = time.monotonic() + LOG_TIMEOUT
        while list_exports(self.sock) != ["disk-c", "disk-d", "disk-p"]:
            self.assertLess(time.monotonic(), deadline,
                            f"after enable the exports are {list_exports(self.sock)}")
            time.sleep(0.1)
        for disk in ("disk-c", "disk-d"):
            self.assertEqual(self.connect(disk).pread(len(data), 0), data, disk)
