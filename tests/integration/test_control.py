"""The control API end to end: the hostcrypt command line against a running
hostcryptd (status, the same output offline and live), roles by the caller's
Unix credentials, malformed control traffic, live revocation (grace period,
EIO, recovery on the same connection), an unreachable key provider within
and past its tolerance, the revocation drill, and rotation under fio load.
"""
import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time

import nbd

from harness import (CLI_TIMEOUT, HOSTCRYPT, LOG_TIMEOUT, TIME_SCALE, TOOL_TIMEOUT, KiB, MiB,
                     IntegrationTest, list_exports, nbd_uri, pattern)

EXIT_USAGE, EXIT_REFUSED, EXIT_UNAUTHORIZED, EXIT_UNAVAILABLE = 2, 6, 9, 10


def disk_status(status, name):
    return next(d for d in status["disks"] if d["name"] == name)


def control_call(path, method, params):
    """One JSON-RPC call on a fresh control connection; the response object."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30 * TIME_SCALE)
        s.connect(path)
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                              "params": params}).encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    return json.loads(answer)


class ControlTest(IntegrationTest):
    def control_path(self):
        return self.daemon.control_path

    def wait_for_key_state(self, disk, state, timeout=LOG_TIMEOUT):
        """Polls `hostcrypt status` until the disk's key status is `state`."""
        deadline = time.monotonic() + timeout
        while True:
            status = disk_status(self.json_cli("status"), disk)
            if status["key_status"]["state"] == state:
                return status
            self.assertLess(time.monotonic(), deadline,
                            f"{disk} is {status['key_status']} after {timeout:.0f} s, not {state}")
            time.sleep(0.2)


class Status(ControlTest):
    """`hostcrypt status` through the daemon: every disk with its type, size,
    key versions, key status, connections and traffic; offline the same
    disks with the health of their keys. Other commands print the same
    offline and live. The state directory belongs to the running daemon."""

    def test_status_live_and_offline(self):
        self.make_sets()
        self.make_disk("disk-p", "p", 8 * MiB)
        self.make_disk("disk-d", "d", 8 * MiB, 512)
        offline = self.json_cli("status")
        self.assertEqual(offline["daemon"], {"running": False})
        self.assertEqual([d["name"] for d in offline["disks"]], ["disk-d", "disk-p"])
        self.assertTrue(all(d["health"]["usable"] for d in offline["disks"]))
        listed_offline = self.json_cli("disk", "list")

        self.start_daemon()
        h = self.connect("disk-d")
        h.pwrite(pattern(1 * MiB, 1), 0)
        h.pread(256 * KiB, 0)
        live = self.json_cli("status")
        self.assertTrue(live["daemon"]["running"])
        self.assertEqual(live["daemon"]["listeners"], [f"unix:{self.sock}"])
        self.assertEqual(live["daemon"]["control_socket"], self.control_path())
        d = disk_status(live, "disk-d")
        self.assertEqual((d["type"], d["size"], d["sector_size"]), ("double", 8 * MiB, 512))
        self.assertEqual([layer["kek"]["provider"] for layer in d["layers"]],
                         ["vault:local", "platform"])
        self.assertEqual(d["key_status"]["state"], "serving")
        self.assertEqual((d["connections"], d["bytes_written"], d["bytes_read"], d["errors"]),
                         (1, 1 * MiB, 256 * KiB, 0))
        self.assertEqual(disk_status(live, "disk-p")["connections"], 0)
        human = self.run_cli("status").stdout
        self.assertIn("disk-d", human)
        self.assertIn("serving", human)
        self.assertIn(f"unix:{self.sock}", human)
        # the same views as offline
        self.assertEqual(self.json_cli("disk", "list"), listed_offline)

        # the daemon owns the state directory: offline work is refused clearly
        error = self.run_cli("--offline", "disk", "list", expect=None)
        self.assertNotEqual(error.returncode, 0)
        self.assertIn("in use by another hostcrypt process", error.stderr)

    def test_a_named_control_socket_without_a_daemon_is_an_error(self):
        result = subprocess.run([HOSTCRYPT, "--control", os.path.join(self.root, "none.sock"),
                                 "status"], capture_output=True, text=True, timeout=CLI_TIMEOUT)
        self.assertEqual(result.returncode, EXIT_UNAVAILABLE, result.stderr)
        self.assertIn("no hostcryptd listens on", result.stderr)


