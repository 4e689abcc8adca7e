"""Shared harness of the integration tests: the real hostcryptd on a temporary
state directory and unix socket, driven by real NBD clients.

- State directories are set up with the real `hostcrypt` command line, as an
  operator would (vault keys, encryption sets, disks).
- `Daemon` starts hostcryptd with an empty config file (nothing is read from
  /etc), waits for its `hostcryptd: ready` line within a time limit, collects
  every stderr line, and is always stopped when the test ends (even when
  setUp fails): SIGTERM, then SIGKILL if it does not exit in time. A daemon
  that does not exit 0 on SIGTERM fails the test (this is also how sanitizer
  reports of the ASan build surface). When a test fails, every daemon's log
  is printed. A watchdog kills the daemons of a test that hangs, so the
  blocked client call fails and the test reports instead of timing out.
- `connect` and `list_exports` use libnbd's Python binding (python3-libnbd);
  `RawNbd` speaks NBD by hand over a socket for malformed-input tests.

Run by ctest with HOSTCRYPTD_BIN and HOSTCRYPT_BIN set (DISK_IO_BIN, the CLI
tests' offline disk reader, is used where set). HOSTCRYPT_ITEST_TIME_SCALE
multiplies every time limit (e.g. 3 for a sanitizer build run by hand);
HOSTCRYPT_ITEST_SHOW_LOG=1 prints the daemons' logs after passing tests too.
"""
import errno
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import libnbdmod
import nbd

HOSTCRYPT = os.environ.get("HOSTCRYPT_BIN", "")
HOSTCRYPTD = os.environ.get("HOSTCRYPTD_BIN", "")
DISK_IO = os.environ.get("DISK_IO_BIN", "")
TIME_SCALE = float(os.environ.get("HOSTCRYPT_ITEST_TIME_SCALE", "1"))
SHOW_LOG = os.environ.get("HOSTCRYPT_ITEST_SHOW_LOG") == "1"  # daemon logs even on success

# Time limits, in seconds, generous enough for the ASan build.
STARTUP_TIMEOUT = 60 * TIME_SCALE
STOP_TIMEOUT = 60 * TIME_SCALE
LOG_TIMEOUT = 10 * TIME_SCALE
CLI_TIMEOUT = 120 * TIME_SCALE
TOOL_TIMEOUT = 240 * TIME_SCALE
TEST_TIMEOUT = 100 * TIME_SCALE  # one test method, all included

KiB, MiB = 1 << 10, 1 << 20

# What the daemon promises every export (the hostcryptd contract).
PREFERRED_BLOCK = 4096
MAXIMUM_BLOCK = 32 * MiB

# NBD wire constants (NetworkBlockDevice/nbd doc/proto.md).
NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
OPTION_REPLY_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668E33EF
FLAG_FIXED_NEWSTYLE = 1
FLAG_NO_ZEROES = 2
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY = 1, 2, 3, 6, 7, 8
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
INFO_EXPORT, INFO_BLOCK_SIZE = 0, 3
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_WRITE_ZEROES = range(7)
TFLAG_READ_ONLY = 1 << 1


def require_binaries(*names):
    """Fails (not skips) when a binary the test needs is not given: under ctest
    they always are, so a missing one is a broken build, not an absent feature."""
    for variable, path in (("HOSTCRYPT_BIN", HOSTCRYPT), ("HOSTCRYPTD_BIN", HOSTCRYPTD)):
        if variable in names and not (path and os.access(path, os.X_OK)):
            raise RuntimeError(f"{variable} must name the built binary (got {path!r}); "
                               "ctest sets it, by hand: HOSTCRYPTD_BIN=build/<preset>/daemon/"
                               "hostcryptd HOSTCRYPT_BIN=build/<preset>/tools/hostcrypt")


