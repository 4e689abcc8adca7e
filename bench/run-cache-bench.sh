#!/usr/bin/env bash
# The host-cache benchmark: what hostcryptd's host cache does for a disk whose
# backing store is deliberately slow. In one run, on the same kind of slow
# store, three disks of one instance are served with the three cache modes:
#
#   none         every request goes to the slow store
#   read-only    reads are kept in the cache; writes go through to the store
#   read-write   writes land in the cache and are written back behind them
#
# The slow store: each disk is created as an ordinary file P, renamed to
# P.real, and P becomes a FUSE file (nbdfuse) whose reads and writes go
# through nbdkit's delay filter to P.real (rdelay/wdelay, 2 ms by default).
# hostcryptd opens P with O_DIRECT, so every request reaches the FUSE file
# instead of the page cache in front of it. The cache files live in the
# benchmark's private temp directory on local storage, never on the FUSE
# mounts. fio (ioengine=nbd, one connection, iodepth 32; bench/fio/cache-jobs.fio)
# measures 4k random reads in a working set that fits the cache (read once
# first), 4k random writes in the same working set and over the whole disk,
# and 128k sequential writes over the whole disk. The table (IOPS, MB/s,
# p99 latency, ratio to no cache, and the cache's counters for each job) goes
# between the cache-bench markers of bench/README.md.
#
#   bench/run-cache-bench.sh [--runtime SECONDS] [--delay MS] [--disk-size SIZE]
#                            [--cache-size SIZE] [--working-set SIZE]
#                            [--modes LIST] [--quick] [--no-write] [--no-build]
#                            [--build-dir DIR] [--hostcryptd PATH] [--hostcrypt PATH]
#
# Needs root: FUSE mounts (/dev/fuse) and umount.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
usage: bench/run-cache-bench.sh [options]
  --runtime SECONDS    measured seconds per timed fio job (default 15; plus 1 s ramp-up)
  --delay MS           delay the slow store adds to every read and write, in
                       milliseconds (nbdkit delay filter; default 2)
  --disk-size SIZE     size of each disk, binary units (default 256M)
  --cache-size SIZE    host cache size per disk (default 128M)
  --working-set SIZE   region the random read and "hot" write jobs touch; at
                       most half the cache (default 64M)
  --modes LIST         comma-separated cache modes to measure (default
                       none,read-only,read-write; the README is written only
                       when all three are measured)
  --quick              smoke run: 5 s per job; implies --no-write
  --no-write           print the table, leave bench/README.md alone
  --no-build           do not build hostcrypt and hostcryptd (release preset) first
  --build-dir DIR      take hostcrypt and hostcryptd from this build tree
                       (default build/release; implies --no-build)
  --hostcryptd PATH    the daemon (default DIR/daemon/hostcryptd; implies --no-build)
  --hostcrypt PATH     the CLI (default DIR/tools/hostcrypt; implies --no-build)
EOF
}

# ---------------------------------------------------------------- options --

command_line=("$@")  # quoted in the README so the run can be repeated
runtime="" delay_ms=2 disk_size=256M cache_size=128M working_set=64M
modes_list=none,read-only,read-write
quick=0 write_readme=1 build=1 ramp=1
build_dir="" hostcryptd="" hostcrypt=""
while (($#)); do
    case $1 in
        --runtime) runtime=${2:?}; shift 2 ;;
        --delay) delay_ms=${2:?}; shift 2 ;;
        --disk-size) disk_size=${2:?}; shift 2 ;;
        --cache-size) cache_size=${2:?}; shift 2 ;;
        --working-set) working_set=${2:?}; shift 2 ;;
        --modes) modes_list=${2:?}; shift 2 ;;
        --quick) quick=1; shift ;;
        --no-write) write_readme=0; shift ;;
        --no-build) build=0; shift ;;
        --build-dir) build_dir=${2:?}; shift 2 ;;
        --hostcryptd) hostcryptd=${2:?}; shift 2 ;;
        --hostcrypt) hostcrypt=${2:?}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
if ((quick)); then
    : "${runtime:=5}"
    write_readme=0
