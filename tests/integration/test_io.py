"""hostcryptd's data path through libnbd (python3-libnbd): round trips for
every encryption type and sector size, unaligned I/O against a model,
concurrent read-modify-writes from several connections, FLUSH and FUA, TRIM,
WRITE_ZEROES and CACHE, out-of-range requests and read-only exports.
"""
import errno
import random
import threading

import nbd

from harness import (MAXIMUM_BLOCK, PREFERRED_BLOCK, DISK_IO, KiB, MiB, IntegrationTest,
                     pattern, run_aio)

DISK_SIZE = 64 * MiB
TYPES = ("platform", "customer", "double")
SET_OF_TYPE = {"platform": "p", "customer": "c", "double": "d"}


class DataTest(IntegrationTest):
    def make_disks(self, types=TYPES, sector_sizes=(512, 4096), size=DISK_SIZE):
        """One disk per (type, sector size), named like `double-4096`."""
        self.make_sets()
        names = []
        for set_type in types:
            for sector_size in sector_sizes:
                names.append(self.make_disk(f"{set_type}-{sector_size}", SET_OF_TYPE[set_type],
                                            size, sector_size))
        return names


class RoundTrip(DataTest):
    """Every encryption type at both sector sizes: what is written reads back,
    from the daemon, after a restart and (where disk_io is built) offline
    through the library, so the daemon writes the documented format."""

    def test_every_type_and_sector_size_round_trips(self):
        disks = self.make_disks()
        self.start_daemon()
        rng = random.Random(1)
        writes = {}  # disk -> [(offset, data)]
        for disk in disks:
            sector = int(disk.rsplit("-", 1)[1])
            h = self.connect(disk)
            self.assertEqual(h.get_size(), DISK_SIZE, disk)
            self.assertEqual(
                (h.get_block_size(nbd.SIZE_MINIMUM), h.get_block_size(nbd.SIZE_PREFERRED),
                 h.get_block_size(nbd.SIZE_MAXIMUM)), (sector, PREFERRED_BLOCK, MAXIMUM_BLOCK),
                disk)
            self.assertEqual(
                {name: getattr(h, name)() for name in (
                    "is_read_only", "can_flush", "can_fua", "can_trim", "can_zero",
                    "can_fast_zero", "can_cache", "can_multi_conn")},
                {"is_read_only": False, "can_flush": True, "can_fua": True, "can_trim": True,
                 "can_zero": True, "can_fast_zero": True, "can_cache": True,
                 "can_multi_conn": True}, disk)
            self.assertTrue(h.get_structured_replies_negotiated(), disk)
            writes[disk] = [
                (0, rng.randbytes(1 * MiB)),                        # the first sectors
                (3 * sector, rng.randbytes(sector)),                # one sector, overwrites
                (5 * MiB + 7 * sector, rng.randbytes(37 * sector)),
                (16 * MiB, rng.randbytes(MAXIMUM_BLOCK)),           # the largest request
                (DISK_SIZE - 64 * KiB, rng.randbytes(64 * KiB)),   # up to the very end
            ]
            for offset, data in writes[disk]:
                h.pwrite(data, offset)
            h.flush()

        def check(disk, h):
            expected = bytearray(8 * MiB)  # the first 8 MiB, with the overwrite applied
            for offset, data in writes[disk][:3]:
                expected[offset:offset + len(data)] = data
            self.assertEqual(h.pread(len(expected), 0), expected, disk)
            for offset, data in writes[disk][3:]:
                self.assertEqual(h.pread(len(data), offset), data, f"{disk} at {offset}")
            # never written: reads as zeroes
            self.assertEqual(h.pread(1 * MiB, 12 * MiB), bytes(1 * MiB), disk)
            self.assertEqual(h.pread(4096, DISK_SIZE - 128 * KiB), bytes(4096), disk)

        for disk in disks:
            check(disk, self.connect(disk))  # a second connection sees the first's writes
        self.restart_daemon()
        for disk in disks:
            check(disk, self.connect(disk))
        if DISK_IO:
            self.stop_daemon()
            for disk in disks:
                offset, data = writes[disk][2]
                self.assertEqual(self.read_offline(disk, offset, len(data)), data, disk)


