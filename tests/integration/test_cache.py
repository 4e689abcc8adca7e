"""The host cache end to end: a disk attached to an instance with
`--cache read-only` (write-through) or `--cache read-write` (write-back)
gets a cache file `<cache_dir>/<disk uuid>.cache` under its own DEKs.

fio verifies both modes (and, after the cache is detached and written back,
the bare disk); FLUSH and FUA put the data on the disk itself; a kill -9
after an acknowledged FLUSH loses nothing flushed and the cache starts empty
("not closed cleanly"); a clean stop keeps the cache, dirty data included;
revoking the customer key stops I/O, cached data included, and enabling it
brings it back with nothing lost; the cache file never holds plaintext; a
damaged index is discarded when the cache held nothing unwritten and keeps
the disk from being served when it did; rotating the keys never leaves the
cache under a key version that is gone; `instance show` lists the cache as a
tier with its own DEK ids, and `status` counts its hits and misses.

Dirty data is made to stay in a read-write cache by making the disk's
backing file immutable (chattr +i) for a while: the write-back fails with
EPERM and is retried, as it would be on a failing disk. Where the test runs
with DISK_IO_BIN (ctest sets it), what is on the disk itself is read past
the daemon and its cache.
"""
import errno
import hashlib
import json
import os
import struct
import subprocess
import time

import nbd

from harness import (DISK_IO, LOG_TIMEOUT, TIME_SCALE, TOOL_TIMEOUT, KiB, MiB, IntegrationTest,
                     list_exports, nbd_uri, pattern)

MARKER = b"hostcrypt host cache plaintext marker. " * 8  # 312 bytes
HEADER_SLOT = 16 * KiB
INDEX_ENTRY = 16
SECTOR = 4096


def write_in_chunks(h, data, offset, chunk=256 * KiB):
    """`data` at `offset` in writes of `chunk` bytes: a write larger than a
    quarter of the cache goes around it, to the disk."""
    for start in range(0, len(data), chunk):
        h.pwrite(data[start:start + chunk], offset + start)