_prctl = __import__("ctypes").CDLL(None, use_errno=True).prctl
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Runs in the daemon's child process before exec: if the test runner
    dies (ctest's timeout kills it), the daemon gets SIGKILL instead of
    lingering. (Resolved beforehand: the child only makes the call.)"""
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def nbd_uri(socket_path, export):
    return f"nbd+unix:///{export}?socket={socket_path}"


class Daemon:
    """One hostcryptd process. Its stderr and stdout lines are collected by
    reader threads; `wait_for_line` waits for a line matching a pattern."""

    def __init__(self, state, socket_path, config_path, extra_args=(), label="hostcryptd"):
        # The control socket sits beside the NBD socket: never the system's
        # default /run/hostcrypt/control.sock, which parallel tests would share.
        self.control_path = os.path.join(os.path.dirname(socket_path), "control.sock")
        self.argv = [HOSTCRYPTD, "--state", state, "--unix", socket_path, "--control",
                     self.control_path, "--config", config_path, *extra_args]
        self.socket_path = socket_path
        self.label = label
        self.lines = []  # (stream, text), in arrival order
        self._cond = threading.Condition()
        self._readers = []
        self.proc = None
        self.returncode = None
        self.expected_exit = None  # set by a test that ends the daemon otherwise than by SIGTERM

    def start(self, timeout=STARTUP_TIMEOUT):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        for stream_name, stream in (("stderr", self.proc.stderr), ("stdout", self.proc.stdout)):
            reader = threading.Thread(target=self._read, args=(stream_name, stream), daemon=True)
            reader.start()
            self._readers.append(reader)
        self.wait_for_line(r"^hostcryptd: ready", timeout=timeout, what="the ready line")
        return self

    def _read(self, stream_name, stream):
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.lines.append((stream_name, raw.decode("utf-8", "replace").rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def mark(self):
        """A position in the log; `wait_for_line(since=mark)` looks only after it."""
        with self._cond:
            return len(self.lines)

    def stderr_lines(self, since=0):
        with self._cond:
            return [text for stream, text in self.lines[since:] if stream == "stderr"]

    def log(self):
        with self._cond:
            return "\n".join(f"{text}" if stream == "stderr" else f"[stdout] {text}"
                             for stream, text in self.lines)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_for_line(self, pattern, since=0, timeout=LOG_TIMEOUT, what=None):
        """The first stderr line at or after `since` matching `pattern` (a regex,
        searched, or a predicate); raises AssertionError with the log when none
        comes in time or the daemon exits first."""
        match = pattern if callable(pattern) else re.compile(pattern).search
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for stream, text in self.lines[since:]:
                    if stream == "stderr" and match(text):
                        return text
                exited = self.proc.poll() is not None
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (exited and not any(r.is_alive() for r in self._readers)):
                    state = (f"exited with {self.proc.returncode}" if exited else "still running")
                    raise AssertionError(
                        f"{self.label}: no log line matching {what or pattern!r} within "
                        f"{timeout:.0f} s ({state}); its log:\n{self.log()}")
                self._cond.wait(min(remaining, 0.2))

    def send_signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, signum=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals the daemon, waits for it to exit, returns its exit code
        (negative for a signal). SIGKILLs it if it does not exit in time and
        raises AssertionError."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signum)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_group()
                self.proc.wait()
                self._join_readers()
                self.returncode = self.proc.returncode
                raise AssertionError(f"{self.label} did not exit within {timeout:.0f} s of "
                                     f"signal {signum}; killed. Its log:\n{self.log()}")
        self._join_readers()
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        """SIGKILL, as a crash would: nothing is flushed or finished."""
        self.expected_exit = -signal.SIGKILL
        self.kill_group()
        return self.stop(signal.SIGKILL)

    def kill_group(self):
        """SIGKILL to the daemon and anything it started (its own session)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _join_readers(self):
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream and not any(r.is_alive() for r in self._readers):
                stream.close()


class IntegrationTest(unittest.TestCase):
    """A temporary root with a state directory, a socket path and an empty
    config file; helpers for the CLI, the daemon and libnbd connections."""

    maxDiff = 2000

    def setUp(self):
        require_binaries("HOSTCRYPT_BIN", "HOSTCRYPTD_BIN")
        self.root = tempfile.mkdtemp(prefix="hcit-")
        self.state = os.path.join(self.root, "state")
        self.sock = os.path.join(self.root, "nbd.sock")
        self.config = os.path.join(self.root, "hostcryptd.toml")
        with open(self.config, "w"):
            pass  # an empty TOML file: every setting at its default, /etc never read
        self.daemons = []
        self.handles = []
        self.raw_sockets = []
        self.watchdog_fired = False
        self.watchdog = threading.Timer(TEST_TIMEOUT, self._on_watchdog)
        self.watchdog.daemon = True
        self.watchdog.start()
        # A cleanup, not tearDown: it also runs when a subclass's setUp fails
        # after starting a daemon.
        self.addCleanup(self._clean_up)

    def _on_watchdog(self):
        """A test that hangs (a request the daemon never answers blocks libnbd
        forever) is ended by killing its daemons: the blocked call fails and
        the test reports, with the daemons' logs, instead of running into
        ctest's timeout."""
        import faulthandler
        self.watchdog_fired = True
        sys.stderr.write(f"\nwatchdog: {self.id()} still running after {TEST_TIMEOUT:.0f} s; "
                         "killing its daemons. Where the test was:\n")
        faulthandler.dump_traceback(all_threads=True)
        for daemon in self.daemons:
            if daemon.proc is not None:
                daemon.kill_group()

    def _clean_up(self):
        self.watchdog.cancel()
        for h in self.handles:
            close_handle(h)
        self.handles.clear()
        for s in self.raw_sockets:
            s.close()
        problems = []
        if self.watchdog_fired:
            problems.append(f"the test hung for {TEST_TIMEOUT:.0f} s; its daemons were killed")
        for daemon in self.daemons:
            try:
                code = daemon.stop()
            except AssertionError as e:
                problems.append(str(e))
                continue
            expected = 0 if daemon.expected_exit is None else daemon.expected_exit
            if code is not None and code != expected and not self.watchdog_fired:
                problems.append(f"{daemon.label} exited with {code} on SIGTERM, not {expected}")
        if problems or not self._passed_so_far() or SHOW_LOG:
            for daemon in self.daemons:
                sys.stderr.write(f"\n----- {daemon.label} log ({' '.join(daemon.argv)}) -----\n"
                                 f"{daemon.log()}\n----- end of {daemon.label} log -----\n")
        shutil.rmtree(self.root, ignore_errors=True)
        if problems:
            self.fail("; ".join(problems))

    def _passed_so_far(self):
        """Whether this test has not failed (yet): the result object already
        holds its failures when cleanups run. Unknown counts as failed."""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None or not hasattr(result, "failures"):
            return False
        for test, _ in [*result.failures, *result.errors]:
            if getattr(test, "test_case", test) is self:
                return False
        return True

    # --- the hostcrypt command line ---------------------------------------

    def run_cli(self, *args, expect=0):
        """Runs hostcrypt on the test's state directory (through the daemon
        when one runs); checks its exit code unless `expect` is None."""
        result = subprocess.run([HOSTCRYPT, "--state", self.state, *args], capture_output=True,
                                text=True, timeout=CLI_TIMEOUT)
        if expect is not None:
            self.assertEqual(result.returncode, expect,
                             f"hostcrypt {' '.join(args)}\nstdout: {result.stdout}\n"
                             f"stderr: {result.stderr}")
        return result

    def json_cli(self, *args, expect=0):
        return json.loads(self.run_cli("--json", *args, expect=expect).stdout)

    def make_key(self, name="app-key"):
        self.run_cli("vault", "key", "create", name, "--type", "aes-256")

    def make_set(self, name, set_type, key=None):
        args = ["set", "create", name, "--type", set_type]
        if key is not None:
            args += ["--key", key]
        self.run_cli(*args)

    def make_sets(self, key="app-key"):
        """A vault key and one set of each type: p (platform), c (customer), d (double)."""
        self.make_key(key)
        self.make_set("p", "platform")
        self.make_set("c", "customer", key)
        self.make_set("d", "double", key)

    def make_disk(self, name, set_name, size, sector_size=4096):
        self.run_cli("disk", "create", name, "--set", set_name, "--size", str(size),
                     "--sector-size", str(sector_size))
        return name

    def backing_path(self, disk):
        return self.json_cli("disk", "show", disk)["path"]

    def read_offline(self, disk, offset, length):
        """The disk's data read through the library by the CLI tests' disk_io
        tool, without the daemon; None when DISK_IO_BIN is not set."""
        if not DISK_IO:
            return None
        return subprocess.run([DISK_IO, self.state, "read", disk, str(offset), str(length)],
                              capture_output=True, check=True, timeout=CLI_TIMEOUT).stdout

    # --- the daemon ---------------------------------------------------------

    def start_daemon(self, *extra_args, label=None):
        daemon = Daemon(self.state, self.sock, self.config, extra_args,
                        label=label or f"hostcryptd#{len(self.daemons) + 1}")
        self.daemons.append(daemon)
        daemon.start()
        self.daemon = daemon
        return daemon

    def stop_daemon(self, daemon=None, signum=signal.SIGTERM):
        """Stops the daemon (closing this test's libnbd handles first) and
        asserts a clean exit."""
        daemon = daemon or self.daemon
        for h in self.handles:
            close_handle(h)
        self.handles.clear()
        code = daemon.stop(signum)
        self.assertEqual(code, 0, f"{daemon.label} exit code after signal {signum}")
        return code

    def restart_daemon(self, *extra_args):
        self.stop_daemon()
        return self.start_daemon(*extra_args)

    # --- NBD clients --------------------------------------------------------

    def connect(self, export, strict=None, unaligned=False):
        """A libnbd handle on `export`, closed when the test ends. unaligned=True
        lets libnbd send requests below the advertised minimum block size
        (the daemon serves them by read-modify-write); `strict` sets the
        whole strictness mask (0 to send anything)."""
        h = connect(self.sock, export, strict=strict, unaligned=unaligned)
        self.handles.append(h)
        return h

    def disconnect(self, h):
        close_handle(h)
        self.handles.remove(h)

    def assertNbdError(self, expected_errno, call, *args, **kwargs):
        with self.assertRaises(nbd.Error, msg=f"{call.__name__}{args} should fail with "
                               f"{errno.errorcode.get(expected_errno)}") as caught:
            call(*args, **kwargs)
        self.assertEqual(caught.exception.errnum, expected_errno,
                         f"{call.__name__}{args}: {caught.exception}")
        return caught.exception

    def raw(self, timeout=10):
        r = RawNbd(self.sock, timeout * TIME_SCALE)
        self.raw_sockets.append(r.sock)
        return r


def connect(socket_path, export, strict=None, unaligned=False):
    h = nbd.NBD()
    h.set_export_name(export)
    h.connect_unix(socket_path)
    if strict is not None:
        h.set_strict_mode(strict)
    elif unaligned:
        h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
    return h


def close_handle(h):
    """NBD_CMD_DISC, then the connection closed now rather than whenever the
    handle is garbage collected."""
    try:
        h.shutdown()
    except nbd.Error:
        pass
    handle = getattr(h, "_o", None)
    if handle is not None:
        del h._o
        libnbdmod.close(handle)


def list_exports(socket_path):
    """Export names the server lists (NBD_OPT_LIST), sorted."""
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_unix(socket_path)
    names = []
    try:
        h.opt_list(lambda name, description: names.append(name))
    finally:
        try:
            h.opt_abort()
        except nbd.Error:
            pass
    return sorted(names)


def pattern(length, seed):
    """Deterministic bytes that differ per seed and per position."""
    import random
    return random.Random(seed).randbytes(length)


def run_aio(h, requests, depth=32):
    """Issues (kind, offset, data_or_length, flags) requests on `h` with up
    to `depth` in flight; returns a list of (request, errnum or 0) in the
    order given. kinds: "write", "zero", "trim"."""
    results = [None] * len(requests)
    in_flight = {}
    buffers = {}
    next_index = 0
    while next_index < len(requests) or in_flight:
        while next_index < len(requests) and len(in_flight) < depth:
            kind, offset, payload, flags = requests[next_index]
            if kind == "write":
                buf = nbd.Buffer.from_bytearray(bytearray(payload))
                cookie = h.aio_pwrite(buf, offset, flags=flags)
                buffers[cookie] = buf
            elif kind == "zero":
                cookie = h.aio_zero(payload, offset, flags=flags)
            elif kind == "trim":
                cookie = h.aio_trim(payload, offset, flags=flags)
            else:
                raise ValueError(kind)
            in_flight[cookie] = next_index
            next_index += 1
        h.poll(-1)
        for cookie in list(in_flight):
            try:
                done = h.aio_command_completed(cookie)
            except nbd.Error as e:
                index = in_flight.pop(cookie)
                results[index] = (requests[index], e.errnum or errno.EIO)
                buffers.pop(cookie, None)
                continue
            if done:
                index = in_flight.pop(cookie)
                results[index] = (requests[index], 0)
                buffers.pop(cookie, None)
    return results


class RawNbd:
    """A hand-made NBD client over a unix socket, for speaking the protocol
    wrongly on purpose. Without NBD_OPT_STRUCTURED_REPLY every reply is a
    simple reply."""

    def __init__(self, socket_path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(socket_path)
        self.timeout = timeout

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        chunks, got = [], 0
        while got < n:
            chunk = self.sock.recv(n - got)
            if not chunk:
                raise EOFError(f"connection closed after {got} of {n} bytes")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    # --- handshake ---

    def greeting(self):
        magic, opt_magic, flags = struct.unpack(">QQH", self.recv_exact(18))
        assert magic == NBDMAGIC and opt_magic == IHAVEOPT, (hex(magic), hex(opt_magic))
        assert flags & FLAG_FIXED_NEWSTYLE, flags
        return flags

    def client_flags(self, flags=FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES):
        self.send(struct.pack(">I", flags))

    def option(self, option, data=b""):
        self.send(struct.pack(">QII", IHAVEOPT, option, len(data)) + data)

    def option_reply(self):
        magic, option, reply_type, length = struct.unpack(">QIII", self.recv_exact(20))
        assert magic == OPTION_REPLY_MAGIC, hex(magic)
        return option, reply_type, self.recv_exact(length)

    def go(self, export):
        """Greeting, flags, NBD_OPT_GO; returns (size, transmission flags)."""
        self.greeting()
        self.client_flags()
        name = export.encode()
        self.option(OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        size = tflags = None
        while True:
            option, reply_type, data = self.option_reply()
            assert option == OPT_GO, option
            if reply_type == REP_ACK:
                break
            if reply_type & 0x80000000:
                raise AssertionError(f"NBD_OPT_GO {export!r} refused: {reply_type:#x} {data!r}")
            if reply_type == REP_INFO and struct.unpack(">H", data[:2])[0] == INFO_EXPORT:
                size, tflags = struct.unpack(">QH", data[2:12])
        return size, tflags

    # --- transmission ---

    def request(self, command, offset=0, length=0, flags=0, handle=1, payload=b""):
        self.send(struct.pack(">IHHQQI", REQUEST_MAGIC, flags, command, handle, offset, length)
                  + payload)

    def simple_reply(self, data_length=0):
        """(error, handle, data): data only for a successful read."""
        magic, error, handle = struct.unpack(">IIQ", self.recv_exact(16))
        assert magic == SIMPLE_REPLY_MAGIC, hex(magic)
        data = self.recv_exact(data_length) if error == 0 and data_length else b""
        return error, handle, data

    def read(self, offset, length, handle=7):
        self.request(CMD_READ, offset, length, handle=handle)
        error, got_handle, data = self.simple_reply(length)
        assert got_handle == handle, (got_handle, handle)
        return error, data

    def write(self, offset, data, handle=8, flags=0):
        self.request(CMD_WRITE, offset, len(data), flags=flags, handle=handle, payload=data)
        error, got_handle, _ = self.simple_reply()
        assert got_handle == handle, (got_handle, handle)
        return error

    def disconnect(self):
        self.request(CMD_DISC)
        self.close()

    def wait_closed(self, timeout=None):
        """Reads until the server closes the connection. Returns the bytes it
        sent before closing; None if it is still open after `timeout`."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        received = []
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b"".join(received)
                received.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            return b"".join(received)
        except socket.timeout:
            return None