class Roles(ControlTest):
    """Each role's allowed and refused calls, by the caller's kernel-reported
    credentials; a refusal says which role is needed and is audited."""

    READER, OPERATOR, OFFICER, NOBODY = 4001, 4002, 4003, 4004
    SOCKET_GROUP, OFFICER_GROUP = 4321, 4400

    def setUp(self):
        super().setUp()
        with open(self.config, "w") as f:
            f.write(f"""[control]
group = "gid:{self.SOCKET_GROUP}"
[control.roles]
reader = ["uid:{self.READER}"]
operator = ["uid:{self.OPERATOR}"]
crypto_officer = ["gid:{self.OFFICER_GROUP}"]
""")
        os.chmod(self.root, 0o711)  # other users reach the control socket, nothing else

    def cli_as(self, uid, *args, groups=()):
        return subprocess.run([HOSTCRYPT, "--control", self.control_path(), *args],
                              capture_output=True, text=True, timeout=CLI_TIMEOUT, user=uid,
                              group=self.SOCKET_GROUP, extra_groups=list(groups),
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})

    def assert_refused(self, result, role):
        self.assertEqual(result.returncode, EXIT_UNAUTHORIZED, result.stdout + result.stderr)
        self.assertIn(f"needs the {role} role", result.stderr)

    def test_each_role_may_do_its_part_only(self):
        self.make_sets()
        self.make_disk("disk-c", "c", 8 * MiB)
        self.start_daemon()
        socket_stat = os.stat(self.control_path())
        self.assertEqual((socket_stat.st_mode & 0o777, socket_stat.st_gid),
                         (0o660, self.SOCKET_GROUP))

        # reader: reads, nothing else
        self.assertEqual(self.cli_as(self.READER, "status").returncode, 0)
        self.assertEqual(self.cli_as(self.READER, "disk", "list").returncode, 0)
        self.assert_refused(self.cli_as(self.READER, "disk", "create", "r1", "--set", "p",
                                        "--size", "4M"), "operator")
        self.assert_refused(self.cli_as(self.READER, "vault", "key", "disable", "app-key"),
                            "crypto-officer")
        # operator: disks and sets, not keys
        self.assertEqual(self.cli_as(self.OPERATOR, "disk", "create", "o1", "--set", "p",
                                     "--size", "4M").returncode, 0)
        self.assertIn("o1", list_exports(self.sock))
        # ...but only in the state directory: the daemon runs as root
        placed = self.cli_as(self.OPERATOR, "disk", "create", "o2", "--set", "p", "--size", "4M",
                             "--path", os.path.join(self.root, "anywhere.img"))
        self.assertEqual(placed.returncode, EXIT_REFUSED, placed.stderr)
        self.assertIn("only root may choose a disk's backing path", placed.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, "anywhere.img")))
        self.assert_refused(self.cli_as(self.OPERATOR, "vault", "key", "disable", "app-key"),
                            "crypto-officer")
        self.assert_refused(self.cli_as(self.OPERATOR, "platform", "rotate"), "crypto-officer")
        # crypto officer (by a supplementary group): keys and rotation, not disks
        officer = (self.OFFICER, (self.OFFICER_GROUP,))
        self.assertEqual(self.cli_as(officer[0], "vault", "key", "rotate", "app-key",
                                     groups=officer[1]).returncode, 0)
        self.assert_refused(self.cli_as(officer[0], "disk", "delete", "o1", groups=officer[1]),
                            "operator")
        # the same user without the group holds no role at all
        self.assert_refused(self.cli_as(officer[0], "status"), "reader")
        self.assert_refused(self.cli_as(self.NOBODY, "status"), "reader")

        with open(os.path.join(self.state, "control-audit.log")) as f:
            records = [json.loads(line) for line in f]
        refused = [(r["caller"]["uid"], r["method"]) for r in records if r["outcome"] == "refused"]
        self.assertIn((self.READER, "disk.create"), refused)
        self.assertIn((self.OPERATOR, "vault.key.disable"), refused)
        self.assertIn((self.NOBODY, "status"), refused)
        self.assertIn((self.OFFICER, "vault.key.rotate", "ok"),
                      [(r["caller"]["uid"], r["method"], r["outcome"]) for r in records])
        # the vault's own audit log names the caller behind the daemon
        with open(os.path.join(self.state, "vaults", "local", "audit.log")) as f:
            rotations = [json.loads(line) for line in f if '"rotate-key"' in line]
        self.assertIn(f"uid {self.OFFICER}", rotations[-1]["actor"])