class Unaligned(DataTest):
    """Reads, writes and zeroes at odd offsets and lengths, across sector
    boundaries, checked against a Python model of the disk. libnbd is told
    to send requests below the advertised minimum block size; the daemon
    serves them by read-modify-write."""

    def run_model(self, disk, seed, operations=400):
        rng = random.Random(seed)
        sector = int(disk.rsplit("-", 1)[1])
        h = self.connect(disk, unaligned=True)
        model = bytearray(DISK_SIZE)
        # Two windows keep operations dense enough to share sectors.
        windows = [(0, 1 * MiB), (DISK_SIZE - 256 * KiB, DISK_SIZE)]
        log = []

        def span(max_length):
            start, end = rng.choice(windows)
            length = rng.randint(1, max_length)
            offset = rng.randint(start, end - length)
            return offset, length

        for step in range(operations):
            choice = rng.random()
            if choice < 0.45:
                offset, length = span(3 * sector + 1000)
                data = rng.randbytes(length)
                flags = nbd.CMD_FLAG_FUA if rng.random() < 0.1 else 0
                h.pwrite(data, offset, flags)
                model[offset:offset + length] = data
                log.append(("write", offset, length, flags))
            elif choice < 0.55:
                offset, length = span(3 * sector + 1000)
                flags = nbd.CMD_FLAG_NO_HOLE if rng.random() < 0.5 else 0
                h.zero(length, offset, flags)
                model[offset:offset + length] = bytes(length)
                log.append(("zero", offset, length, flags))
            elif choice < 0.6:
                # TRIM is only defined to read back as zeroes on whole sectors.
                start, end = rng.choice(windows)
                count = rng.randint(1, 4)
                offset = rng.randrange(start, end - count * sector, sector)
                h.trim(count * sector, offset)
                model[offset:offset + count * sector] = bytes(count * sector)
                log.append(("trim", offset, count * sector, 0))
            else:
                offset, length = span(4 * sector + 1000)
                got = h.pread(length, offset)
                if got != model[offset:offset + length]:
                    first = next(i for i in range(length) if got[i] != model[offset + i])
                    self.fail(f"{disk} seed {seed} step {step}: read of {length} at {offset} "
                              f"differs from byte {offset + first} on; last operations: "
                              f"{log[-8:]}")
                log.append(("read", offset, length, 0))
        for start, end in windows:
            self.assertEqual(h.pread(end - start, start), model[start:end],
                             f"{disk} seed {seed}: window {start}..{end} after {operations} "
                             "operations")
        return h

    def test_unaligned_io_matches_a_model_at_both_sector_sizes(self):
        disks = self.make_disks(types=("platform", "double"))
        self.start_daemon()
        for seed, disk in enumerate(disks):
            self.run_model(disk, seed)

    def test_writes_of_single_bytes_around_sector_boundaries(self):
        disks = self.make_disks(types=("customer",))
        self.start_daemon()
        for disk in disks:
            sector = int(disk.rsplit("-", 1)[1])
            h = self.connect(disk, unaligned=True)
            background = pattern(4 * sector, 7)
            h.pwrite(background, 0)
            expected = bytearray(background)
            for offset in (0, 1, sector - 1, sector, sector + 1, 2 * sector - 1, 3 * sector + 5,
                           4 * sector - 1):
                h.pwrite(b"\xa5", offset)
                expected[offset] = 0xA5
            self.assertEqual(h.pread(4 * sector, 0), expected, disk)
            # one read that starts and ends mid-sector
            self.assertEqual(h.pread(2 * sector + 2, sector - 1),
                             expected[sector - 1:3 * sector + 1], disk)