def marked_block(length=64 * KiB):
    """`length` bytes of MARKER repeated: easy to find if it ever leaks."""
    return (MARKER * (length // len(MARKER) + 1))[:length]


def read_header(path):
    """The newest valid header slot of a hostcrypt file (docs/format.md,
    "Header slot"): its metadata, with "_sequence" added; None if no slot
    is valid."""
    with open(path, "rb") as f:
        slots = f.read(2 * HEADER_SLOT)
    best = None
    for i in range(2):
        slot = slots[i * HEADER_SLOT:(i + 1) * HEADER_SLOT]
        if len(slot) < HEADER_SLOT or slot[:8] != b"HOSTCRPT":
            continue
        version, _flags, length = struct.unpack_from("<HHI", slot, 8)
        (sequence,) = struct.unpack_from("<Q", slot, 16)
        if version != 1 or not 1 <= length <= HEADER_SLOT - 64:
            continue
        checked = slot[:24] + bytes(32) + slot[56:64 + length]
        if hashlib.sha256(checked).digest() != slot[24:56]:
            continue
        metadata = json.loads(slot[64:64 + length])
        if best is None or sequence > best["_sequence"]:
            best = dict(metadata, _sequence=sequence)
    return best


def read_index(path, header):
    """The cache's index as written at its last clean close: {slot: (disk
    sector, flags)} for the slots that hold a sector."""
    slots = header["size"] // header["sector_size"]
    with open(path, "rb") as f:
        f.seek(header["cache"]["index_offset"])
        raw = f.read(slots * INDEX_ENTRY)
    entries = {}
    for slot in range(slots):
        sector_plus_one, flags = struct.unpack_from("<QQ", raw, slot * INDEX_ENTRY)
        if sector_plus_one:
            entries[slot] = (sector_plus_one - 1, flags)
    return entries


def swap_index_entries(path, header, first, second):
    """Damages the index without making it malformed: slots `first` and
    `second` trade the sectors they say they hold. Only the checksum in the
    header can tell; a daemon that trusted this index would serve each
    sector from the other's slot, decrypted under the wrong tweak."""
    offset = header["cache"]["index_offset"]
    with open(path, "r+b") as f:
        f.seek(offset + first * INDEX_ENTRY)
        a = f.read(8)
        f.seek(offset + second * INDEX_ENTRY)
        b = f.read(8)
        f.seek(offset + first * INDEX_ENTRY)
        f.write(b)
        f.seek(offset + second * INDEX_ENTRY)
        f.write(a)
        f.flush()
        os.fsync(f.fileno())


class CacheTest(IntegrationTest):
    """A state with a vault key and one set of each type (harness.make_sets);
    helpers for an instance vm1 with a cached disk, the cache's status and
    its file."""

    def setUp(self):
        super().setUp()
        self.make_sets()

    def create_instance(self, name="vm1"):
        return self.json_cli("instance", "create", name, "--temp-size", str(8 * MiB))

    def attach(self, disk, mode, size=None, instance="vm1", expect=0):
        args = ["instance", "attach", instance, disk, "--cache", mode]
        if size is not None:
            args += ["--cache-size", size]
        return self.run_cli(*args, expect=expect)

    def cached_disk(self, mode, set_name="p", size=16 * MiB, cache_size="8M", disk="data"):
        """A disk of `set_name` attached to a new instance vm1 with a cache,
        while the daemon runs (one is started if none is); a connection on
        its export."""
        self.make_disk(disk, set_name, size)
        if not getattr(self, "daemon", None) or not self.daemon.alive():
            self.start_daemon()
        self.create_instance()
        self.attach(disk, mode, cache_size)
        self.assertIn(f"vm1/{disk}", list_exports(self.sock))
        return self.connect(f"vm1/{disk}")

    def uuid(self, disk):
        return self.json_cli("disk", "show", disk)["uuid"]

    def cache_file(self, disk="data", directory=None):
        return os.path.join(directory or os.path.join(self.state, "cache"),
                            f"{self.uuid(disk)}.cache")

    def disk_status(self, disk="data"):
        return next(d for d in self.json_cli("status")["disks"] if d["name"] == disk)

    def cache_status(self, disk="data"):
        cache = self.disk_status(disk).get("cache")
        self.assertIsNotNone(cache, f"{disk} has no cache in status")
        for key in ("mode", "size", "used_bytes", "dirty_bytes", "hits", "misses",
                    "written_back_bytes", "writeback_rate", "file"):
            self.assertIn(key, cache, f"{disk}'s cache status")
        return cache

    def tiers(self, instance="vm1"):
        """{"persisted <disk>", "cache <disk>" or "temp": tier} from `instance show`."""
        view = self.json_cli("instance", "show", instance)
        return {f"{t['tier']} {t['disk']}" if "disk" in t else t["tier"]: t
                for t in view["tiers"]}

    def wait_for_key_state(self, disk, state, timeout=LOG_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            status = self.disk_status(disk)
            if status.get("key_status", {}).get("state") == state:
                return status
            self.assertLess(time.monotonic(), deadline, f"{disk}: {status} is not {state}")
            time.sleep(0.2)

    def wait_for_cache(self, predicate, what, disk="data", timeout=LOG_TIMEOUT):
        """Polls the disk's cache status until `predicate` holds for it."""
        deadline = time.monotonic() + timeout
        while True:
            cache = self.cache_status(disk)
            if predicate(cache):
                return cache
            self.assertLess(time.monotonic(), deadline, f"{disk}'s cache is not {what}: {cache}")
            time.sleep(0.1)

    def wait_until_held_dirty(self, nbytes, disk="data"):
        """Waits until the disk's cache holds `nbytes` dirty and reports its
        write-back failing (under hold_write_back)."""
        return self.wait_for_cache(lambda c: c["dirty_bytes"] == nbytes and "problem" in c,
                                   f"holding {nbytes} bytes dirty", disk)

    def hold_write_back(self, disk="data"):
        """Makes the disk's backing file immutable (chattr +i): the daemon's
        writes to it fail with EPERM, so a read-write cache's write-back
        fails, is retried, and its dirty data stays in the cache for as long
        as the test needs. `release_write_back` (and the test's end) undo it."""
        path = self.backing_path(disk)
        if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
            self.skipTest("chattr +i is not supported here: cannot hold the write-back")
        self.addCleanup(subprocess.run, ["chattr", "-i", path], capture_output=True)
        return path

    def release_write_back(self, path):
        subprocess.run(["chattr", "-i", path], check=True)

    def assertOnDisk(self, disk, offset, data, msg=None):
        """The disk itself (read by disk_io, past the daemon and its cache)
        holds `data` at `offset`. Skipped without DISK_IO_BIN. While a daemon
        runs, only for platform disks: it holds the vault."""
        if DISK_IO:
            self.assertTrue(self.read_disk_itself(disk, offset, len(data)) == data,
                            msg or f"{disk} at {offset}: not on the disk itself")

    def read_disk_itself(self, disk, offset, length):
        """The disk's data read through the library by disk_io, past the
        daemon and its cache; None without DISK_IO_BIN."""
        if not DISK_IO:
            return None
        result = subprocess.run([DISK_IO, self.state, "read", disk, str(offset), str(length)],
                                capture_output=True, timeout=TOOL_TIMEOUT)
        self.assertEqual(result.returncode, 0, f"disk_io read {disk}: {result.stderr!r}")
        return result.stdout

    def assertNoMarker(self, path):
        with open(path, "rb") as f:
            content = f.read()
        self.assertNotIn(MARKER[:64], content, f"{path} holds plaintext")


class CacheFio(CacheTest):
    """fio (ioengine=nbd, crc32c verification, two connections) through a
    read-only and a read-write cache half the size of the range it writes,
    so that slots are reused and dirty data is written back under load; then
    the cache is detached and fio verifies the same data on the bare disk."""

    def job_file(self, export, verify_only=False):
        path = os.path.join(self.root, f"{export.replace('/', '-')}.fio")
        with open(path, "w") as f:
            f.write(f"""[global]
ioengine=nbd
uri={nbd_uri(self.sock, export)}
iodepth=16
numjobs=2
verify=crc32c
verify_fatal=1
do_verify=1
verify_only={1 if verify_only else 0}
verify_state_save=0
end_fsync=1
randrepeat=1
randseed=4321
group_reporting=0

[sequential]
rw=write
bs=128k
size=8m
offset=0
offset_increment=8m

[random]
stonewall
rw=randwrite
bsrange=4k-64k
blockalign=4k
size=8m
offset=16m
offset_increment=8m
""")
        return path

    def run_fio(self, export, verify_only=False):
        output = os.path.join(self.root, f"fio-{export.replace('/', '-')}-{verify_only}.json")
        result = subprocess.run(["fio", "--output-format=json", f"--output={output}",
                                 self.job_file(export, verify_only)],
                                capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                                cwd=self.root)
        report = ""
        if os.path.exists(output):
            with open(output) as f:
                report = f.read()
        self.assertEqual(result.returncode, 0, f"fio on {export} (verify_only={verify_only}): "
                         f"{result.stdout[-3000:]}{result.stderr[-3000:]}{report[-2000:]}")
        jobs = json.loads(report)["jobs"]
        self.assertEqual(sorted(j["jobname"] for j in jobs), ["random"] * 2 + ["sequential"] * 2)
        for job in jobs:
            self.assertEqual(job["error"], 0, f"{export} {job['jobname']}")
            self.assertEqual(job["read"]["io_bytes"], 8 * MiB,  # every block read and checked
                             f"{export} {job['jobname']} verified")

    def fio_through_cache(self, mode):
        self.cached_disk(mode, size=48 * MiB, cache_size="16M")
        self.disconnect(self.handles[0])
        self.run_fio("vm1/data")
        cache = self.cache_status()
        self.assertEqual((cache["mode"], cache["size"]), (mode, 16 * MiB))
        self.assertGreater(cache["misses"] + cache["hits"], 0, cache)
        self.assertLessEqual(cache["used_bytes"], 16 * MiB, cache)
        self.assertEqual(self.disk_status()["errors"], 0)
        # A FLUSH leaves nothing dirty.
        h = self.connect("vm1/data")
        h.flush()
        cache = self.cache_status()
        self.assertEqual(cache["dirty_bytes"], 0, cache)
        if mode == "read-write":
            # 32 MiB written through a 16 MiB cache: most of it written back.
            self.assertGreaterEqual(cache["written_back_bytes"], 16 * MiB, cache)
        else:
            self.assertEqual(cache["written_back_bytes"], 0, cache)
        self.disconnect(h)
        # Without the cache, the disk itself holds what fio wrote.
        self.run_cli("instance", "detach", "vm1", "data")
        self.assertFalse(os.path.exists(self.cache_file()), "the cache outlived its detach")
        self.run_fio("data", verify_only=True)
        self.assertTrue(self.daemon.alive())

    def test_fio_verifies_through_a_read_only_cache(self):
        self.fio_through_cache("read-only")

    def test_fio_verifies_through_a_read_write_cache(self):
        self.fio_through_cache("read-write")


class CacheModes(CacheTest):
    """What each mode promises: read-only writes through and invalidates;
    read-write acknowledges from the cache, and FLUSH, FUA and detaching put
    everything on the disk; the cache file lives in the cache directory."""

    def test_attach_makes_the_cache_file_and_none_makes_none(self):
        self.make_disk("plain", "p", 8 * MiB)
        h = self.cached_disk("read-only", cache_size=None)  # default: min(256M, disk size)
        self.assertTrue(os.path.isfile(self.cache_file()), self.cache_file())
        header = read_header(self.cache_file())
        self.assertIsNotNone(header, "the cache file has no valid header")
        self.assertEqual(header["format"], "hostcrypt-cache")
        self.assertEqual(header["cache"]["disk_uuid"], self.uuid("data"))
        self.assertEqual(header["cache"]["mode"], "read-only")
        cache = self.cache_status()
        self.assertEqual((cache["mode"], cache["size"]), ("read-only", 16 * MiB))
        self.assertEqual(os.path.realpath(cache["file"]), os.path.realpath(self.cache_file()))
        h.pwrite(pattern(64 * KiB, 1), 0)
        self.assertEqual(h.pread(64 * KiB, 0), pattern(64 * KiB, 1))

        self.attach("plain", "none")
        self.assertIn("vm1/plain", list_exports(self.sock))
        self.assertIsNone(self.disk_status("plain").get("cache"))
        self.assertFalse(os.path.exists(self.cache_file("plain")))
        self.assertEqual(sorted(os.listdir(os.path.join(self.state, "cache"))),
                         [f"{self.uuid('data')}.cache"])

    def test_read_only_writes_through_and_invalidates(self):
        h = self.cached_disk("read-only")
        old, new = pattern(256 * KiB, 2), pattern(256 * KiB, 3)
        h.pwrite(old, 0)
        self.assertEqual(h.pread(len(old), 0), old)  # fills the cache
        self.assertEqual(h.pread(len(old), 0), old)  # from the cache
        self.assertGreaterEqual(self.cache_status()["used_bytes"], len(old))
        h.pwrite(new, 0)  # to the disk, and the cached copy is dropped
        self.assertEqual(self.cache_status()["dirty_bytes"], 0)
        self.assertOnDisk("data", 0, new, "a write through a read-only cache is not on the disk")
        self.assertEqual(h.pread(len(new), 0), new)
        other = self.connect("vm1/data")  # one cache for every connection
        self.assertEqual(other.pread(len(new), 0), new)
        # Zeroing and trimming also invalidate.
        h.zero(64 * KiB, 0)
        self.assertEqual(other.pread(64 * KiB, 0), bytes(64 * KiB))
        self.assertEqual(h.pread(len(new) - 64 * KiB, 64 * KiB), new[64 * KiB:])

    def test_read_write_flush_and_fua_write_back_to_the_disk(self):
        h = self.cached_disk("read-write")
        held = self.hold_write_back()
        data = pattern(1 * MiB, 4)
        write_in_chunks(h, data, 0)  # acknowledged from the cache: the disk takes nothing
        self.assertEqual(h.pread(len(data), 0), data)
        cache = self.wait_for_cache(lambda c: "problem" in c, "reporting the failed write-back")
        self.assertEqual(cache["dirty_bytes"], len(data), cache)
        # A FLUSH is not answered with success while the data is not on the disk.
        self.assertNbdError(errno.EIO, h.flush)
        self.assertNbdError(errno.EIO, h.pwrite, pattern(4 * KiB, 5), 2 * MiB,
                            flags=nbd.CMD_FLAG_FUA)
        self.daemon.wait_for_line(r"write-back failed", what="the failed write-back logged")
        self.release_write_back(held)
        h.flush()
        cache = self.cache_status()
        self.assertEqual(cache["dirty_bytes"], 0, cache)
        self.assertNotIn("problem", cache)
        self.assertGreaterEqual(cache["written_back_bytes"], len(data), cache)
        self.assertOnDisk("data", 0, data, "FLUSH was answered before the data was on the disk")
        fua = pattern(64 * KiB, 5)
        h.pwrite(fua, 2 * MiB, flags=nbd.CMD_FLAG_FUA)
        self.assertOnDisk("data", 2 * MiB, fua,
                          "a FUA write was answered before it was on the disk")
        # A sector overwritten while cached reads back as the newest write.
        newer = pattern(8 * KiB, 6)
        h.pwrite(newer, 4 * KiB)
        expected = data[:4 * KiB] + newer + data[12 * KiB:]
        self.assertEqual(self.connect("vm1/data").pread(len(data), 0), expected)
        h.flush()
        self.assertOnDisk("data", 0, expected)

    def test_unaligned_writes_patch_cached_sectors(self):
        self.cached_disk("read-write")
        h = self.connect("vm1/data", unaligned=True)
        held = self.hold_write_back()
        expected = bytearray(pattern(64 * KiB, 18))
        write_in_chunks(h, bytes(expected), 0, chunk=16 * KiB)  # dirty in the cache
        for offset, length, seed in ((1000, 100, 19), (4000, 5000, 20), (60 * KiB + 1, 2, 21)):
            patch = pattern(length, seed)
            h.pwrite(patch, offset)  # read-modify-write of dirty cached sectors
            expected[offset:offset + length] = patch
        self.assertEqual(h.pread(len(expected), 0), bytes(expected))
        self.release_write_back(held)
        h.flush()
        self.assertOnDisk("data", 0, bytes(expected))

    def test_detach_writes_back_and_deletes_the_cache(self):
        h = self.cached_disk("read-write")
        held = self.hold_write_back()
        data = pattern(2 * MiB, 7)
        write_in_chunks(h, data, 1 * MiB)  # acknowledged, never flushed
        self.disconnect(h)
        path = self.cache_file()
        self.assertTrue(os.path.exists(path))
        self.assertEqual(self.wait_for_cache(lambda c: "problem" in c, "failing")["dirty_bytes"],
                         len(data))
        self.release_write_back(held)  # the detach has all of it to write back
        self.run_cli("instance", "detach", "vm1", "data")
        self.assertFalse(os.path.exists(path), "the cache file outlived its detach")
        self.assertIsNone(self.disk_status().get("cache"))
        self.assertEqual(self.connect("data").pread(len(data), 1 * MiB), data)
        self.assertOnDisk("data", 1 * MiB, data)

    def test_clean_stop_keeps_the_cache_and_its_dirty_data(self):
        h = self.cached_disk("read-write", cache_size="16M")
        clean, dirty = pattern(1 * MiB, 8), pattern(1 * MiB, 9)
        write_in_chunks(h, clean, 0)
        h.flush()
        self.assertEqual(h.pread(len(clean), 0), clean)
        held = self.hold_write_back()
        write_in_chunks(h, dirty, 4 * MiB)  # not flushed, and cannot be written back
        self.assertEqual(self.wait_for_cache(lambda c: "problem" in c, "failing")["dirty_bytes"],
                         len(dirty))
        self.stop_daemon()
        self.release_write_back(held)
        header = read_header(self.cache_file())
        self.assertTrue(header["cache"]["clean"], header)
        self.assertEqual(len(header["cache"]["index_sha256"]), 64, header)
        self.assertEqual(header["cache"]["dirty_sectors"], len(dirty) // SECTOR, header)
        index = read_index(self.cache_file(), header)
        self.assertEqual(sum(flags & 1 for _, flags in index.values()), len(dirty) // SECTOR)
        self.assertEqual(sorted(sector for sector, flags in index.values() if flags & 1),
                         list(range(4 * MiB // SECTOR, 5 * MiB // SECTOR)))
        self.assertNotEqual(self.read_disk_itself("data", 4 * MiB, len(dirty)), dirty)

        daemon = self.start_daemon()
        self.assertFalse(any("not closed cleanly" in line for line in daemon.stderr_lines()),
                         daemon.log())
        cache = self.cache_status()
        self.assertEqual((cache["hits"], cache["misses"]), (0, 0), cache)
        self.assertEqual(cache["used_bytes"], len(index) * SECTOR, cache)
        # The dirty sectors kept are written back by the new daemon.
        self.wait_for_cache(lambda c: c["written_back_bytes"] >= len(dirty), "written back")
        h = self.connect("vm1/data")
        self.assertEqual(h.pread(len(dirty), 4 * MiB), dirty)
        self.assertEqual(h.pread(len(clean), 0), clean)
        cache = self.cache_status()
        self.assertEqual(cache["misses"], 0, f"the kept cache was not used: {cache}")
        self.assertEqual(cache["hits"], (len(dirty) + len(clean)) // SECTOR, cache)
        h.flush()
        self.assertEqual(self.cache_status()["dirty_bytes"], 0)
        self.assertOnDisk("data", 4 * MiB, dirty)

    def test_cache_directory_from_flag_and_config(self):
        flag_dir = os.path.join(self.root, "flag-cache")  # made by the daemon, private
        self.start_daemon("--cache-dir", flag_dir)
        h = self.cached_disk("read-write")
        h.pwrite(pattern(64 * KiB, 10), 0)
        self.assertTrue(os.path.isfile(self.cache_file(directory=flag_dir)))
        self.assertFalse(os.path.exists(self.cache_file()))
        self.stop_daemon()

        config_dir = os.path.join(self.root, "config-cache")  # made by the daemon, private
        with open(self.config, "w") as f:
            f.write(f'[storage]\ncache_directory = "{config_dir}"\n')
        self.make_disk("logs", "p", 8 * MiB)
        self.start_daemon()
        self.attach("logs", "read-only", "4M")
        self.assertTrue(os.path.isfile(self.cache_file("logs", directory=config_dir)))
        self.assertFalse(os.path.exists(self.cache_file("logs", directory=flag_dir)))


class CacheCrash(CacheTest):
    """kill -9 with a read-write cache: every write acknowledged before a
    FLUSH that was answered is on the disk; the cache is not trusted and
    starts empty."""

    def test_kill_after_flush_loses_nothing_flushed(self):
        self.make_disk("data", "p", 16 * MiB)
        self.start_daemon()
        h = self.connect("data")
        h.pwrite(pattern(4 * MiB, 11), 0)  # what the disk held before it had a cache
        h.flush()
        self.disconnect(h)
        self.create_instance()
        self.attach("data", "read-write", "8M")
        h = self.connect("vm1/data")
        flushed, unflushed = pattern(4 * MiB, 12), pattern(1 * MiB, 13)
        write_in_chunks(h, flushed, 0)
        write_in_chunks(h, flushed, 8 * MiB)
        h.flush()
        held = self.hold_write_back()
        write_in_chunks(h, unflushed, 0)  # acknowledged, only in the cache, never flushed
        self.assertEqual(self.wait_for_cache(lambda c: "problem" in c, "failing")["dirty_bytes"],
                         len(unflushed))
        self.daemon.kill()
        self.release_write_back(held)
        header = read_header(self.cache_file())
        self.assertFalse(header["cache"]["clean"], header)

        daemon = self.start_daemon()
        daemon.wait_for_line(r"not closed cleanly", what="the cache reported not closed cleanly")
        cache = self.cache_status()
        self.assertEqual((cache["used_bytes"], cache["dirty_bytes"], cache["hits"]), (0, 0, 0),
                         cache)
        h = self.connect("vm1/data")
        self.assertEqual(h.pread(len(flushed), 8 * MiB), flushed)
        # The write after the FLUSH never reached the disk: lost, as after a
        # power cut; what was flushed is there, not what the disk held before.
        self.assertEqual(h.pread(len(flushed), 0), flushed)
        cache = self.cache_status()
        self.assertEqual((cache["hits"], cache["misses"]), (0, 2 * len(flushed) // SECTOR),
                         cache)
        self.assertOnDisk("data", 0, flushed)
        self.assertOnDisk("data", 8 * MiB, flushed)


class CacheRevocation(CacheTest):
    """A customer disk with a read-write cache full of dirty data: revoking
    the key stops its I/O after the grace period, cached data included;
    enabling it brings everything back, nothing lost."""

    def test_revocation_stops_cached_io_and_enable_brings_back_dirty_data(self):
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "2s")
        h = self.cached_disk("read-write", set_name="c", cache_size="8M")
        held = self.hold_write_back()
        data = pattern(4 * MiB, 14)
        write_in_chunks(h, data, 0)  # acknowledged, not flushed: only in the cache
        self.assertEqual(h.pread(64 * KiB, 0), data[:64 * KiB])  # a cache hit
        cache = self.wait_for_cache(lambda c: "problem" in c, "failing to write back")
        self.assertEqual(cache["dirty_bytes"], len(data), cache)

        disabled_at = time.monotonic()
        self.run_cli("vault", "key", "disable", "app-key")
        self.wait_for_key_state("data", "revoked", timeout=15 * TIME_SCALE)
        self.assertGreaterEqual(time.monotonic() - disabled_at, 2)
        self.assertNbdError(errno.EIO, h.pread, 64 * KiB, 0)  # cached
        self.assertNbdError(errno.EIO, h.pread, 64 * KiB, 12 * MiB)  # not cached
        with self.assertRaises(nbd.Error):
            h.pwrite(pattern(4 * KiB, 15), 0)
        with self.assertRaises(nbd.Error):
            h.flush()
        self.assertIn("REVOKED", self.run_cli("status").stdout)

        self.run_cli("vault", "key", "enable", "app-key")
        self.wait_for_key_state("data", "serving", timeout=15 * TIME_SCALE)
        self.assertEqual(self.cache_status()["dirty_bytes"], len(data))  # all still there
        self.assertEqual(h.pread(len(data), 0), data, "a write was lost to the revocation")
        self.release_write_back(held)
        h.flush()
        self.assertEqual(self.cache_status()["dirty_bytes"], 0)
        self.disconnect(h)
        self.run_cli("instance", "detach", "vm1", "data")
        self.assertEqual(self.connect("data").pread(len(data), 0), data)
        self.stop_daemon()  # disk_io needs the vault, which a running daemon holds
        self.assertOnDisk("data", 0, data)


    def dirty_then_revoked(self, data):
        """A customer disk with a read-write cache holding `data` dirty at
        offset 0, its key disabled and the grace period over."""
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "1s")
        h = self.cached_disk("read-write", set_name="c", cache_size="8M")
        held = self.hold_write_back()
        write_in_chunks(h, data, 0)
        self.assertEqual(self.wait_for_cache(lambda c: "problem" in c, "failing")["dirty_bytes"],
                         len(data))
        self.run_cli("vault", "key", "disable", "app-key")
        self.wait_for_key_state("data", "revoked", timeout=15 * TIME_SCALE)
        self.release_write_back(held)
        return h

    def test_a_restart_while_revoked_keeps_the_dirty_data(self):
        data = pattern(1 * MiB, 22)
        self.dirty_then_revoked(data)
        self.stop_daemon()
        header = read_header(self.cache_file())
        self.assertEqual(header["cache"]["dirty_sectors"], len(data) // SECTOR, header)
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "1s")
        self.assertNotIn("vm1/data", list_exports(self.sock))  # its keys cannot be unwrapped
        self.assertTrue(os.path.exists(self.cache_file()))
        self.run_cli("vault", "key", "enable", "app-key")
        deadline = time.monotonic() + 15 * TIME_SCALE
        while "vm1/data" not in list_exports(self.sock):
            self.assertLess(time.monotonic(), deadline, "not served again after enable")
            time.sleep(0.2)
        self.assertEqual(self.connect("vm1/data").pread(len(data), 0), data)
        self.wait_for_cache(lambda c: c["dirty_bytes"] == 0, "written back")

    def test_detach_while_revoked_keeps_the_dirty_cache(self):
        data = pattern(1 * MiB, 23)
        h = self.dirty_then_revoked(data)
        self.disconnect(h)
        # Nothing can be written back without the key: the cache is kept,
        # and the disk is not served without it.
        self.run_cli("instance", "detach", "vm1", "data", expect=None)
        self.assertTrue(os.path.exists(self.cache_file()), "dirty data thrown away")
        mark = self.daemon.mark()
        self.run_cli("vault", "key", "enable", "app-key")
        self.daemon.wait_for_line(r"disk data: not served: .*not (yet )?written", since=mark,
                                  timeout=15 * TIME_SCALE, what="refused for its dirty cache")
        self.assertNotIn("data", list_exports(self.sock))
        status = self.disk_status()
        self.assertFalse(status["served"], status)
        self.assertRegex(json.dumps(status), r"not (yet )?written")
        # Attached with its read-write cache again, it is written back.
        self.attach("data", "read-write", "8M")
        h = self.connect("vm1/data")
        self.assertEqual(h.pread(len(data), 0), data)
        h.flush()
        self.assertEqual(self.cache_status()["dirty_bytes"], 0)


class CacheKeyRotation(CacheTest):
    """A cache's DEKs are wrapped like its disk's: rotating the keys must not
    leave the cache under a key version that no longer exists."""

    def test_vault_key_rotation_is_followed_by_the_cache(self):
        h = self.cached_disk("read-write", set_name="c")
        data = pattern(1 * MiB, 24)
        write_in_chunks(h, data, 0)
        self.run_cli("vault", "key", "rotate", "app-key")
        self.assertEqual(h.pread(len(data), 0), data)
        self.restart_daemon()
        self.assertEqual(self.connect("vm1/data").pread(len(data), 0), data)
        cache = self.tiers()["cache data"]
        self.assertEqual(cache["layers"][0]["wrapped_by"]["version"], 2, cache)

    def test_platform_rotation_while_serving_then_restart(self):
        h = self.cached_disk("read-write", set_name="p")
        data = pattern(1 * MiB, 25)
        write_in_chunks(h, data, 0)
        h.flush()
        self.run_cli("platform", "rotate")
        self.assertEqual(h.pread(len(data), 0), data)
        self.restart_daemon()
        self.assertIn("vm1/data", list_exports(self.sock),
                      "the disk is not served after a platform rotation and a restart")
        self.assertEqual(self.connect("vm1/data").pread(len(data), 0), data)

    def test_platform_rotation_keeps_dirty_cached_data(self):
        h = self.cached_disk("read-write", set_name="d")
        held = self.hold_write_back()
        data = pattern(1 * MiB, 26)
        write_in_chunks(h, data, 0)
        self.wait_until_held_dirty(len(data))
        self.stop_daemon()
        self.release_write_back(held)
        self.run_cli("platform", "rotate")  # offline: re-wraps the disk's outer layer
        self.start_daemon()
        self.assertIn("vm1/data", list_exports(self.sock),
                      "the disk is not served after a platform rotation: its cache's dirty "
                      "data cannot be unwrapped")
        self.assertEqual(self.connect("vm1/data").pread(len(data), 0), data)

    def test_platform_rotation_finds_caches_in_another_directory(self):
        elsewhere = os.path.join(self.root, "elsewhere")  # made by the daemon
        self.start_daemon("--cache-dir", elsewhere)
        h = self.cached_disk("read-write", set_name="p")
        held = self.hold_write_back()
        data = pattern(1 * MiB, 28)
        write_in_chunks(h, data, 0)
        self.wait_until_held_dirty(len(data))
        self.stop_daemon()
        self.release_write_back(held)
        self.assertTrue(os.path.exists(self.cache_file(directory=elsewhere)))
        self.run_cli("platform", "rotate")  # offline, without --cache-dir
        self.start_daemon("--cache-dir", elsewhere)
        self.assertIn("vm1/data", list_exports(self.sock))
        self.assertEqual(self.connect("vm1/data").pread(len(data), 0), data)

    def test_platform_rotation_while_revoked_keeps_dirty_cached_data(self):
        # Revoked, the daemon has no cache keys in memory to re-wrap: the
        # old platform key version must outlive the rotation.
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "1s")
        h = self.cached_disk("read-write", set_name="d")
        held = self.hold_write_back()
        data = pattern(1 * MiB, 27)
        write_in_chunks(h, data, 0)
        self.wait_until_held_dirty(len(data))
        self.run_cli("vault", "key", "disable", "app-key")
        self.wait_for_key_state("data", "revoked", timeout=15 * TIME_SCALE)
        self.release_write_back(held)  # the disk's header can be re-wrapped
        self.run_cli("platform", "rotate")
        self.run_cli("vault", "key", "enable", "app-key")
        self.wait_for_key_state("data", "serving", timeout=15 * TIME_SCALE)
        self.assertEqual(h.pread(len(data), 0), data)


class CachePlaintext(CacheTest):
    """A marker written through the export is never in the cache file, as
    read-write keeps it dirty, as read-only fills with it, or after the
    index is written at a clean close; nor in the disk's backing file."""

    def write_marker(self, h, length=1 * MiB):
        block = marked_block()
        for offset in range(0, length, len(block)):
            h.pwrite(block, offset)
        self.assertEqual(h.pread(len(block), 0), block)  # the control: it is there

    def test_read_write_cache_holds_no_plaintext(self):
        h = self.cached_disk("read-write", set_name="d")
        self.write_marker(h)
        self.assertGreater(self.cache_status()["used_bytes"], 0)
        self.assertNoMarker(self.cache_file())
        h.flush()
        self.assertNoMarker(self.backing_path("data"))
        self.stop_daemon()  # writes the index
        self.assertNoMarker(self.cache_file())

    def test_read_only_cache_holds_no_plaintext(self):
        self.make_disk("data", "c", 16 * MiB)
        self.start_daemon()
        h = self.connect("data")
        self.write_marker(h)
        h.flush()
        self.disconnect(h)
        self.create_instance()
        self.attach("data", "read-only", "8M")
        h = self.connect("vm1/data")
        self.assertEqual(h.pread(1 * MiB, 0)[:len(MARKER)], MARKER)  # fills the cache
        self.assertGreaterEqual(self.cache_status()["used_bytes"], 1 * MiB)
        self.assertNoMarker(self.cache_file())
        self.stop_daemon()
        self.assertNoMarker(self.cache_file())
        self.assertNoMarker(self.backing_path("data"))


class CacheCorruptIndex(CacheTest):
    """A cache closed cleanly whose index no longer matches its checksum:
    with no dirty sectors recorded it is discarded (a log line) and the disk
    serves correct data; with dirty sectors recorded the disk is not served,
    and status and the log say why; the cache file is kept."""

    def close_with_cached_sectors(self, mode):
        """Data through a cache of `mode`, read back so it is cached; the
        daemon stopped cleanly. Returns the data and the cache's header."""
        h = self.cached_disk(mode)
        data = pattern(1 * MiB, 16)
        if mode == "read-only":
            h.pwrite(data, 0)
            self.assertEqual(h.pread(len(data), 0), data)  # fills the cache
            self.stop_daemon()
        else:
            held = self.hold_write_back()
            write_in_chunks(h, data, 0)  # dirty, and stays so
            self.wait_until_held_dirty(len(data))
            self.stop_daemon()
            self.release_write_back(held)
        header = read_header(self.cache_file())
        self.assertTrue(header["cache"]["clean"], header)
        return data, header

    def damage_index(self, header):
        index = read_index(self.cache_file(), header)
        self.assertGreaterEqual(len(index), 2, "nothing cached to damage")
        first, second = sorted(index)[:2]
        swap_index_entries(self.cache_file(), header, first, second)
        self.assertNotEqual(read_index(self.cache_file(), header), index)

    def test_damaged_index_without_dirty_data_is_discarded(self):
        data, header = self.close_with_cached_sectors("read-only")
        self.assertEqual(header["cache"]["dirty_sectors"], 0)
        self.damage_index(header)
        daemon = self.start_daemon()
        daemon.wait_for_line(r"(?i)cache.*index.*discarded", what="the index discarded")
        self.assertIn("vm1/data", list_exports(self.sock))
        self.assertEqual(self.cache_status()["used_bytes"], 0)
        h = self.connect("vm1/data")
        self.assertEqual(h.pread(len(data), 0), data)
        self.assertEqual(self.cache_status()["hits"], 0)
        self.assertEqual(h.pread(len(data), 0), data)  # now from the cache it refilled

    def test_damaged_index_with_dirty_data_keeps_the_disk_unserved(self):
        data, header = self.close_with_cached_sectors("read-write")
        self.assertGreater(header["cache"]["dirty_sectors"], 0, header)
        self.damage_index(header)
        daemon = self.start_daemon()
        line = daemon.wait_for_line(r"not (yet )?written", what="why the disk is not served")
        self.assertIn("data", line)
        self.assertNotIn("vm1/data", list_exports(self.sock))
        with self.assertRaises(nbd.Error):
            self.connect("vm1/data")
        status = self.disk_status()
        self.assertFalse(status["served"], status)
        self.assertRegex(json.dumps(status), r"not (yet )?written", status)
        self.assertTrue(os.path.exists(self.cache_file()), "the dirty cache was thrown away")
        self.assertIn("vm1/temp", list_exports(self.sock))  # the rest is served


class CacheTiers(CacheTest):
    """`instance show` lists the cache as a tier of its own, beside the
    persisted disk and the temp disk, each with its own DEK ids, the cache's
    wrapped by the same kind of key as its disk."""

    def test_three_tiers_three_keys(self):
        self.cached_disk("read-write", set_name="c")
        tiers = self.tiers()
        self.assertEqual(sorted(tiers), ["cache data", "persisted data", "temp"], tiers)
        persisted, cache, temp = tiers["persisted data"], tiers["cache data"], tiers["temp"]
        for tier in (persisted, cache, temp):
            self.assertTrue(tier["served"], tier)
            self.assertEqual(len(tier["layers"]), 1, tier)
        ids = [t["layers"][0]["dek_id"] for t in (persisted, cache, temp)]
        for dek_id in ids:
            self.assertRegex(dek_id or "", r"^[0-9a-f]{16}$", tiers)
        self.assertEqual(len(set(ids)), 3, f"DEK ids not distinct: {ids}")
        self.assertEqual(cache["layers"][0]["wrapped_by"]["provider"], "vault:local")
        self.assertEqual(cache["layers"][0]["wrapped_by"]["name"], "app-key")
        self.assertEqual(temp["layers"][0]["wrapped_by"]["provider"], "platform")
        shown = self.run_cli("instance", "show", "vm1").stdout
        self.assertIn(cache["layers"][0]["dek_id"], shown)

    def test_a_double_disks_cache_has_two_layers_of_its_own(self):
        self.cached_disk("read-only", set_name="d")
        tiers = self.tiers()
        persisted, cache = tiers["persisted data"], tiers["cache data"]
        self.assertEqual([l["wrapped_by"]["provider"] for l in cache["layers"]],
                         ["vault:local", "platform"])
        ids = [l["dek_id"] for t in (persisted, cache, tiers["temp"]) for l in t["layers"]]
        self.assertEqual(len(set(ids)), 5, f"DEK ids not distinct: {ids}")
        header = read_header(self.cache_file())
        disk_header = read_header(self.backing_path("data"))
        self.assertEqual(len(header["layers"]), 2)
        for own, disks in zip(header["layers"], disk_header["layers"]):
            self.assertNotEqual(own["wrapped_dek"], disks["wrapped_dek"])
            self.assertEqual(own["kek"]["provider"], disks["kek"]["provider"])


class CacheStatus(CacheTest):
    """`status` shows each cache's counters: misses when a read fills it,
    hits when a read finds it; a disk without a cache shows none."""

    def test_hits_and_misses_move_with_reads(self):
        self.make_disk("plain", "p", 8 * MiB)
        h = self.cached_disk("read-only")
        data = pattern(1 * MiB, 17)
        h.pwrite(data, 2 * MiB)
        h.flush()
        start = self.cache_status()
        self.assertEqual(start["dirty_bytes"], 0)
        self.assertEqual(h.pread(len(data), 2 * MiB), data)
        first = self.cache_status()
        self.assertGreater(first["misses"], start["misses"], (start, first))
        self.assertEqual(first["hits"], start["hits"], (start, first))
        self.assertGreaterEqual(first["used_bytes"], len(data), first)
        self.assertEqual(h.pread(len(data), 2 * MiB), data)
        second = self.cache_status()
        self.assertGreater(second["hits"], first["hits"], (first, second))
        self.assertEqual(second["misses"], first["misses"], (first, second))
        self.assertIsNone(self.disk_status("plain").get("cache"))
        text = self.run_cli("status").stdout
        self.assertIn("host caches", text)
        self.assertRegex(text, r"(?m)^data +read-only +8 MiB ")
        self.assertNotRegex(text, r"(?m)^plain +read-")
