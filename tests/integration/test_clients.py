"""hostcryptd driven by the stock NBD clients: nbdinfo (export list, sizes,
block sizes, flags), nbdcopy (a 256 MiB image in and out) and fio
(ioengine=nbd, crc32c verification, several connections, every type).
"""
import hashlib
import json
import os
import socket
import subprocess

import nbd

from harness import (MAXIMUM_BLOCK, PREFERRED_BLOCK, TOOL_TIMEOUT, MiB, IntegrationTest,
                     nbd_uri, pattern)


def run_tool(test, argv, timeout=TOOL_TIMEOUT):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    test.assertEqual(result.returncode, 0, f"{' '.join(argv)}\nstdout: {result.stdout[-4000:]}"
                     f"\nstderr: {result.stderr[-4000:]}")
    return result


class NbdInfo(IntegrationTest):
    """`nbdinfo --list --json` shows every disk of the catalog as an export
    with its exact size, the disk's sector size as minimum block size, 4096
    preferred, at least 32 MiB maximum, and the advertised capabilities."""

    DISKS = {  # name: (set, size, sector size)
        "alpha": ("p", 64 * MiB, 4096),
        "bravo": ("c", 48 * MiB, 512),
        "charlie": ("d", 40 * MiB + 4096, 4096),
        "delta": ("d", 1 * MiB + 512, 512),
    }

    def test_list_shows_every_export_with_sizes_and_block_sizes(self):
        self.make_sets()
        for name, (set_name, size, sector) in self.DISKS.items():
            self.make_disk(name, set_name, size, sector)
        self.start_daemon()
        listed = json.loads(run_tool(self, ["nbdinfo", "--list", "--json",
                                            nbd_uri(self.sock, "")]).stdout)
        self.assertEqual(listed["protocol"], "newstyle-fixed")
        self.assertTrue(listed["structured"])
        exports = {e["export-name"]: e for e in listed["exports"]}
        self.assertEqual(sorted(exports), sorted(self.DISKS))
        for name, (_, size, sector) in self.DISKS.items():
            export = exports[name]
            self.assertEqual(export["export-size"], size, name)
            self.assertEqual(export["block_size_minimum"], sector, name)
            self.assertEqual(export["block_size_preferred"], PREFERRED_BLOCK, name)
            self.assertGreaterEqual(export["block_size_maximum"], MAXIMUM_BLOCK, name)
            self.assertEqual(
                {k: export[k] for k in ("is_read_only", "can_flush", "can_fua", "can_trim",
                                        "can_zero", "can_fast_zero", "can_cache",
                                        "can_multi_conn")},
                {"is_read_only": False, "can_flush": True, "can_fua": True, "can_trim": True,
                 "can_zero": True, "can_fast_zero": True, "can_cache": True,
                 "can_multi_conn": True}, name)

        # one export on its own (NBD_OPT_INFO / NBD_OPT_GO)
        single = json.loads(run_tool(self, ["nbdinfo", "--json",
                                            nbd_uri(self.sock, "bravo")]).stdout)
        self.assertEqual(len(single["exports"]), 1)
        self.assertEqual(single["exports"][0]["export-size"], 48 * MiB)
        self.assertEqual(single["exports"][0]["block_size_minimum"], 512)

        # an export that does not exist is refused, and the daemon goes on
        missing = subprocess.run(["nbdinfo", "--json", nbd_uri(self.sock, "zulu")],
                                 capture_output=True, text=True, timeout=60)
        self.assertNotEqual(missing.returncode, 0, missing.stdout)
        with self.assertRaises(nbd.Error):
            self.connect("zulu")
        self.assertTrue(self.daemon.alive())
        self.assertEqual(self.connect("alpha").get_size(), 64 * MiB)


    def test_tcp_listener_serves_the_same_exports(self):
        self.make_set("p", "platform")
        self.make_disk("tcp-disk", "p", 8 * MiB, 512)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))  # a free port, most likely still free below
            port = probe.getsockname()[1]
        self.start_daemon("--tcp", f"127.0.0.1:{port}")
        listed = json.loads(run_tool(self, ["nbdinfo", "--list", "--json",
                                            f"nbd://127.0.0.1:{port}"]).stdout)
        self.assertEqual([(e["export-name"], e["export-size"], e["block_size_minimum"])
                          for e in listed["exports"]], [("tcp-disk", 8 * MiB, 512)])
        h = nbd.NBD()
        h.set_export_name("tcp-disk")
        h.connect_tcp("127.0.0.1", str(port))
        self.handles.append(h)
        data = pattern(64 * 1024, 4)
        h.pwrite(data, 512)
        self.assertEqual(self.connect("tcp-disk").pread(len(data), 512), data)  # over unix


