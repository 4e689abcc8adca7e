"""Malformed NBD input over a raw socket (the protocol spoken by hand): each
time the daemon logs a line, closes that connection, and keeps serving a
connection that was open before the attack and a new one, data intact.
Requests that are merely wrong (an unknown command or option) get the
spec's error and the connection goes on.
"""
import errno
import os
import re
import struct

import nbd

from harness import (CMD_READ, CMD_WRITE, IHAVEOPT, INFO_EXPORT, OPT_GO, OPT_INFO, REP_ACK,
                     REP_INFO, REQUEST_MAGIC, SIMPLE_REPLY_MAGIC, KiB, MiB, IntegrationTest,
                     pattern)

DISK = "victim"
DISK_SIZE = 16 * MiB

# A line about a protocol violation or a lost client; the daemon's wording
# is its own, so this only insists that it said something of the kind.
COMPLAINT = re.compile(
    r"(?i)magic|malformed|invalid|protocol|bad|unexpected|unknown|too (large|big|long)|"
    r"exceed|oversize|garbage|short|eof|end of (file|stream)|truncat|reset|vanish|"
    r"disconnect|hang|clos|error|refus|abort|drop")

NBD_REP_ERR_UNSUP = 0x80000001


class Malformed(IntegrationTest):
    def setUp(self):
        super().setUp()
        self.make_set("p", "platform")
        self.make_disk(DISK, "p", DISK_SIZE, 4096)
        self.start_daemon()
        # a well-behaved connection, open before the attack, with data
        self.bystander = self.connect(DISK)
        self.before = pattern(64 * KiB, 1)
        self.bystander.pwrite(self.before, 0, nbd.CMD_FLAG_FUA)
        # and a client that is slow in its handshake: it must not block anyone
        self.slow = self.raw()
        self.slow.greeting()
        self.slow_negotiating = False

    def survive(self, attack, complaint=COMPLAINT):
        """Runs `attack(raw)` on a fresh raw connection; then checks the log
        line, the daemon, the bystander and a new connection."""
        mark = self.daemon.mark()
        attack(self.raw())
        # (paths are left out: a random temporary name might hold a word)
        self.daemon.wait_for_line(lambda line: complaint.search(line.replace(self.root, "")),
                                  since=mark, what="a line about the bad client")
        self.assertTrue(self.daemon.alive())
        # the connection open before still works, its data intact
        self.assertEqual(self.bystander.pread(len(self.before), 0), self.before)
        after = pattern(32 * KiB, 2)
        self.bystander.pwrite(after, 1 * MiB)
        # and so does a new one, libnbd and by hand
        fresh = self.connect(DISK)
        self.assertEqual(fresh.pread(len(self.before), 0), self.before)
        self.assertEqual(fresh.pread(len(after), 1 * MiB), after)
        raw = self.raw()
        size, _ = raw.go(DISK)
        self.assertEqual(size, DISK_SIZE)
        self.assertEqual(raw.read(0, 4096), (0, self.before[:4096]))
        raw.disconnect()
        # the slow client is still connected and may still negotiate
        if not self.slow_negotiating:
            self.slow.client_flags()
            self.slow_negotiating = True
        name = DISK.encode()
        self.slow.option(OPT_INFO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        size = None
        while True:
            option, reply_type, data = self.slow.option_reply()
            self.assertEqual(option, OPT_INFO)
            if reply_type != REP_INFO:
                self.assertEqual(reply_type, REP_ACK)
                break
            if struct.unpack(">H", data[:2])[0] == INFO_EXPORT:
                size = struct.unpack(">Q", data[2:10])[0]
        self.assertEqual(size, DISK_SIZE)

    def assertClosed(self, raw, sent_reply_handle=None):
        received = raw.wait_closed()
        self.assertIsNotNone(received, "the daemon kept the connection open")
        if received and sent_reply_handle is not None:
            # an error reply before closing is allowed; it must be well formed
            magic, error, handle = struct.unpack(">IIQ", received[:16])
            self.assertEqual((magic, handle), (SIMPLE_REPLY_MAGIC, sent_reply_handle))
            self.assertNotEqual(error, 0)
        return received

    def test_wrong_magic_after_the_handshake(self):
        def attack(raw):
            raw.go(DISK)
            self.assertEqual(raw.read(0, 4096), (0, self.before[:4096]))
            raw.send(struct.pack(">IHHQQI", 0xDEADBEEF, 0, CMD_READ, 2, 0, 4096))
            self.assertClosed(raw)
        self.survive(attack)

    def test_garbage_during_the_handshake(self):
        def http_instead_of_nbd(raw):
            raw.greeting()
            raw.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            self.assertClosed(raw)

        def garbage_instead_of_an_option(raw):
            raw.greeting()
            raw.client_flags()
            raw.send(b"NOTMAGIC" + os.urandom(200))
            self.assertClosed(raw)

        self.survive(http_instead_of_nbd)
        self.survive(garbage_instead_of_an_option)

    def test_oversized_option_length(self):
        def attack(raw):
            raw.greeting()
            raw.client_flags()
            raw.send(struct.pack(">QII", IHAVEOPT, OPT_GO, 0xFFFFFFF0) + b"\0\0\0\x06victim")
            received = raw.wait_closed()
            self.assertIsNotNone(received, "the daemon waits for a 4 GiB option")
        self.survive(attack)

    def test_oversized_write_request(self):
        def attack(raw):
            raw.go(DISK)
            raw.request(CMD_WRITE, 0, 0xFFFFFFFF, handle=77, payload=b"\xee" * (64 * KiB))
            self.assertClosed(raw, sent_reply_handle=77)
        self.survive(attack)
        # nothing of the oversized payload reached the disk
        self.assertEqual(self.bystander.pread(len(self.before), 0), self.before)

    def test_client_vanishes_mid_write_payload(self):
        def attack(raw):
            raw.go(DISK)
            raw.request(CMD_WRITE, 4 * MiB, 1 * MiB, handle=5, payload=b"\xcc" * (300 * KiB))
            raw.close()
        self.survive(attack)

    def test_client_vanishes_mid_request_header(self):
        def attack(raw):
            raw.go(DISK)
            raw.send(struct.pack(">IHH", REQUEST_MAGIC, 0, CMD_WRITE) + b"\0\0\0")
            raw.close()
        self.survive(attack)

    def test_wrong_requests_get_errors_and_the_connection_goes_on(self):
        raw = self.raw()
        raw.greeting()
        raw.client_flags()
        raw.option(0x4242, b"whatever")  # unknown option: NBD_REP_ERR_UNSUP
        option, reply_type, _ = raw.option_reply()
        self.assertEqual((option, reply_type), (0x4242, NBD_REP_ERR_UNSUP))
        name = DISK.encode()
        raw.option(OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        while True:
            option, reply_type, _ = raw.option_reply()
            self.assertEqual(option, OPT_GO)
            self.assertFalse(reply_type & 0x80000000, hex(reply_type))
            if reply_type == REP_ACK:
                break
        raw.request(77, handle=3)  # unknown command
        self.assertEqual(raw.simple_reply()[:2], (errno.EINVAL, 3))
        raw.request(CMD_READ, 0, 512, flags=0x8000, handle=4)  # unknown flag
        self.assertEqual(raw.simple_reply()[:2], (errno.EINVAL, 4))
        self.assertEqual(raw.read(0, 4096), (0, self.before[:4096]))
        raw.disconnect()