fi
: "${runtime:=15}"
# Explicit binaries or build trees are not rebuilt: whoever names them built them.
if [[ -n $build_dir || -n $hostcryptd || -n $hostcrypt ]]; then
    build=0
fi
: "${build_dir:=build/release}"
: "${hostcryptd:=$build_dir/daemon/hostcryptd}" "${hostcrypt:=$build_dir/tools/hostcrypt}"

die() { echo "run-cache-bench: $*" >&2; exit 1; }
say() { echo "run-cache-bench: $*" >&2; }
[[ $runtime =~ ^[1-9][0-9]*$ ]] || die "--runtime takes whole seconds ≥ 1"
[[ $delay_ms =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--delay takes milliseconds, e.g. 2 or 0.5"
for size in "$disk_size" "$cache_size" "$working_set"; do
    [[ $size =~ ^[1-9][0-9]*[KMG]$ ]] || die "sizes take a number with K, M or G (binary units): $size"
done
disk_bytes=$(numfmt --from=iec "$disk_size")
cache_bytes=$(numfmt --from=iec "$cache_size")
working_set_bytes=$(numfmt --from=iec "$working_set")
((2 * working_set_bytes <= cache_bytes)) || die "--working-set must be at most half of --cache-size"
((cache_bytes < disk_bytes)) || die "--cache-size must be smaller than --disk-size, or nothing ever fills it"
IFS=, read -r -a modes <<<"$modes_list"
for mode in "${modes[@]}"; do
    [[ $mode == none || $mode == read-only || $mode == read-write ]] ||
        die "--modes takes none, read-only and read-write: $mode"
done
[[ ${modes[0]} == none ]] || die "--modes must start with none: it is what the others are compared to"
all_modes=0
[[ ${modes[*]} == "none read-only read-write" ]] && all_modes=1
((EUID == 0)) || die "needs root: the slow store is a FUSE mount (/dev/fuse, umount)"

# ------------------------------------------------------- tools and builds --

scripts/install-deps.sh
python=/usr/bin/python3  # the system python: python3-libnbd lives there
for tool in nbdfuse nbdkit fio findmnt; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -e /dev/fuse ]] || die "no /dev/fuse: FUSE is not available here"
nbdkit --dump-plugin file >/dev/null 2>&1 || die "nbdkit has no file plugin"
nbdkit --filter=delay null --dump-plugin >/dev/null 2>&1 || die "nbdkit has no delay filter"

if ((build)); then
    cmake --preset release >/dev/null
    cmake --build --preset release --target hostcrypt hostcryptd >/dev/null
fi
for binary in "$hostcryptd" "$hostcrypt"; do
    [[ -x $binary ]] || die "no $binary (build the release preset, or pass --build-dir)"
done

# Whether this build has the host cache at all. Without it only the
# uncached mode can be measured (--modes none), to check the slow store.
has_cache=1
"$hostcrypt" instance attach --help 2>&1 | grep -q -- '--cache' || has_cache=0
"$hostcryptd" --help 2>&1 | grep -q -- '--cache-dir' || has_cache=0
if ((!has_cache)); then
    [[ ${modes[*]} == none ]] ||
        die "$hostcrypt or $hostcryptd has no host cache (instance attach --cache, --cache-dir); only --modes none can run"
    say "this build has no host cache: measuring the uncached disk alone"
fi

# --------------------------------------------------- private work and exit --

# One private directory (mode 0700 from mktemp) on local storage holds the
# state, the real backing files, the FUSE files over them, the cache files,
# the temp disk, the sockets and the results.
work=$(mktemp -d "${TMPDIR:-/tmp}/hostcrypt-cache-bench.XXXXXX")
daemon_pid=""
declare -A fuse_pid=()  # FUSE file → nbdfuse pid, for the exit trap

# shellcheck source=bench/lib/processes.sh
source bench/lib/processes.sh
# shellcheck source=bench/lib/readme-section.sh
source bench/lib/readme-section.sh

# SIGTERM, up to LIMIT seconds to go, then SIGKILL; returns the exit status.
stop_daemon() {
    local limit=${1:-60} pid=$daemon_pid
    daemon_pid=""
    [[ -n $pid ]] || return 0
    stop_process "$pid" "$limit"
}