class Concurrent(DataTest):
    """Several connections (on several reactors) write byte ranges that do not
    overlap but share sectors, many requests in flight on each: every byte
    ends up as written, and bytes around them are kept. A read-modify-write
    that is not serialized per sector loses some of them."""

    CONNECTIONS = 4

    def hammer(self, disk, base, length, max_piece, seed):
        rng = random.Random(seed)
        background = pattern(length + 16 * KiB, seed + 1000)
        setup = self.connect(disk, unaligned=True)
        setup.pwrite(background, base - 8 * KiB)
        expected = bytearray(background)
        pieces = []
        position = base
        while position < base + length:
            size = min(rng.randint(1, max_piece), base + length - position)
            data = rng.randbytes(size)
            pieces.append((position, data))
            expected[position - base + 8 * KiB:position - base + 8 * KiB + size] = data
            position += size
        per_connection = [pieces[i::self.CONNECTIONS] for i in range(self.CONNECTIONS)]
        for requests in per_connection:
            rng.shuffle(requests)
        handles = [self.connect(disk, unaligned=True) for _ in range(self.CONNECTIONS)]
        failures = []

        def writer(h, requests):
            try:
                for (kind, offset, _, _), err in run_aio(
                        h, [("write", offset, data, 0) for offset, data in requests], depth=32):
                    if err:
                        failures.append(f"write at {offset} failed: {errno.errorcode.get(err)}")
            except Exception as e:  # reported below, not lost in the thread
                failures.append(repr(e))

        threads = [threading.Thread(target=writer, args=(h, requests))
                   for h, requests in zip(handles, per_connection)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "writers did not finish")
        self.assertEqual(failures, [])
        reader = self.connect(disk, unaligned=True)
        got = reader.pread(len(expected), base - 8 * KiB)
        if got != expected:
            wrong = [i for i in range(len(expected)) if got[i] != expected[i]]
            self.fail(f"{disk} seed {seed}: {len(wrong)} bytes differ, first at "
                      f"{base - 8 * KiB + wrong[0]}, last at {base - 8 * KiB + wrong[-1]} "
                      f"({len(pieces)} pieces of up to {max_piece} bytes)")

    def test_overlapping_unaligned_writes_from_several_connections(self):
        disks = self.make_disks(types=("platform", "double"))
        self.start_daemon("--reactors", "2")
        for seed, disk in enumerate(disks):
            sector = int(disk.rsplit("-", 1)[1])
            # a region of many sectors, pieces up to about a sector
            self.hammer(disk, 3 * 4096 + 100, 192 * KiB, sector + 300, seed)
            # two sectors, pieces of a few bytes: every request shares a sector
            self.hammer(disk, 1 * MiB + sector - 3, 2 * sector, 16, seed + 100)


class FlushFua(DataTest):
    """FLUSH and FUA are offered, succeed, and make writes visible to other
    connections (CAN_MULTI_CONN); flushed and FUA writes survive SIGKILL."""

    def test_flush_and_fua_across_connections(self):
        disks = self.make_disks(types=("customer",))
        self.start_daemon()
        for disk in disks:
            a, b = self.connect(disk), self.connect(disk)
            for h in (a, b):
                self.assertTrue(h.can_flush() and h.can_fua() and h.can_multi_conn(), disk)
            data = pattern(256 * KiB, 1)
            a.pwrite(data, 1 * MiB, nbd.CMD_FLAG_FUA)
            self.assertEqual(b.pread(len(data), 1 * MiB), data, disk)
            more = pattern(128 * KiB, 2)
            a.pwrite(more, 2 * MiB)
            a.flush()
            b.flush()
            self.assertEqual(b.pread(len(more), 2 * MiB), more, disk)
            a.zero(64 * KiB, 1 * MiB, nbd.CMD_FLAG_FUA)
            self.assertEqual(b.pread(64 * KiB, 1 * MiB), bytes(64 * KiB), disk)

    def test_flushed_and_fua_writes_survive_sigkill(self):
        disks = self.make_disks(types=("double",))
        self.start_daemon()
        expected = {}
        for disk in disks:
            h = self.connect(disk)
            fua = pattern(512 * KiB, 3)
            h.pwrite(fua, 0, nbd.CMD_FLAG_FUA)
            flushed = pattern(1 * MiB, 4)
            results = run_aio(h, [("write", 4 * MiB + i * 64 * KiB, flushed[i * 64 * KiB:(i + 1)
                                                                           * 64 * KiB], 0)
                                  for i in range(16)])
            self.assertEqual([err for _, err in results], [0] * 16)
            h.flush()
            expected[disk] = [(0, fua), (4 * MiB, flushed)]
        self.daemon.kill()
        self.start_daemon()
        for disk in disks:
            h = self.connect(disk)
            for offset, data in expected[disk]:
                self.assertEqual(h.pread(len(data), offset), data, f"{disk} at {offset}")