class NbdCopy(IntegrationTest):
    """nbdcopy copies a random 256 MiB image (with a 32 MiB hole) into a
    double-encrypted export and back out; the checksums match, and the hole
    reads as zeroes although the export held data there before."""

    SIZE = 256 * MiB

    def test_copy_in_and_out(self):
        self.make_sets()
        self.make_disk("big", "d", self.SIZE, 4096)
        self.start_daemon()
        image = os.path.join(self.root, "in.img")
        hole = (64 * MiB, 96 * MiB)
        digest = hashlib.sha256()
        with open(image, "wb") as f:
            for offset in range(0, self.SIZE, 16 * MiB):
                if hole[0] <= offset < hole[1]:
                    chunk = bytes(16 * MiB)
                    f.seek(16 * MiB, os.SEEK_CUR)  # sparse: nbdcopy sees a hole
                else:
                    chunk = os.urandom(16 * MiB)
                    f.write(chunk)
                digest.update(chunk)
            f.truncate(self.SIZE)
        # stale data where the image has its hole: the copy must zero it
        h = self.connect("big")
        h.pwrite(pattern(4 * MiB, 1), hole[0] + 8 * MiB)
        h.flush()
        self.disconnect(h)

        uri = nbd_uri(self.sock, "big")
        run_tool(self, ["nbdcopy", "--flush", image, uri])
        out = os.path.join(self.root, "out.img")
        run_tool(self, ["nbdcopy", uri, out])
        self.assertEqual(os.path.getsize(out), self.SIZE)
        with open(out, "rb") as f:
            copied = hashlib.sha256()
            for chunk in iter(lambda: f.read(16 * MiB), b""):
                copied.update(chunk)
        self.assertEqual(copied.hexdigest(), digest.hexdigest())
        # and once more over a single connection and a fresh daemon
        self.restart_daemon()
        out2 = os.path.join(self.root, "out2.img")
        run_tool(self, ["nbdcopy", "--connections=1", uri, out2])
        with open(out2, "rb") as f:
            again = hashlib.sha256()
            for chunk in iter(lambda: f.read(16 * MiB), b""):
                again.update(chunk)
        self.assertEqual(again.hexdigest(), digest.hexdigest())


class Fio(IntegrationTest):
    """fio's nbd engine, verify=crc32c, iodepth 32, two connections per job
    (numjobs=2, each on its own range), sequential and random, on every
    encryption type; and a 512-byte-sector disk with 512-byte requests."""

    def job_file(self, disk, min_block):
        path = os.path.join(self.root, f"{disk}.fio")
        with open(path, "w") as f:
            f.write(f"""[global]
ioengine=nbd
uri={nbd_uri(self.sock, disk)}
iodepth=32
numjobs=2
verify=crc32c
verify_fatal=1
do_verify=1
verify_state_save=0
end_fsync=1
randrepeat=1
group_reporting=0

[sequential]
rw=write
bs=128k
size=16m
offset=0
offset_increment=16m

[random]
stonewall
rw=randwrite
bsrange={min_block}-64k
blockalign={min_block}
size=8m
offset=32m
offset_increment=8m

[mixed]
stonewall
rw=randrw
rwmixread=30
bs=4k
size=4m
offset=48m
offset_increment=4m
""")
        return path

    def run_fio(self, disk, min_block):
        output = os.path.join(self.root, f"{disk}.json")
        result = subprocess.run(["fio", "--output-format=json", f"--output={output}",
                                 self.job_file(disk, min_block)],
                                capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                                cwd=self.root)  # fio may leave files behind
        report = ""
        if os.path.exists(output):
            with open(output) as f:
                report = f.read()
        self.assertEqual(result.returncode, 0, f"fio on {disk}: {result.stdout[-3000:]}"
                         f"{result.stderr[-3000:]}{report[-2000:]}")
        jobs = json.loads(report)["jobs"]
        self.assertEqual(sorted(j["jobname"] for j in jobs),
                         ["mixed"] * 2 + ["random"] * 2 + ["sequential"] * 2)
        for job in jobs:
            self.assertEqual(job["error"], 0, f"{disk} {job['jobname']}")
            if job["jobname"] != "mixed":
                size = {"sequential": 16 * MiB, "random": 8 * MiB}[job["jobname"]]
                self.assertEqual(job["write"]["io_bytes"], size, f"{disk} {job['jobname']}")
                self.assertEqual(job["read"]["io_bytes"], size,  # the verify pass
                                 f"{disk} {job['jobname']} verified")

    def test_fio_verifies_every_type(self):
        self.make_sets()
        for set_name in ("p", "c", "d"):
            self.make_disk(f"fio-{set_name}", set_name, 64 * MiB, 4096)
        self.make_disk("fio-p512", "p", 64 * MiB, 512)
        self.start_daemon()
        for set_name in ("p", "c", "d"):
            self.run_fio(f"fio-{set_name}", 4096)
        self.run_fio("fio-p512", 512)
        self.assertTrue(self.daemon.alive())