# Unmounts a FUSE file: nbdfuse then exits, and nbdkit with it. A mount that
# will not go (something still holds it) is detached lazily, and an nbdfuse
# that does not exit within 10 s is killed.
unmount_slow_store() {
    local file=$1 pid=${fuse_pid[$1]}
    unset "fuse_pid[$file]"
    umount "$file" 2>/dev/null || true
    if findmnt -n "$file" >/dev/null 2>&1; then
        umount -l "$file" 2>/dev/null || true
    fi
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? file
    stop_daemon 60 || true
    # A failed run shows what the daemon said before its directory goes.
    if ((status != 0)) && [[ -s $work/hostcryptd.log ]]; then
        echo "run-cache-bench: the end of hostcryptd's log:" >&2
        tail -n 20 "$work/hostcryptd.log" >&2
    fi
    for file in "${!fuse_pid[@]}"; do
        unmount_slow_store "$file"
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ slow storage --

# Puts FILE behind the delay: FILE becomes FILE.real, and a FUSE file at
# FILE reads and writes it through nbdkit's delay filter. nbdkit runs as
# nbdfuse's child over stdin/stdout (-s) and goes when the mount goes.
make_slow() {
    local file=$1
    mv "$file" "$file.real"
    touch "$file"
    nbdfuse -P "$file.nbdfuse-pid" "$file" --command nbdkit -s --filter=delay \
        file "$file.real" "rdelay=${delay_ms}ms" "wdelay=${delay_ms}ms" \
        2>>"$work/nbdfuse.log" &
    fuse_pid[$file]=$!
    for _ in $(seq 300); do
        [[ -s $file.nbdfuse-pid ]] && findmnt -n "$file" >/dev/null 2>&1 && return 0
        kill -0 "${fuse_pid[$file]}" 2>/dev/null || break
        sleep 0.1
    done
    cat "$work/nbdfuse.log" >&2
    die "nbdfuse did not mount $file"
}

# What the slow store does by itself: fio straight on a scratch FUSE file
# (O_DIRECT, io_uring, iodepth 32), 3 s per pattern. Printed with the table.
probe_slow_store() {
    local probe=$work/probe.img pattern out
    # Written in full first, like the disks: writes overwrite, as they do there.
    dd if=/dev/zero of="$probe" bs=1M count=$((disk_bytes >> 20)) status=none
    make_slow "$probe"
    for pattern in randread:4k randwrite:4k write:128k; do
        out=$work/probe-${pattern%%:*}-${pattern##*:}.json
        timeout 60 fio --eta=never --name=probe --filename="$probe" --direct=1 \
            --ioengine=io_uring --iodepth=32 --rw="${pattern%%:*}" --bs="${pattern##*:}" \
            --norandommap=1 --time_based=1 --runtime=3 \
            --output-format=json --output="$out" >"$out.log" 2>&1 || {
            cat "$out.log" >&2
            die "fio could not measure the slow store"
        }
    done
    unmount_slow_store "$probe"
    rm -f "$probe" "$probe.real" "$probe.nbdfuse-pid"
}

# ---------------------------------------------------------------- hostcrypt --

# The hostcrypt CLI on the benchmark's own state directory, logged, bounded.
hc() {
    timeout 600 "$hostcrypt" --state "$work/state" "$@" >>"$work/hostcrypt.log" 2>&1 || {
        cat "$work/hostcrypt.log" >&2
        die "hostcrypt $* failed"
    }
}

# `hostcrypt status` as JSON, into a file.
status_to() {
    timeout 60 "$hostcrypt" --state "$work/state" --json status >"$1" 2>>"$work/hostcrypt.log" ||
        die "hostcrypt status failed"
}

# One field of one disk's cache from a status file ("" when absent).
cache_field() {
    "$python" - "$1" "$2" "$3" <<'EOF'
import json, sys
status, disk, field = sys.argv[1:]
for d in json.load(open(status))["disks"]:
    if d["name"] == disk:
        value = (d.get("cache") or {}).get(field)
        print("" if value is None else value)
EOF
}

start_hostcryptd() {
    local cache_flags=()
    ((has_cache)) && cache_flags=(--cache-dir "$work/cache")
    mkdir -m 0700 "$work/cache" "$work/temp"
    # An empty config file: built-in defaults, whatever /etc/hostcrypt says.
    : >"$work/hostcryptd.toml"
    # O_DIRECT (--direct-io): the slow store's reads must not be answered by
    # the page cache in front of the FUSE file, which would be a host cache
    # of its own. Its own control socket, never the system daemon's.
    "$hostcryptd" --config "$work/hostcryptd.toml" --state "$work/state" \
        --unix "$work/hostcryptd.sock" --control "$work/control.sock" --direct-io \
        --temp-dir "$work/temp" "${cache_flags[@]}" 2>"$work/hostcryptd.log" &
    daemon_pid=$!
    wait_until_serving hostcryptd "$daemon_pid" "$work/hostcryptd.sock" "$work/hostcryptd.log" \
        "hostcryptd: ready"
}

uri_of() { echo "nbd+unix:///$1?socket=$work/hostcryptd.sock"; }

# Before anything is measured, an export must serve correctly: the right
# size, data written at both ends reads back, and none of the files given
# (the real backing file, the cache file) holds that data in the clear.
check_export() {
    local export=$1
    shift
    timeout 300 "$python" - "$(uri_of "$export")" "$disk_bytes" "$@" <<'EOF' || die "$export failed its check"
import mmap, os, sys
import nbd

uri, size, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
h = nbd.NBD()
h.connect_uri(uri)
if h.get_size() != size:
    sys.exit(f"export size {h.get_size()}, expected {size}")
pattern = os.urandom(1 << 20)
for offset in (0, size - len(pattern)):
    h.pwrite(pattern, offset)
    if h.pread(len(pattern), offset) != pattern:
        sys.exit(f"data written at {offset} did not read back")
h.flush()
h.shutdown()
for path in files:
    if os.path.getsize(path) == 0:
        continue
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m.find(pattern[:65536]) >= 0:
            sys.exit(f"plaintext found in {path}")
EOF
}

# ---------------------------------------------------------------- measuring --

results=$work/results
mkdir -p "$results"

# Runs one section of cache-jobs.fio against one export; JSON lands in OUT.
run_fio() {
    local section=$1 export=$2 out=$3 limit=$4
    NBD_URI=$(uri_of "$export") RUNTIME=$runtime RAMP=$ramp WORKING_SET=$working_set_bytes \
        timeout "$limit" fio --eta=never --section="$section" \
        --output-format=json --output="$out" bench/fio/cache-jobs.fio >"$out.log" 2>&1 || {
        cat "$out.log" >&2
        die "fio $section on $export failed or timed out"
    }
}

# IOPS and MB/s of one fio result, for the progress line.
summary() {
    "$python" -c 'import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
s = j["write" if j["write"]["io_bytes"] else "read"]
print("%.0f IOPS, %.1f MB/s" % (s["iops"], s["bw_bytes"] / 1e6))' "$1"
}

# Waits (at most 300 s) until a read-write cache has written back all it
# holds dirty; prints the seconds it took.
wait_for_writeback() {
    local disk=$1 started=$SECONDS dirty
    while :; do
        status_to "$work/drain.json"
        dirty=$(cache_field "$work/drain.json" "$disk" dirty_bytes)
        [[ -z $dirty || $dirty == 0 ]] && break
        ((SECONDS - started < 300)) || die "$disk still has $dirty dirty bytes after 300 s"
        sleep 0.5
    done
    echo $((SECONDS - started))
}

load=$(cut -d' ' -f1 /proc/loadavg)
say "the slow store alone (${delay_ms} ms per request)"
probe_slow_store

# One disk per mode, 4096-byte sectors, platform keys, preallocated, each on
# its own slow store.
hc set create plat --type platform
for mode in "${modes[@]}"; do
    hc disk create "bench-$mode" --set plat --size "$disk_size" --sector-size 4096 \
        --path "$work/bench-$mode.hcd" --preallocate
    make_slow "$work/bench-$mode.hcd"
done
start_hostcryptd

# Each disk, still under its own name and uncached, is checked and then
# written once in full, so reads read real ciphertext from the store.
for mode in "${modes[@]}"; do
    check_export "bench-$mode" "$work/bench-$mode.hcd.real"
    run_fio prefill "bench-$mode" "$work/prefill-$mode.json" 600
done
say "prefilled ${#modes[@]} disks of $disk_size through the slow store"

# One instance; each disk attached with its cache mode: vm1/bench-MODE.
hc instance create vm1 --temp-size 16M
for mode in "${modes[@]}"; do
    if ((has_cache)); then
        cache_flags=(--cache "$mode")
        [[ $mode != none ]] && cache_flags+=(--cache-size "$cache_size")
    else
        cache_flags=()
    fi
    hc instance attach vm1 "bench-$mode" "${cache_flags[@]}"
done
status_to "$work/attached.json"
declare -A cache_file=()
for mode in "${modes[@]}"; do
    [[ $mode == none ]] && continue
    got=$(cache_field "$work/attached.json" "bench-$mode" mode)
    [[ $got == "$mode" ]] || die "bench-$mode is attached with cache mode '$got', not $mode"
    cache_file[$mode]=$(cache_field "$work/attached.json" "bench-$mode" file)
    [[ ${cache_file[$mode]} == "$work/cache/"* ]] ||
        die "bench-$mode's cache file is ${cache_file[$mode]:-not shown}, not in $work/cache"
done
for mode in "${modes[@]}"; do
    check_export "vm1/bench-$mode" "$work/bench-$mode.hcd.real" ${cache_file[$mode]:+"${cache_file[$mode]}"}
    if [[ $mode == read-write ]]; then
        wait_for_writeback "bench-$mode" >/dev/null
    fi
done
say "all ${#modes[@]} exports serve correctly: ${modes[*]/#/vm1/bench-}"

# Job by job, each mode in turn. Before a job every cache has written back
# whatever it held dirty, so no job pays for the one before it; the status
# before and after each job gives the cache's counters for that job.
jobs=(rand-read-4k rand-write-4k rand-write-4k-wide seq-write-128k)
started=$SECONDS
for job in "${jobs[@]}"; do
    for mode in "${modes[@]}"; do
        export=vm1/bench-$mode
        if [[ $job == rand-read-4k ]]; then
            run_fio warm "$export" "$results/warm.$mode.json" 600
            status_to "$results/warmed.$mode.status.json"
        fi
        status_to "$results/$job.$mode.before.json"
        run_fio "$job" "$export" "$results/$job.$mode.json" $((ramp + runtime + 120))
        status_to "$results/$job.$mode.after.json"
        drain=""
        if [[ $mode == read-write && $job == *write* ]]; then
            drain=$(wait_for_writeback "bench-$mode")
        fi
        echo "$drain" >"$results/$job.$mode.drain"
        hits=$(cache_field "$results/$job.$mode.after.json" "bench-$mode" hits)
        misses=$(cache_field "$results/$job.$mode.after.json" "bench-$mode" misses)
        say "$job $mode: $(summary "$results/$job.$mode.json")${hits:+; cache hits $hits, misses $misses (cumulative)}${drain:+; written back in ${drain} s}"
    done
done
say "measured in $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s (load average before: $load)"

stop_daemon 120 || die "hostcryptd exited with status $? on SIGTERM (expected 0)"

# ----------------------------------------------------------------- the table --

table=$("$python" - "$results" "$work" "${jobs[*]}" "${modes[*]}" "$cache_bytes" \
    "$working_set_bytes" "$disk_bytes" <<'EOF'
import json, os, sys

results, work = sys.argv[1], sys.argv[2]
jobs, modes = sys.argv[3].split(), sys.argv[4].split()
cache, working_set, disk = (int(x) for x in sys.argv[5:8])
MiB = 1 << 20

def fio(job, mode):
    j = json.load(open(f"{results}/{job}.{mode}.json"))["jobs"][0]
    side = j["write" if "write" in job else "read"]
    p99 = side["clat_ns"]["percentile"].get("99.000000", 0) / 1e6
    return side["iops"], side["bw_bytes"] / 1e6, p99

def disk_status(path, mode):
    for d in json.load(open(path))["disks"]:
        if d["name"] == f"bench-{mode}":
            return d
    raise SystemExit(f"bench-{mode} missing from {path}")

def counters(job, mode):
    before = disk_status(f"{results}/{job}.{mode}.before.json", mode)
    after = disk_status(f"{results}/{job}.{mode}.after.json", mode)
    cb, ca = before.get("cache") or {}, after.get("cache") or {}
    delta = lambda k: (ca[k] - cb.get(k, 0)) if isinstance(ca.get(k), int) else None
    return {
        "written": after["bytes_written"] - before["bytes_written"],
        "hits": delta("hits"), "misses": delta("misses"),
        "written_back": delta("written_back_bytes"),
        "dirty": ca.get("dirty_bytes"), "used": ca.get("used_bytes"),
    }

def mib(n):
    return "—" if n is None else f"{n / MiB:.0f}"

def count(n):
    return "—" if n is None else f"{n}"

def drain(job, mode):
    s = open(f"{results}/{job}.{mode}.drain").read().strip()
    return f"{s} s" if s else "—"

print("| job | cache | IOPS | MB/s | p99 latency ms | vs no cache | written MiB "
      "| cache hits | cache misses | written back MiB | dirty at end MiB | write-back after |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for job in jobs:
    base = fio(job, "none")[0]
    for mode in modes:
        iops, mbs, p99 = fio(job, mode)
        c = counters(job, mode)
        ratio = "1.00×" if mode == "none" else f"{iops / base:.2f}×"
        print(f"| {job} | {mode} | {iops:.0f} | {mbs:.1f} | {p99:.2f} | {ratio} | "
              f"{mib(c['written']) if 'write' in job else '—'} | {count(c['hits'])} | "
              f"{count(c['misses'])} | {mib(c['written_back'])} | {mib(c['dirty'])} | "
              f"{drain(job, mode)} |")

print()
probe = {}
for name in ("randread-4k", "randwrite-4k", "write-128k"):
    j = json.load(open(f"{work}/probe-{name}.json"))["jobs"][0]
    side = j["write" if j["write"]["io_bytes"] else "read"]
    probe[name] = (side["iops"], side["bw_bytes"] / 1e6)
print("The slow store by itself (fio on a scratch FUSE file, O_DIRECT, io_uring, "
      f"iodepth 32, 3 s each): 4k random read {probe['randread-4k'][0]:.0f} IOPS, "
      f"4k random write {probe['randwrite-4k'][0]:.0f} IOPS, "
      f"128k sequential write {probe['write-128k'][1]:.0f} MB/s.")
for mode in modes:
    if mode == "none":
        continue
    warmed = disk_status(f"{results}/warmed.{mode}.status.json", mode).get("cache") or {}
    print(f"After warming, the {mode} cache held {mib(warmed.get('used_bytes'))} MiB "
          f"({count(warmed.get('hits'))} hits, {count(warmed.get('misses'))} misses so far).")
EOF
)

versions="$(nbdkit --version), $(nbdfuse --version | head -1), $(fio --version)"
commit=$(git -C "$(dirname "$hostcryptd")" describe --always --dirty 2>/dev/null || echo unknown)
section=$work/section.md
bench_section cache-bench run-cache-bench.sh \
    "(hostcrypt $commit; ${delay_ms} ms per request on the slow store; $disk_size disks, $cache_size caches,
$working_set working set; ${runtime} s per job after ${ramp} s ramp-up)" \
    "$versions" "$load" "$table" "${command_line[@]}" >"$section"

echo "$table"
why_not=""
if ((!write_readme)); then
    why_not="--no-write or --quick"
elif ((!all_modes)); then
    why_not="not every cache mode was measured"
fi
publish_bench_section cache-bench "$section" run-cache-bench "$why_not" || die "cannot write the table"