class TrimZero(DataTest):
    """TRIM and WRITE_ZEROES (with and without NO_HOLE, aligned and not) read
    back as zeroes and leave their neighbours alone; FAST_ZERO succeeds or
    fails with ENOTSUP without changing data; CACHE succeeds; requests
    without payload beyond the maximum block size are served or refused
    without a disconnect, and a whole-disk TRIM is served."""

    def setUp(self):
        super().setUp()
        self.disks = self.make_disks(types=("platform", "double"))
        self.start_daemon()

    def filled(self, disk, length=1 * MiB, seed=5):
        h = self.connect(disk, unaligned=True)
        data = bytearray(pattern(length, seed))
        h.pwrite(data, 0)
        return h, data

    def test_trim_reads_back_as_zeroes(self):
        for disk in self.disks:
            sector = int(disk.rsplit("-", 1)[1])
            h, expected = self.filled(disk)
            self.assertTrue(h.can_trim(), disk)
            h.trim(8 * sector, 4 * sector)
            expected[4 * sector:12 * sector] = bytes(8 * sector)
            h.trim(64 * KiB, 512 * KiB, nbd.CMD_FLAG_FUA)
            expected[512 * KiB:576 * KiB] = bytes(64 * KiB)
            self.assertEqual(h.pread(len(expected), 0), expected, disk)
            # An unaligned trim may leave its partial sectors as they were,
            # but must not touch anything outside its range.
            h.trim(3 * sector, 20 * sector + 7)
            got = h.pread(len(expected), 0)
            self.assertEqual(got[:20 * sector + 7], expected[:20 * sector + 7], disk)
            self.assertEqual(got[23 * sector + 7:], expected[23 * sector + 7:], disk)
            # a trimmed range written again holds the new data
            again = pattern(8 * sector, 6)
            h.pwrite(again, 4 * sector)
            self.assertEqual(h.pread(8 * sector, 4 * sector), again, disk)

    def test_write_zeroes_with_and_without_no_hole(self):
        for disk in self.disks:
            sector = int(disk.rsplit("-", 1)[1])
            h, expected = self.filled(disk)
            self.assertTrue(h.can_zero(), disk)
            for offset, length, flags in (
                    (2 * sector, 4 * sector, 0),
                    (8 * sector, 4 * sector, nbd.CMD_FLAG_NO_HOLE),
                    (16 * sector + 3, 2 * sector + 10, 0),               # unaligned
                    (24 * sector + 100, 5, nbd.CMD_FLAG_NO_HOLE),        # inside one sector
                    (32 * sector - 1, 2, nbd.CMD_FLAG_FUA),               # across a boundary
                    (256 * KiB, 256 * KiB, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)):
                h.zero(length, offset, flags)
                expected[offset:offset + length] = bytes(length)
                self.assertEqual(h.pread(len(expected), 0), expected,
                                 f"{disk}: zero {length} at {offset} flags {flags}")

    def test_fast_zero_succeeds_or_fails_with_enotsup(self):
        for disk in self.disks:
            sector = int(disk.rsplit("-", 1)[1])
            h, expected = self.filled(disk)
            self.assertTrue(h.can_fast_zero(), disk)
            for offset, length, flags in (
                    (4 * sector, 16 * sector, nbd.CMD_FLAG_FAST_ZERO),
                    (64 * sector, 16 * sector, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE),
                    (128 * sector + 1, 100, nbd.CMD_FLAG_FAST_ZERO)):
                try:
                    h.zero(length, offset, flags)
                    expected[offset:offset + length] = bytes(length)
                except nbd.Error as e:
                    self.assertEqual(e.errnum, errno.ENOTSUP,
                                     f"{disk}: FAST_ZERO may fail only with ENOTSUP: {e}")
                self.assertEqual(h.pread(len(expected), 0), expected,
                                 f"{disk}: fast zero {length} at {offset} flags {flags}")

    def test_requests_without_payload_beyond_the_maximum_block_size(self):
        # The spec lets a client TRIM, WRITE_ZEROES or CACHE more than the
        # maximum block size; the server should not disconnect, and may refuse
        # with EINVAL or EOVERFLOW only what would cost it more than a maximum
        # block. A whole-disk TRIM (mkfs, blkdiscard) must simply work.
        for disk in self.disks:
            h, expected = self.filled(disk, length=4 * MiB)
            h.set_strict_mode(0)
            tail = pattern(64 * KiB, 12)
            h.pwrite(tail, DISK_SIZE - len(tail))
            for name, call in (("cache", lambda: h.cache(DISK_SIZE, 0)),
                               ("zero", lambda: h.zero(48 * MiB, 0)),
                               ("fast zero", lambda: h.zero(48 * MiB, 0, nbd.CMD_FLAG_FAST_ZERO))):
                try:
                    call()
                    if name != "cache":
                        expected = bytearray(len(expected))
                except nbd.Error as e:
                    allowed = {errno.EINVAL, errno.EOVERFLOW}
                    if name == "fast zero":
                        allowed.add(errno.ENOTSUP)
                    self.assertIn(e.errnum, allowed, f"{disk}: oversized {name}: {e}")
                self.assertEqual(h.pread(len(expected), 0), expected, f"{disk} after {name}")
                self.assertEqual(h.pread(len(tail), DISK_SIZE - len(tail)), tail, disk)
            h.trim(DISK_SIZE, 0)
            for offset in (0, 16 * MiB, 40 * MiB, DISK_SIZE - 4 * MiB):
                self.assertEqual(h.pread(4 * MiB, offset), bytes(4 * MiB),
                                 f"{disk} at {offset} after a whole-disk trim")

    def test_cache_succeeds_and_changes_nothing(self):
        for disk in self.disks:
            h, expected = self.filled(disk)
            self.assertTrue(h.can_cache(), disk)
            h.cache(len(expected), 0)
            h.cache(4 * MiB, DISK_SIZE - 4 * MiB)
            h.cache(MAXIMUM_BLOCK, 0)
            self.assertEqual(h.pread(len(expected), 0), expected, disk)