class MalformedControl(ControlTest):
    """Malformed control requests get a JSON-RPC error; the daemon keeps
    serving control calls and NBD alike."""

    def raw(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10 * TIME_SCALE)
        s.connect(self.control_path())
        self.raw_sockets.append(s)
        return s

    def ask(self, s, line):
        s.sendall(line)
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = s.recv(65536)
            self.assertTrue(chunk, f"the daemon closed the connection after {line[:80]!r}")
            answer += chunk
        return json.loads(answer)

    def test_bad_requests_are_answered_and_nothing_breaks(self):
        self.make_sets()
        self.make_disk("disk-p", "p", 8 * MiB)
        self.start_daemon()
        h = self.connect("disk-p")
        h.pwrite(pattern(64 * KiB, 5), 0)
        s = self.raw()
        cases = [
            (b"garbage\n", None, -32700),
            (b"[]\n", None, -32600),
            (b'{"jsonrpc":"2.0","method":"status"}\n', None, -32600),
            (b'{"jsonrpc":"1.0","id":1,"method":"status"}\n', 1, -32600),
            (b'{"jsonrpc":"2.0","id":2,"method":"no.such"}\n', 2, -32601),
            (b'{"jsonrpc":"2.0","id":3,"method":"status","params":[1]}\n', 3, -32602),
            (b'{"jsonrpc":"2.0","id":"x","method":"status","params":{"verbose":true}}\n', "x",
             EXIT_USAGE),
            (b'{"jsonrpc":"2.0","id":5,"method":"disk.create","params":{"name":"n","set":"p",'
             b'"size":"big"}}\n', 5, EXIT_USAGE),
            (b'{"jsonrpc":"2.0","id":6,"method":"disk.delete","params":{"name":"disk-p"}}\n', 6,
             EXIT_REFUSED),  # in use by the connection above
            # JSON is UTF-8: anything else is not JSON at all
            (b'{"jsonrpc":"2.0","id":7,"method":"vault.key.show","params":{"name":"\xff"}}\n',
             None, -32700),
            (b'{"jsonrpc":"2.0","id":8,"method":"vault.key.show","params":{"name":"../x"}}\n', 8,
             EXIT_USAGE),
        ]
        for line, expected_id, code in cases:
            answer = self.ask(s, line)
            self.assertEqual((answer["jsonrpc"], answer["id"], answer["error"]["code"]),
                             ("2.0", expected_id, code), f"{line!r}: {answer}")
            self.assertTrue(answer["error"]["message"])
        self.assertIn("size", self.ask(s, cases[7][0])["error"]["message"])
        # a good request on the same connection still works
        ok = self.ask(s, b'{"jsonrpc":"2.0","id":9,"method":"status"}\n')
        self.assertEqual(disk_status(ok["result"], "disk-p")["connections"], 1)

        # a caller that stalls mid-line does not hold up others
        stalled = self.raw()
        stalled.sendall(b'{"jsonrpc":"2.0","id":1,"meth')
        self.assertTrue(self.json_cli("status")["daemon"]["running"])
        # one that vanishes mid-line is forgotten
        self.raw().sendall(b'{"jsonrpc":')
        self.raw_sockets.pop().close()
        # an endless line is refused and its connection closed
        flood = self.raw()
        try:
            flood.sendall(b"x" * (2 * MiB))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while True:
                chunk = flood.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
        self.assertIn(b"too long", answer)

        self.assertEqual(h.pread(64 * KiB, 0), pattern(64 * KiB, 5))
        self.assertEqual(self.json_cli("disk", "show", "disk-p")["name"], "disk-p")
        self.assertTrue(self.daemon.alive())


