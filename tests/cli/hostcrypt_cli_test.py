"""End-to-end tests of the `hostcrypt` command line on temporary state
directories. Each test starts from an empty state directory; disk_io (a
test-only tool) writes and reads disk data through the library so that data
can be checked across what the CLI does to keys and headers.

Run by ctest with HOSTCRYPT_BIN and DISK_IO_BIN set.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

HOSTCRYPT = os.environ.get("HOSTCRYPT_BIN", "hostcrypt")
DISK_IO = os.environ.get("DISK_IO_BIN", "disk_io")

# Exit codes, as docs/operations.md documents them.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_EXISTS = 0, 1, 2, 3, 4
EXIT_KEY_UNUSABLE, EXIT_REFUSED, EXIT_STATE_DAMAGED, EXIT_INCOMPLETE = 5, 6, 7, 8


class CliTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hostcrypt-cli-")
        self.state = os.path.join(self.root, "state")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def run_cli(self, *args, expect=EXIT_OK):
        result = subprocess.run([HOSTCRYPT, "--state", self.state, *args], capture_output=True,
                                text=True, timeout=120)
        self.assertEqual(result.returncode, expect,
                         f"hostcrypt {' '.join(args)}\nstdout: {result.stdout}\n"
                         f"stderr: {result.stderr}")
        return result

    def json_cli(self, *args, expect=EXIT_OK):
        return json.loads(self.run_cli("--json", *args, expect=expect).stdout)

    def error_of(self, *args, expect):
        """The one stderr line of a failing command, checked to be a single line."""
        stderr = self.run_cli(*args, expect=expect).stderr
        self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
        self.assertTrue(stderr.startswith("hostcrypt: "), stderr)
        return stderr.strip()

    def write_disk(self, disk, offset, data):
        subprocess.run([DISK_IO, self.state, "write", disk, str(offset)], input=data, check=True,
                       timeout=120)

    def read_disk(self, disk, offset, length):
        return subprocess.run([DISK_IO, self.state, "read", disk, str(offset), str(length)],
                              capture_output=True, check=True, timeout=120).stdout

    def make_key(self, name="app-key", key_type="aes-256"):
        return self.json_cli("vault", "key", "create", name, "--type", key_type)

    def make_disk_of_each_type(self, size="8M"):
        self.make_key()
        self.run_cli("set", "create", "p", "--type", "platform")
        self.run_cli("set", "create", "c", "--type", "customer", "--key", "app-key")
        self.run_cli("set", "create", "d", "--type", "double", "--key", "app-key")
        for set_name in ("p", "c", "d"):
            self.run_cli("disk", "create", f"disk-{set_name}", "--set", set_name, "--size", size)
        return ["disk-p", "disk-c", "disk-d"]


class Sets(CliTest):
    def test_sets_of_each_type_are_created_listed_shown_and_deleted(self):
        self.make_key()
        self.run_cli("set", "create", "p", "--type", "platform")
        self.run_cli("set", "create", "c", "--type", "customer", "--key", "app-key",
                     "--key-version", "1")
        self.run_cli("set", "create", "d", "--type", "double", "--key", "app-key")
        listed = self.json_cli("set", "list")
        self.assertEqual([s["name"] for s in listed], ["c", "d", "p"])
        shown = self.json_cli("set", "show", "c")
        self.assertEqual((shown["type"], shown["vault"], shown["key"], shown["key_version"]),
                         ("customer", "local", "app-key", 1))
        self.assertEqual(self.json_cli("set", "show", "d")["key_version"], "latest")
        self.assertIn("local/app-key@latest", self.run_cli("set", "list").stdout)
        self.run_cli("set", "delete", "p")
        self.assertEqual([s["name"] for s in self.json_cli("set", "list")], ["c", "d"])

    def test_a_set_with_disks_cannot_be_deleted(self):
        self.make_disk_of_each_type()
        message = self.error_of("set", "delete", "d", expect=EXIT_REFUSED)
        self.assertIn("still has disks (disk-d)", message)

    def test_set_mistakes_are_reported(self):
        self.make_key()
        self.assertIn("needs a customer key",
                      self.error_of("set", "create", "x", "--type", "customer", expect=EXIT_USAGE))
        self.assertIn("takes no customer key",
                      self.error_of("set", "create", "x", "--type", "platform", "--key", "app-key",
                                    expect=EXIT_USAGE))
        self.assertIn("unknown encryption type",
                      self.error_of("set", "create", "x", "--type", "triple", expect=EXIT_USAGE))
        self.assertIn("no-such-key",
                      self.error_of("set", "create", "x", "--type", "double", "--key",
                                    "no-such-key", expect=EXIT_NOT_FOUND))
        self.run_cli("set", "create", "x", "--type", "platform")
        self.assertIn("already exists",
                      self.error_of("set", "create", "x", "--type", "platform", expect=EXIT_EXISTS))
        self.assertIn("no encryption set named y",
                      self.error_of("set", "show", "y", expect=EXIT_NOT_FOUND))


class VaultKeys(CliTest):
    def test_key_life_cycle(self):
        created = self.make_key("k1", "rsa-2048")
        self.assertEqual((created["type"], created["latest_version"], created["enabled"]),
                         ("rsa-2048", 1, True))
        self.assertEqual(self.json_cli("vault", "key", "rotate", "k1")["key"]["latest_version"], 2)
        self.assertFalse(self.json_cli("vault", "key", "disable", "k1")["enabled"])
        self.assertTrue(self.json_cli("vault", "key", "enable", "k1")["enabled"])
        expiring = self.json_cli("vault", "key", "expire", "k1", "--expires",
                                 "2030-01-01T00:00:00Z")
        self.assertEqual(expiring["expires"], "2030-01-01T00:00:00Z")
        self.assertIsNotNone(self.json_cli("vault", "key", "delete", "k1")["deleted"])
        self.assertEqual(self.json_cli("vault", "key", "list"), [])
        self.assertEqual(len(self.json_cli("vault", "key", "list", "--include-deleted")), 1)
        self.assertIsNone(self.json_cli("vault", "key", "recover", "k1")["deleted"])
        self.assertEqual([v["version"] for v in self.json_cli("vault", "key", "show", "k1")
                          ["versions"]], [1, 2])

    def test_purge_respects_protection_and_retention(self):
        self.make_key("protected")
        self.run_cli("vault", "key", "delete", "protected")
        message = self.error_of("vault", "key", "purge", "protected", expect=EXIT_REFUSED)
        self.assertIn("purge-protected", message)
        self.assertIn("it can be purged from", message)
        self.json_cli("vault", "key", "create", "loose", "--type", "aes-256",
                      "--no-purge-protection")
        self.assertIn("soft-delete it first",
                      self.error_of("vault", "key", "purge", "loose", expect=EXIT_REFUSED))
        self.run_cli("vault", "key", "delete", "loose")
        self.assertTrue(self.json_cli("vault", "key", "purge", "loose")["purged"])
        self.error_of("vault", "key", "show", "loose", expect=EXIT_NOT_FOUND)

    def test_every_operation_is_in_the_audit_log(self):
        self.make_key("k")
        self.run_cli("vault", "key", "disable", "k")
        self.run_cli("vault", "key", "delete", "k")
        self.run_cli("vault", "key", "purge", "k", expect=EXIT_REFUSED)
        with open(os.path.join(self.state, "vaults", "local", "audit.log")) as log:
            entries = [json.loads(line) for line in log]
        self.assertEqual([e["operation"] for e in entries],
                         ["create-key", "disable", "delete", "purge"])
        self.assertTrue(all("via hostcrypt" in e["actor"] for e in entries))
        self.assertEqual(entries[-1]["result"][:6], "error:")


class Disks(CliTest):
    def test_disks_of_each_type_hold_data(self):
        disks = self.make_disk_of_each_type()
        listed = self.json_cli("disk", "list")
        self.assertEqual([(d["name"], d["type"]) for d in listed],
                         [("disk-c", "customer"), ("disk-d", "double"), ("disk-p", "platform")])
        for disk in disks:
            data = os.urandom(64 * 1024)
            self.write_disk(disk, 4096 * 10, data)
            self.assertEqual(self.read_disk(disk, 4096 * 10, len(data)), data)
            self.assertEqual(self.read_disk(disk, 0, 4096), bytes(4096))  # never written

    def test_disk_show_names_each_layer_key(self):
        self.make_disk_of_each_type()
        shown = self.json_cli("disk", "show", "disk-d")
        self.assertEqual((shown["size"], shown["sector_size"], shown["type"]),
                         (8 << 20, 4096, "double"))
        self.assertEqual([(l["layer"], l["kek"]["provider"]) for l in shown["layers"]],
                         [("inner", "vault:local"), ("outer", "platform")])
        self.assertTrue(shown["health"]["usable"])
        text = self.run_cli("disk", "show", "disk-d").stdout
        self.assertIn("layer (inner):  aes-256-xts-plain64, DEK wrapped by vault:local/app-key@1",
                      text)

    def test_sector_sizes_and_preallocation(self):
        self.run_cli("set", "create", "p", "--type", "platform")
        self.run_cli("disk", "create", "small", "--set", "p", "--size", "1M", "--sector-size",
                     "512", "--preallocate")
        shown = self.json_cli("disk", "show", "small")
        self.assertEqual(shown["sector_size"], 512)
        path = shown["path"]
        self.assertEqual(os.stat(path).st_size, (1 << 20) * 2)  # 1 MiB header area + data
        self.assertGreaterEqual(os.stat(path).st_blocks * 512, 1 << 20)  # written, not sparse
        self.assertEqual(self.read_disk("small", 0, 1 << 20), bytes(1 << 20))

    def test_delete_erases_the_header_before_removing(self):
        self.make_disk_of_each_type()
        path = self.json_cli("disk", "show", "disk-p")["path"]
        kept = os.path.join(self.root, "kept.img")
        shutil.copy(path, kept)
        self.run_cli("disk", "delete", "disk-p")
        self.assertFalse(os.path.exists(path))
        self.error_of("disk", "show", "disk-p", expect=EXIT_NOT_FOUND)
        self.run_cli("disk", "create", "keeper", "--set", "c", "--size", "1M")
        keeper = self.json_cli("disk", "show", "keeper")["path"]
        self.run_cli("disk", "delete", "keeper", "--keep-backing")
        self.assertTrue(os.path.exists(keeper))
        with open(keeper, "rb") as f:
            self.assertNotEqual(f.read(8), bytes(8))  # --keep-backing leaves the header

    def test_disk_check_reports_a_damaged_header_copy(self):
        self.make_disk_of_each_type()
        self.assertTrue(self.json_cli("disk", "check", "disk-c")["ok"])
        path = self.json_cli("disk", "show", "disk-c")["path"]
        with open(path, "r+b") as f:
            f.seek(16384 + 100)  # inside the metadata of header copy 1
            f.write(b"X")
        result = self.json_cli("disk", "check", "disk-c", expect=EXIT_INCOMPLETE)
        self.assertFalse(result["ok"])
        self.assertTrue(result["header_copies"][0]["valid"])
        self.assertIn("checksum", result["header_copies"][1]["problem"])
        self.assertEqual(len(self.read_disk("disk-c", 0, 4096)), 4096)  # still opens


class Rotation(CliTest):
    def test_data_survives_vault_and_platform_rotation(self):
        disks = self.make_disk_of_each_type()
        data = {disk: os.urandom(128 * 1024) for disk in disks}
        for disk, payload in data.items():
            self.write_disk(disk, 0, payload)

        rotated = self.json_cli("vault", "key", "rotate", "app-key")
        self.assertEqual(sorted(r["disk"] for r in rotated["rewrapped"] if r["changed"]),
                         ["disk-c", "disk-d"])
        platform = self.json_cli("platform", "rotate")
        self.assertEqual(platform["version"], 2)
        self.assertEqual(sorted(r["disk"] for r in platform["rewrapped"] if r["changed"]),
                         ["disk-d", "disk-p"])
        self.assertEqual(platform["removed_versions"], [1])

        def versions(disk):
            return [(l["kek"]["provider"], l["kek"]["version"])
                    for l in self.json_cli("disk", "show", disk)["layers"]]
        self.assertEqual(versions("disk-p"), [("platform", 2)])
        self.assertEqual(versions("disk-c"), [("vault:local", 2)])
        self.assertEqual(versions("disk-d"), [("vault:local", 2), ("platform", 2)])
        for disk, payload in data.items():
            self.assertEqual(self.read_disk(disk, 0, len(payload)), payload, disk)
        self.assertEqual([v["version"] for v in self.json_cli("platform", "show")], [2])

    def test_set_rotation_follows_a_pinned_version_and_is_idempotent(self):
        self.make_key()
        self.run_cli("vault", "key", "rotate", "app-key")
        self.run_cli("set", "create", "pinned", "--type", "customer", "--key", "app-key",
                     "--key-version", "1")
        self.run_cli("disk", "create", "x", "--set", "pinned", "--size", "1M")
        self.assertEqual(self.json_cli("disk", "show", "x")["layers"][0]["kek"]["version"], 1)
        again = self.json_cli("set", "rotate", "pinned")
        self.assertEqual([r["changed"] for r in again], [False])

    def test_rotation_with_a_missing_disk_reports_it_and_resumes(self):
        disks = self.make_disk_of_each_type()
        path = self.json_cli("disk", "show", "disk-d")["path"]
        os.rename(path, path + ".away")
        result = self.json_cli("platform", "rotate", expect=EXIT_INCOMPLETE)
        failed = [r for r in result["rewrapped"] if "error" in r]
        self.assertEqual([r["disk"] for r in failed], ["disk-d"])
        self.assertEqual(result["removed_versions"], [])  # version 1 is still needed
        os.rename(path + ".away", path)
        resumed = self.json_cli("set", "rotate", "d")
        self.assertEqual([r["changed"] for r in resumed], [True])
        for disk in disks:
            self.assertEqual(len(self.read_disk(disk, 0, 4096)), 4096)

    def test_rotate_if_older_than_leaves_a_young_platform_key(self):
        self.make_disk_of_each_type()
        result = self.json_cli("platform", "rotate", "--if-older-than", "1d")
        self.assertFalse(result["rotated"])
        self.assertEqual((result["version"], result["if_older_than"]), (1, "1d"))
        self.assertEqual(result["removed_versions"], [])
        self.assertEqual([r["changed"] for r in result["rewrapped"]], [False, False])
        human = self.run_cli("platform", "rotate", "--if-older-than", "24h").stdout
        self.assertRegex(human, r"^platform key version 1 \(created \S+Z\) is younger than 1d: "
                                r"not rotated\n$")
        self.assertEqual([v["version"] for v in self.json_cli("platform", "show")], [1])

    def test_rotate_if_older_than_rotates_an_old_platform_key_and_rewraps(self):
        disks = self.make_disk_of_each_type()
        data = {disk: os.urandom(64 * 1024) for disk in disks}
        for disk, payload in data.items():
            self.write_disk(disk, 0, payload)
        time.sleep(2)  # the CLI has no clock to inject: let version 1 age past 1s
        result = self.json_cli("platform", "rotate", "--if-older-than", "1s")
        self.assertTrue(result["rotated"])
        self.assertEqual((result["version"], result["if_older_than"]), (2, "1s"))
        self.assertEqual(sorted(r["disk"] for r in result["rewrapped"] if r["changed"]),
                         ["disk-d", "disk-p"])
        self.assertEqual(result["removed_versions"], [1])
        self.assertEqual(self.json_cli("disk", "show", "disk-p")["layers"][0]["kek"]["version"],
                         2)
        for disk, payload in data.items():
            self.assertEqual(self.read_disk(disk, 0, len(payload)), payload, disk)
        self.assertFalse(self.json_cli("platform", "rotate", "--if-older-than", "1d")["rotated"])
        time.sleep(2)
        human = self.run_cli("platform", "rotate", "--if-older-than", "1s").stdout
        self.assertIn("platform key is now at version 3\n", human)
        self.assertIn("disk disk-p: re-wrapped platform/platform-kek@2 -> platform/platform-kek@3",
                      human)

    def test_rotate_if_older_than_finishes_a_rotation_left_incomplete(self):
        self.make_disk_of_each_type()
        path = self.json_cli("disk", "show", "disk-d")["path"]
        os.rename(path, path + ".away")
        self.json_cli("platform", "rotate", expect=EXIT_INCOMPLETE)
        os.rename(path + ".away", path)
        # A daily timer's next run: the key is young, but disk-d still needs version 2.
        human = self.run_cli("platform", "rotate", "--if-older-than", "90d").stdout
        self.assertIn("is younger than 90d: not rotated\n", human)
        self.assertIn("disk disk-d: re-wrapped platform/platform-kek@1 -> platform/platform-kek@2",
                      human)
        self.assertIn("removed unused versions: 1\n", human)
        self.assertNotIn("disk-p", human)  # already current: not news
        self.assertEqual([v["version"] for v in self.json_cli("platform", "show")], [2])

    def test_rotate_if_older_than_refuses_what_is_not_a_duration(self):
        for age, why in (("90", "it has no unit"), ("", "it is empty"), ("0d", "it is zero"),
                         ("1.5h", "it has a fraction")):
            message = self.error_of("platform", "rotate", "--if-older-than", age,
                                    expect=EXIT_USAGE)
            self.assertIn(f'--if-older-than: "{age}" is not a duration: {why}', message)
        self.assertFalse(os.path.exists(os.path.join(self.state, "platform")))


class Revocation(CliTest):
    def test_disabling_the_customer_key_makes_its_disks_unusable_until_enabled(self):
        self.make_disk_of_each_type()
        payload = os.urandom(8192)
        self.write_disk("disk-d", 0, payload)
        self.run_cli("vault", "key", "disable", "app-key")
        for disk in ("disk-c", "disk-d"):
            health = self.json_cli("disk", "show", disk)["health"]
            self.assertFalse(health["usable"])
            self.assertEqual(health["layers"][0]["state"], "disabled")
            check = self.json_cli("disk", "check", disk, expect=EXIT_INCOMPLETE)
            self.assertTrue(any("disabled" in p for p in check["problems"]), check)
        self.assertTrue(self.json_cli("disk", "show", "disk-p")["health"]["usable"])
        failed = subprocess.run([DISK_IO, self.state, "read", "disk-d", "0", "4096"],
                                capture_output=True, text=True)
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("disabled", failed.stderr)

        self.run_cli("vault", "key", "enable", "app-key")
        self.assertTrue(self.json_cli("disk", "show", "disk-d")["health"]["usable"])
        self.assertEqual(self.read_disk("disk-d", 0, len(payload)), payload)

    def test_expiry_and_deletion_are_reported_as_such(self):
        self.make_disk_of_each_type()
        self.run_cli("vault", "key", "expire", "app-key", "--expires", "2020-01-01T00:00:00Z")
        self.assertEqual(self.json_cli("disk", "show", "disk-c")["health"]["layers"][0]["state"],
                         "expired")
        self.run_cli("vault", "key", "expire", "app-key", "--expires", "never")
        self.run_cli("vault", "key", "delete", "app-key")
        self.assertEqual(self.json_cli("disk", "show", "disk-c")["health"]["layers"][0]["state"],
                         "deleted")
        self.run_cli("vault", "key", "recover", "app-key")
        self.assertTrue(self.json_cli("disk", "show", "disk-c")["health"]["usable"])


class Errors(CliTest):
    def test_usage_errors_exit_2_with_one_line(self):
        self.run_cli("set", "create", "p", "--type", "platform")
        self.assertIn("not a size",
                      self.error_of("disk", "create", "x", "--set", "p", "--size", "12Q",
                                    expect=EXIT_USAGE))
        self.assertIn("is not a valid date",
                      self.error_of("vault", "key", "create", "k", "--expires",
                                    "2026-02-30T00:00:00Z", expect=EXIT_USAGE))
        self.assertIn("sector size 1024",
                      self.error_of("disk", "create", "x", "--set", "p", "--size", "1M",
                                    "--sector-size", "1024", expect=EXIT_USAGE))
        self.assertIn("invalid disk name",
                      self.error_of("disk", "create", "../x", "--set", "p", "--size", "1M",
                                    expect=EXIT_USAGE))
        result = subprocess.run([HOSTCRYPT, "disk", "frobnicate"], capture_output=True, text=True)
        self.assertEqual(result.returncode, EXIT_USAGE)

    def test_json_errors_carry_kind_and_exit_code(self):
        result = self.run_cli("--json", "disk", "show", "nope", expect=EXIT_NOT_FOUND)
        error = json.loads(result.stdout)["error"]
        self.assertEqual((error["kind"], error["exit_code"]), ("not-found", EXIT_NOT_FOUND))
        self.assertIn("no disk named nope", error["message"])

    def test_a_foreign_or_damaged_backing_file_is_named_as_such(self):
        self.make_disk_of_each_type()
        path = self.json_cli("disk", "show", "disk-p")["path"]
        with open(path, "r+b") as f:
            f.write(b"\x7fELF" + bytes(16380) + b"\x7fELF")
            f.seek(16384)
            f.write(b"\x7fELF")
        self.assertIn("not a hostcrypt disk",
                      self.error_of("disk", "show", "disk-p", expect=EXIT_STATE_DAMAGED))
        path = self.json_cli("disk", "show", "disk-c")["path"]
        os.truncate(path, 1 << 20)
        problems = self.json_cli("disk", "check", "disk-c", expect=EXIT_INCOMPLETE)["problems"]
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("needing 9437184 bytes", problems[0])

    def test_unsafe_state_permissions_are_refused(self):
        self.make_key()
        os.chmod(self.state, 0o755)
        self.assertIn("chmod 0700",
                      self.error_of("vault", "key", "list", expect=EXIT_FAILED))

    def test_a_second_process_cannot_use_the_state_at_once(self):
        import fcntl
        self.make_key()
        with open(os.path.join(self.state, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.assertIn("in use by another hostcrypt process",
                          self.error_of("vault", "key", "list", expect=EXIT_FAILED))


if __name__ == "__main__":
    unittest.main()