class OutOfRange(DataTest):
    """Requests beyond the end of the export get the spec's errors (EINVAL for
    read, trim and cache; ENOSPC for write and write-zeroes), change nothing,
    and the same connection serves the next request."""

    def test_out_of_range_requests(self):
        disks = self.make_disks(types=("platform",))
        self.start_daemon()
        for disk in disks:
            sector = int(disk.rsplit("-", 1)[1])
            h = self.connect(disk, strict=0)  # libnbd sends what it would refuse
            tail = pattern(8 * sector, 8)
            h.pwrite(tail, DISK_SIZE - len(tail))
            wrap = (1 << 64) - 4096  # offset + length wraps around 2^64
            cases = [
                (errno.EINVAL, h.pread, (sector, DISK_SIZE)),
                (errno.EINVAL, h.pread, (2 * sector, DISK_SIZE - sector)),
                (errno.EINVAL, h.pread, (1, DISK_SIZE)),
                (errno.EINVAL, h.pread, (2 * 4096, wrap)),
                (errno.EINVAL, h.pread, (4096, 1 << 62)),
                (errno.ENOSPC, h.pwrite, (bytes(sector), DISK_SIZE)),
                (errno.ENOSPC, h.pwrite, (b"\xff" * (2 * sector), DISK_SIZE - sector)),
                (errno.ENOSPC, h.pwrite, (b"\xff" * 8192, wrap)),
                (errno.EINVAL, h.trim, (2 * sector, DISK_SIZE - sector)),
                (errno.EINVAL, h.trim, (sector, DISK_SIZE)),
                (errno.ENOSPC, h.zero, (2 * sector, DISK_SIZE - sector)),
                (errno.ENOSPC, h.zero, (sector, DISK_SIZE, nbd.CMD_FLAG_NO_HOLE)),
                (errno.ENOSPC, h.zero, (8192, wrap)),
                (errno.EINVAL, h.cache, (2 * sector, DISK_SIZE - sector)),
            ]
            for expected_errno, call, args in cases:
                self.assertNbdError(expected_errno, call, *args)
                # the connection goes on, and nothing in range was changed
                self.assertEqual(h.pread(len(tail), DISK_SIZE - len(tail)), tail,
                                 f"{disk} after {call.__name__}{args[1:]}")
            self.assertTrue(self.daemon.alive())
            # and a request that ends exactly at the end still works
            h.pwrite(b"\x5a" * sector, DISK_SIZE - sector)
            self.assertEqual(h.pread(sector, DISK_SIZE - sector), b"\x5a" * sector)


class ReadOnly(DataTest):
    """A read-only export answers writes, trims and write-zeroes with EPERM
    and still serves reads."""

    def read_only_flag(self):
        import subprocess
        from harness import HOSTCRYPTD
        help_text = subprocess.run([HOSTCRYPTD, "--help"], capture_output=True, text=True,
                                   timeout=30).stdout
        for flag in ("--read-only", "--readonly"):
            if flag in help_text:
                return flag
        return None

    def test_writes_to_a_read_only_export_get_eperm(self):
        flag = self.read_only_flag()
        if flag is None:
            self.skipTest("hostcryptd offers no read-only export yet: no --read-only flag "
                          "in `hostcryptd --help` and no such disk or config setting")
        disks = self.make_disks(types=("platform",), sector_sizes=(4096,))
        self.start_daemon()
        h = self.connect(disks[0])
        data = pattern(64 * KiB, 9)
        h.pwrite(data, 0, nbd.CMD_FLAG_FUA)
        self.restart_daemon(flag)
        h = self.connect(disks[0], strict=0)
        self.assertTrue(h.is_read_only())
        self.assertNbdError(errno.EPERM, h.pwrite, b"x" * 4096, 0)
        self.assertNbdError(errno.EPERM, h.trim, 4096, 0)
        self.assertNbdError(errno.EPERM, h.zero, 4096, 0)
        self.assertEqual(h.pread(len(data), 0), data)