class ControlLimits(ControlTest):
    """Callers cannot take the control plane from others: a caller that
    pipelines requests and reads its answers in a trickle does not hold off
    a revocation (the daemon does its own work between any two requests); a user other than root gets a bounded share of the
    connections, and root always gets in."""

    def test_a_caller_that_reads_slowly_holds_nothing_up(self):
        self.make_sets()
        self.make_disk("disk-c", "c", 8 * MiB)
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "2s")
        h = self.connect("disk-c")
        greedy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        greedy.connect(self.control_path())
        self.raw_sockets.append(greedy)
        line = b'{"jsonrpc":"2.0","id":1,"method":"status"}\n'
        greedy.sendall(line * 300)  # about 500 KiB of answers, taken in a trickle
        stop = threading.Event()

        def trickle():  # always just fast enough not to be dropped
            while not stop.wait(2):
                try:
                    greedy.recv(1500)
                except OSError:
                    return
        reader = threading.Thread(target=trickle, daemon=True)
        reader.start()
        self.addCleanup(stop.set)
        disabled_at = time.monotonic()
        self.run_cli("vault", "key", "disable", "app-key")
        while True:
            try:
                h.pread(4 * KiB, 0)
            except nbd.Error:
                break
            self.assertLess(time.monotonic() - disabled_at, 20 * TIME_SCALE,
                            "still serving: the greedy caller held off the revocation")
            time.sleep(0.2)

    def test_connection_share_per_user_and_root_always_in(self):
        self.make_sets()
        self.start_daemon()
        os.chmod(self.root, 0o711)
        os.chmod(self.control_path(), 0o666)  # let other users reach it at all
        holders = []
        try:
            # 8 users take all 64 connections, each trying for 12 and keeping 8
            for uid in range(4010, 4018):
                holders.append(subprocess.Popen(
                    [sys.executable, "-c", HOLDER, self.control_path(), "12"], user=uid,
                    stdout=subprocess.PIPE, text=True))
            self.assertEqual([int(holder.stdout.readline()) for holder in holders], [8] * 8)
            # root still gets in (someone's idle connection makes way)
            self.assertTrue(self.json_cli("status")["daemon"]["running"])
            self.daemon.wait_for_line("to make room for", what="an idle connection evicted")
        finally:
            for holder in holders:
                holder.kill()
                holder.wait()
                holder.stdout.close()


# Opens argv[2] control connections, reports how many the daemon kept open,
# then holds them.
HOLDER = """
import socket, sys, time
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
time.sleep(1)
kept = 0
for s in held:
    s.setblocking(False)
    try:
        kept += s.recv(1) != b""
    except BlockingIOError:
        kept += 1
print(kept, flush=True)
time.sleep(60)
"""


