"""Instances end to end: the exports of an allocated instance ("<instance>/<disk>"
and "<instance>/temp"), attaching and detaching disks while the daemon
serves, and the temp disk's life — a fresh key per allocation, never any
plaintext in its file, crypto-erased by deallocation, by a restart and even
after a kill -9, and untouched by a customer key's revocation.
"""
import errno
import os
import subprocess
import time

from harness import LOG_TIMEOUT, TIME_SCALE, KiB, MiB, IntegrationTest, list_exports, pattern

EXIT_REFUSED = 6
MARKER = b"hostcrypt temp disk plaintext marker. " * 8  # 304 bytes


def marked_block(length=64 * KiB):
    """`length` bytes of MARKER repeated: easy to find if it ever leaks."""
    return (MARKER * (length // len(MARKER) + 1))[:length]


class InstanceTest(IntegrationTest):
    def create_instance(self, name="vm1", disks=(), temp_size=16 * MiB):
        args = ["instance", "create", name, "--temp-size", str(temp_size)]
        for disk in disks:
            args += ["--disk", disk]
        return self.json_cli(*args)

    def temp_file(self, instance="vm1"):
        return os.path.join(self.state, "temp", f"{instance}.temp")

    def tiers(self, instance="vm1"):
        """{"persisted <disk>" or "temp": tier} from `instance show`."""
        view = self.json_cli("instance", "show", instance)
        return {f"{t['tier']} {t['disk']}" if "disk" in t else t["tier"]: t
                for t in view["tiers"]}

    def temp_dek_id(self, instance="vm1"):
        temp = self.tiers(instance)["temp"]
        self.assertTrue(temp["served"], temp)
        return temp["layers"][0]["dek_id"]

    def assertNoMarker(self, path):
        with open(path, "rb") as f:
            content = f.read()
        self.assertNotIn(MARKER[:64], content, f"{path} holds plaintext")

    def wait_for_disk_key_state(self, disk, state, timeout=LOG_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            status = next(d for d in self.json_cli("status")["disks"] if d["name"] == disk)
            if status.get("key_status", {}).get("state") == state:
                return status
            self.assertLess(time.monotonic(), deadline, f"{disk}: {status} is not {state}")
            time.sleep(0.2)


class Exports(InstanceTest):
    """Which names the daemon offers as instances are created, changed and
    deleted while it serves."""

    def test_instance_exports_follow_attach_detach_and_delete(self):
        self.make_set("p", "platform")
        self.make_disk("data", "p", 8 * MiB)
        self.make_disk("logs", "p", 8 * MiB)
        self.start_daemon()
        self.assertEqual(list_exports(self.sock), ["data", "logs"])
        h = self.connect("data")
        h.pwrite(pattern(64 * KiB, 1), 0)
        h.flush()

        # A disk in use cannot move to an instance; nothing changes.
        refused = self.run_cli("instance", "create", "vm1", "--temp-size", "16M",
                               "--disk", "data", expect=EXIT_REFUSED)
        self.assertIn("data is in use by 1 connection(s)", refused.stderr)
        self.assertEqual(self.json_cli("instance", "list"), [])
        self.assertEqual(list_exports(self.sock), ["data", "logs"])
        self.disconnect(h)

        self.create_instance("vm1", ["data"])
        self.assertEqual(list_exports(self.sock), ["logs", "vm1/data", "vm1/temp"])
        info = self.connect("vm1/data")
        self.assertEqual(info.get_size(), 8 * MiB)
        self.assertEqual(info.pread(64 * KiB, 0), pattern(64 * KiB, 1))  # the same disk
        self.disconnect(info)
        status = self.json_cli("status")
        data = next(d for d in status["disks"] if d["name"] == "data")
        self.assertEqual((data["export"], data["instance"]), ("vm1/data", "vm1"))
        self.assertEqual([t["export"] for t in status["temp_disks"]], ["vm1/temp"])

        self.run_cli("instance", "attach", "vm1", "logs")
        self.assertEqual(list_exports(self.sock), ["vm1/data", "vm1/logs", "vm1/temp"])
        self.run_cli("instance", "detach", "vm1", "logs")
        self.assertEqual(list_exports(self.sock), ["logs", "vm1/data", "vm1/temp"])

        # An attached disk cannot be deleted.
        refused = self.run_cli("disk", "delete", "data", expect=EXIT_REFUSED)
        self.assertIn("attached to instance vm1", refused.stderr)

        result = self.json_cli("instance", "delete", "vm1")
        self.assertEqual(result["detached"], ["data"])
        self.assertEqual(list_exports(self.sock), ["data", "logs"])
        self.assertFalse(os.path.exists(self.temp_file()))
        self.assertEqual(self.connect("data").pread(64 * KiB, 0), pattern(64 * KiB, 1))

    def test_a_disk_in_use_does_not_move_even_to_a_deallocated_instance(self):
        self.make_set("p", "platform")
        self.make_disk("data", "p", 8 * MiB)
        self.start_daemon()
        h = self.connect("data")
        self.run_cli("instance", "create", "vm1", "--temp-size", "8M", "--disk", "data",
                     "--deallocated", expect=EXIT_REFUSED)
        self.json_cli("instance", "create", "vm1", "--temp-size", "8M", "--deallocated")
        self.run_cli("instance", "attach", "vm1", "data", expect=EXIT_REFUSED)
        h.pwrite(pattern(4 * KiB, 7), 0)  # the client never noticed
        self.assertEqual(h.pread(4 * KiB, 0), pattern(4 * KiB, 7))
        self.assertEqual(self.json_cli("instance", "show", "vm1")["disks"], [])

    def test_instances_are_served_again_after_a_restart(self):
        self.make_set("p", "platform")
        self.make_disk("data", "p", 8 * MiB)
        self.create_instance("vm1", ["data"])  # offline
        self.json_cli("instance", "create", "vm2", "--temp-size", "8M", "--deallocated")
        self.start_daemon()
        self.assertEqual(list_exports(self.sock), ["vm1/data", "vm1/temp"])
        self.run_cli("instance", "allocate", "vm2")
        self.assertEqual(list_exports(self.sock), ["vm1/data", "vm1/temp", "vm2/temp"])
        self.restart_daemon()
        self.assertEqual(list_exports(self.sock), ["vm1/data", "vm1/temp", "vm2/temp"])


class TempDisk(InstanceTest):
    """The temp disk: encrypted under its own key, gone with its instance's
    allocation and with the daemon."""

    def setUp(self):
        super().setUp()
        self.make_sets()
        self.make_disk("data", "c", 8 * MiB)
        self.create_instance("vm1", ["data"])

    def write_temp(self, h):
        block = marked_block()
        for offset in range(0, 4 * MiB, len(block)):
            h.pwrite(block, offset)
        h.flush()
        self.assertEqual(h.pread(len(block), 0), block)

    def test_tiers_have_their_own_keys_and_the_file_no_plaintext(self):
        self.start_daemon()
        self.write_temp(self.connect("vm1/temp"))
        self.assertNoMarker(self.temp_file())
        tiers = self.tiers()
        persisted, temp = tiers["persisted data"], tiers["temp"]
        self.assertTrue(persisted["served"] and temp["served"])
        self.assertEqual(persisted["layers"][0]["wrapped_by"]["provider"], "vault:local")
        self.assertEqual(temp["layers"][0]["wrapped_by"]["provider"], "platform")
        self.assertNotEqual(persisted["layers"][0]["dek_id"], temp["layers"][0]["dek_id"])
        shown = self.run_cli("instance", "show", "vm1").stdout
        self.assertIn(temp["layers"][0]["dek_id"], shown)
        self.assertIn("platform/platform-kek@1", shown)

    def test_deallocation_erases_the_temp_disk(self):
        self.start_daemon()
        h = self.connect("vm1/temp")
        self.write_temp(h)
        first_key = self.temp_dek_id()
        refused = self.run_cli("instance", "deallocate", "vm1", expect=EXIT_REFUSED)
        self.assertIn("in use", refused.stderr)
        self.disconnect(h)

        view = self.json_cli("instance", "deallocate", "vm1")
        self.assertFalse(view["allocated"])
        self.assertFalse(os.path.exists(self.temp_file()))
        self.assertEqual(list_exports(self.sock), [])
        self.daemon.wait_for_line(r"temp disk vm1/temp: erased")

        self.run_cli("instance", "allocate", "vm1")
        h = self.connect("vm1/temp")
        self.assertEqual(h.pread(64 * KiB, 0), bytes(64 * KiB))  # fresh and empty
        self.assertNotEqual(self.temp_dek_id(), first_key)

    def test_a_deallocation_that_fails_keeps_the_temp_disk(self):
        self.start_daemon()
        h = self.connect("vm1/temp")
        self.write_temp(h)
        self.disconnect(h)
        instances = os.path.join(self.state, "instances")
        if subprocess.run(["chattr", "+i", instances], capture_output=True).returncode != 0:
            self.skipTest("chattr +i is not supported here: cannot make the record unwritable")
        try:
            self.run_cli("instance", "deallocate", "vm1", expect=1)
        finally:
            subprocess.run(["chattr", "-i", instances], check=True)
        self.assertTrue(self.json_cli("instance", "show", "vm1")["allocated"])
        # Still allocated, so still the same temp disk with its data.
        self.assertEqual(self.connect("vm1/temp").pread(64 * KiB, 0), marked_block())

    def test_a_restart_erases_the_temp_disk(self):
        self.start_daemon()
        self.write_temp(self.connect("vm1/temp"))
        first_key = self.temp_dek_id()
        self.stop_daemon()
        self.assertFalse(os.path.exists(self.temp_file()))
        self.start_daemon()
        self.assertEqual(self.connect("vm1/temp").pread(64 * KiB, 0), bytes(64 * KiB))
        self.assertNotEqual(self.temp_dek_id(), first_key)

    def test_a_killed_daemons_temp_file_is_discarded_at_start(self):
        self.start_daemon()
        self.write_temp(self.connect("vm1/temp"))
        self.daemon.kill()
        self.assertTrue(os.path.exists(self.temp_file()))  # left behind, key gone
        self.assertNoMarker(self.temp_file())
        self.start_daemon()
        self.daemon.wait_for_line(r"temp disks: deleted 1 file\(s\)")
        self.assertEqual(self.connect("vm1/temp").pread(64 * KiB, 0), bytes(64 * KiB))

    def test_customer_key_revocation_leaves_the_temp_disk_alone(self):
        self.start_daemon("--key-check-interval", "1s", "--revocation-grace", "2s")
        data, temp = self.connect("vm1/data"), self.connect("vm1/temp")
        data.pwrite(pattern(64 * KiB, 3), 0)
        self.write_temp(temp)
        self.run_cli("vault", "key", "disable", "app-key")
        self.wait_for_disk_key_state("data", "revoked", timeout=15 * TIME_SCALE)
        self.assertNbdError(errno.EIO, data.pread, 4 * KiB, 0)
        # The temp disk keeps working throughout: its key is the platform's.
        temp.pwrite(pattern(64 * KiB, 4), 4 * MiB)
        self.assertEqual(temp.pread(64 * KiB, 4 * MiB), pattern(64 * KiB, 4))
        self.assertEqual(temp.pread(64 * KiB, 0), marked_block())
        status = self.json_cli("status")
        self.assertEqual(status["temp_disks"][0]["errors"], 0)
        self.run_cli("vault", "key", "enable", "app-key")
        self.wait_for_disk_key_state("data", "serving")
        self.assertEqual(data.pread(64 * KiB, 0), pattern(64 * KiB, 3))

    def test_a_drill_on_an_instance_disk_spares_its_temp_disk(self):
        self.start_daemon()
        data, temp = self.connect("vm1/data"), self.connect("vm1/temp")
        data.pwrite(pattern(1 * MiB, 5), 0)
        data.flush()
        self.write_temp(temp)
        self.disconnect(data)
        result = self.json_cli("drill", "data", "--grace", "1s", "--interval", "1s")
        self.assertEqual(result["export"], "vm1/data")
        self.assertTrue(result["data_intact"])
        self.assertIn("Input/output error", result["timeline"][1]["error"])
        self.assertEqual(temp.pread(64 * KiB, 0), marked_block())