class LiveRevocation(ControlTest):
    """A disabled customer key: the disk serves through the grace period,
    then every request fails with EIO and status says why and since when;
    enabled again, I/O resumes on the same connection with every write
    acknowledged before intact. A platform disk is never touched."""

    def test_grace_then_eio_then_recovery(self):
        self.make_sets()
        self.make_disk("disk-c", "c", 8 * MiB)
        self.make_disk("disk-d", "d", 8 * MiB)
        self.make_disk("disk-p", "p", 8 * MiB)
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "3s")
        handles = {name: self.connect(name) for name in ("disk-c", "disk-d", "disk-p")}
        data = pattern(512 * KiB, 7)
        for h in handles.values():
            h.pwrite(data, 0)  # acknowledged, no flush: must survive all the same

        disabled_at = time.monotonic()
        self.run_cli("vault", "key", "disable", "app-key")
        grace = self.wait_for_key_state("disk-c", "grace")
        self.assertIn("disabled", grace["key_status"]["reason"])
        self.assertTrue(grace["key_status"]["grace_ends"])
        self.assertEqual(handles["disk-c"].pread(4 * KiB, 0), data[:4 * KiB])  # still serving

        revoked = self.wait_for_key_state("disk-c", "revoked", timeout=15 * TIME_SCALE)
        self.assertGreaterEqual(time.monotonic() - disabled_at, 3)
        self.assertIn("disabled", revoked["key_status"]["reason"])
        self.assertTrue(revoked["key_status"]["since"])
        self.wait_for_key_state("disk-d", "revoked")
        for name in ("disk-c", "disk-d"):
            with self.assertRaises(nbd.Error) as failure:
                handles[name].pread(4 * KiB, 0)
            self.assertEqual(failure.exception.errnum, errno.EIO, name)
            with self.assertRaises(nbd.Error):
                handles[name].pwrite(pattern(4 * KiB, 8), 0)
            # A trim or a zeroing needs no key, but changes the disk: refused too.
            with self.assertRaises(nbd.Error) as failure:
                handles[name].trim(4 * KiB, 0)
            self.assertEqual(failure.exception.errnum, errno.EIO, name)
            with self.assertRaises(nbd.Error) as failure:
                handles[name].zero(4 * KiB, 0)
            self.assertEqual(failure.exception.errnum, errno.EIO, name)
        self.assertIn("REVOKED", self.run_cli("status").stdout)
        self.assertEqual(handles["disk-p"].pread(len(data), 0), data)

        self.run_cli("vault", "key", "enable", "app-key")
        for name in ("disk-c", "disk-d"):
            self.wait_for_key_state(name, "serving")
            self.assertEqual(handles[name].pread(len(data), 0), data, name)
            handles[name].pwrite(pattern(4 * KiB, 9), 1 * MiB)
            self.assertEqual(handles[name].pread(4 * KiB, 1 * MiB), pattern(4 * KiB, 9))
        self.assertEqual(handles["disk-p"].pread(len(data), 0), data)

    def test_key_usable_again_within_grace_interrupts_nothing(self):
        self.make_sets()
        self.make_disk("disk-c", "c", 8 * MiB)
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "1h")
        h = self.connect("disk-c")
        self.run_cli("vault", "key", "disable", "app-key")
        self.wait_for_key_state("disk-c", "grace")
        h.pwrite(pattern(64 * KiB, 2), 0)
        self.run_cli("vault", "key", "enable", "app-key")
        self.wait_for_key_state("disk-c", "serving")
        self.assertEqual(h.pread(64 * KiB, 0), pattern(64 * KiB, 2))
        self.assertEqual(disk_status(self.json_cli("status"), "disk-c")["errors"], 0)


class BackingPath(ControlTest):
    """The daemon follows its disks by the descriptors it opened, not by
    path: a backing file renamed under a served disk does not stop the key
    monitor from revoking it, and deleting a disk whose recorded path now
    leads elsewhere erases nothing."""

    def test_revocation_follows_the_open_file(self):
        self.make_sets()
        self.make_disk("disk-c", "c", 8 * MiB)
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "2s")
        h = self.connect("disk-c")
        h.pwrite(pattern(64 * KiB, 6), 0)
        backing = self.json_cli("disk", "show", "disk-c")["path"]
        os.rename(backing, backing + ".moved")
        self.run_cli("vault", "key", "disable", "app-key")
        self.wait_for_key_state("disk-c", "revoked", timeout=15 * TIME_SCALE)
        with self.assertRaises(nbd.Error) as failure:
            h.pread(4 * KiB, 0)
        self.assertEqual(failure.exception.errnum, errno.EIO)
        self.run_cli("vault", "key", "enable", "app-key")
        self.wait_for_key_state("disk-c", "serving")
        self.assertEqual(h.pread(64 * KiB, 0), pattern(64 * KiB, 6))

    def test_delete_refuses_a_path_that_leads_elsewhere(self):
        self.make_sets()
        self.make_disk("victim", "p", 8 * MiB)
        self.make_disk("doomed", "p", 8 * MiB)
        self.start_daemon("--key-check-interval", "1s")  # unserved disks are retried as often
        for name, seed in (("victim", 2), ("doomed", 3)):
            h = self.connect(name)
            h.pwrite(pattern(64 * KiB, seed), 0)
            h.flush()
            self.disconnect(h)
        victim = self.json_cli("disk", "show", "victim")["path"]
        doomed = self.json_cli("disk", "show", "doomed")["path"]
        other = os.path.join(self.root, "other.bin")
        with open(other, "wb") as f:
            f.write(pattern(64 * KiB, 1))
        os.rename(doomed, doomed + ".real")
        for target in (victim, other):
            os.symlink(target, doomed)
            with open(target, "rb") as f:
                before = f.read(64 * KiB)
            error = self.run_cli("disk", "delete", "doomed", expect=EXIT_REFUSED).stderr
            self.assertIn("not erasing", error)
            with open(target, "rb") as f:
                self.assertEqual(f.read(64 * KiB), before, target)
            os.unlink(doomed)
        # Not deleted, so served again as before: from its own file, which the
        # daemon holds open, never from another disk's file or a foreign one.
        self.assertEqual(list_exports(self.sock), ["doomed", "victim"])
        self.assertEqual(self.connect("doomed").pread(64 * KiB, 0), pattern(64 * KiB, 3))
        self.assertEqual(self.connect("victim").pread(64 * KiB, 0), pattern(64 * KiB, 2))
        for h in list(self.handles):
            self.disconnect(h)
        os.rename(doomed + ".real", doomed)
        self.run_cli("disk", "delete", "doomed")
        self.assertFalse(os.path.exists(doomed))


class Unreachable(ControlTest):
    """A vault that cannot be reached is not a revocation: the disk serves
    for the tolerance (status says so), and only then stops; when the vault
    is back, I/O resumes with the data intact."""

    def test_within_and_past_the_tolerance(self):
        self.make_sets()
        self.make_disk("disk-c", "c", 8 * MiB)
        self.start_daemon("--key-check-interval", "1s", "--unreachable-tolerance", "4s")
        h = self.connect("disk-c")
        data = pattern(256 * KiB, 4)
        h.pwrite(data, 0)
        vault = os.path.join(self.state, "vaults", "local")
        os.rename(vault, vault + ".away")  # as if its share were unmounted
        try:
            state = self.wait_for_key_state("disk-c", "unreachable")
            self.assertIn("unreachable", state["key_status"]["reason"])
            self.assertEqual(h.pread(len(data), 0), data)  # within the tolerance
            self.wait_for_key_state("disk-c", "revoked", timeout=15 * TIME_SCALE)
            with self.assertRaises(nbd.Error) as failure:
                h.pread(4 * KiB, 0)
            self.assertEqual(failure.exception.errnum, errno.EIO)
        finally:
            os.rename(vault + ".away", vault)
        self.wait_for_key_state("disk-c", "serving")
        self.assertEqual(h.pread(len(data), 0), data)


class Drill(ControlTest):
    """`hostcrypt drill` prints a timeline: I/O fails after the grace and
    recovers after the key is enabled, the checksum unchanged; it refuses a
    platform-only disk and leaves the key enabled and the monitor as it was."""

    def test_drill_timeline(self):
        self.make_sets()
        self.make_disk("disk-c", "c", 16 * MiB)
        self.make_disk("disk-p", "p", 8 * MiB)
        self.start_daemon()
        h = self.connect("disk-c")
        h.pwrite(pattern(2 * MiB, 11), 3 * MiB)
        h.flush()
        self.disconnect(h)

        result = self.json_cli("drill", "disk-c", "--grace", "2s", "--interval", "1s")
        events = [e["event"] for e in result["timeline"]]
        self.assertEqual(events, ["key disabled", "first failed I/O", "key enabled again",
                                  "first successful I/O"])
        times = [e["at"] for e in result["timeline"]]
        self.assertEqual(times, sorted(times))
        self.assertGreaterEqual(times[1], 2.0)  # not before the grace ended
        self.assertIn("Input/output error", result["timeline"][1]["error"])
        self.assertTrue(result["data_intact"])
        self.assertEqual(result["checksum_before"], result["checksum_after"])

        key = self.json_cli("vault", "key", "show", "app-key")
        self.assertTrue(key["enabled"])
        monitor = self.json_cli("status")["daemon"]["key_monitor"]
        self.assertEqual((monitor["interval"], monitor["grace"]), ("1m", "1h"))

        human = self.run_cli("drill", "disk-c", "--grace", "1s", "--interval", "1s").stdout
        self.assertIn("first failed I/O", human)
        self.assertIn("data verified: unchanged", human)
        refused = self.run_cli("drill", "disk-p", expect=EXIT_USAGE).stderr
        self.assertIn("platform key only", refused)

    def test_drill_settings_are_temporary_and_exclusive(self):
        """A drill's monitor settings end by themselves (a drill that dies
        half-way cannot leave them behind) and a second drill is refused
        while they are in force."""
        self.make_sets()
        self.start_daemon()
        drill = {"interval": "1s", "grace": "5s", "for": "3s"}
        first = control_call(self.control_path(), "monitor.configure", drill)
        self.assertTrue(first["result"]["temporary_until"], first)
        self.assertEqual(first["result"]["previous"]["grace"], "1h")
        second = control_call(self.control_path(), "monitor.configure", drill)
        self.assertEqual(second["error"]["code"], EXIT_REFUSED, second)
        self.assertIn("one drill at a time", second["error"]["message"])
        deadline = time.monotonic() + 15 * TIME_SCALE
        while True:
            monitor = self.json_cli("status")["daemon"]["key_monitor"]
            if monitor["temporary_until"] is None:
                break
            self.assertLess(time.monotonic(), deadline, f"still temporary: {monitor}")
            time.sleep(0.5)
        self.assertEqual((monitor["interval"], monitor["grace"]), ("1m", "1h"))
        self.daemon.wait_for_line("temporary settings expired", what="the expiry logged")


class RotationUnderLoad(ControlTest):
    """Rotating the customer key, the set and the platform key while fio
    writes and verifies: no I/O error, every header re-wrapped."""

    def test_fio_verify_through_rotations(self):
        self.make_sets()
        self.make_disk("disk-d", "d", 128 * MiB)
        self.start_daemon()
        before = self.json_cli("disk", "show", "disk-d")["layers"]
        job = os.path.join(self.root, "rotate.fio")
        with open(job, "w") as f:
            f.write(f"""[global]
ioengine=nbd
uri={nbd_uri(self.sock, "disk-d")}
iodepth=16
numjobs=2
verify=crc32c
verify_fatal=1
do_verify=1
verify_state_save=0
[load]
rw=randwrite
bsrange=4k-64k
blockalign=4k
size=48m
offset_increment=64m
loops=3
""")
        report = os.path.join(self.root, "rotate.json")
        fio = subprocess.Popen(["fio", "--output-format=json", f"--output={report}", job],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=self.root)
        rounds = 0
        try:
            while fio.poll() is None and rounds < 20:
                self.run_cli("vault", "key", "rotate", "app-key")
                self.run_cli("platform", "rotate")
                self.run_cli("set", "rotate", "d")
                rounds += 1
            out, err = fio.communicate(timeout=TOOL_TIMEOUT)
        finally:
            if fio.poll() is None:
                fio.kill()
                fio.wait()
        self.assertGreater(rounds, 0, "fio ended before the first rotation")
        self.assertEqual(fio.returncode, 0, f"{out[-2000:]}{err[-2000:]}")
        with open(report) as f:
            jobs = json.load(f)["jobs"]
        for job_result in jobs:
            self.assertEqual(job_result["error"], 0)
            self.assertGreater(job_result["read"]["io_bytes"], 0)  # the verify pass
        after = self.json_cli("disk", "show", "disk-d")
        self.assertTrue(after["health"]["usable"])
        self.assertGreater(after["layers"][0]["kek"]["version"], before[0]["kek"]["version"])
        self.assertGreater(after["layers"][1]["kek"]["version"], before[1]["kek"]["version"])
        self.assertEqual(disk_status(self.json_cli("status"), "disk-d")["errors"], 0)
