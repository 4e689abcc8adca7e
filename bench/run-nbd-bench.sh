#!/usr/bin/env bash
# The data-path benchmark: the same fio jobs (ioengine=nbd over a unix socket,
# iodepth 32; 128k sequential read and write, 4k random read and write) against
# hostcryptd, one disk per encryption type, and, in the same run and on the
# same machine, against its peers:
#
#   nbdkit-file     nbdkit file plugin on a raw file: no encryption, the ceiling
#   nbdkit-luks     nbdkit file plugin + luks filter on a LUKS1 image
#   qemu-nbd-luks   qemu-nbd on the same kind of LUKS1 image
#   hostcrypt-*     hostcryptd serving a platform, a customer and a double disk
#
# Every backing file lives in one private temp directory, in the page cache;
# every server listens on a unix socket there and is killed on exit. Targets
# are measured interleaved: each trial runs each job on every target, starting
# at a different target each time, and the table reports medians, because the
# machine's speed drifts between minutes. The result (MB/s, IOPS, % of the
# ceiling, hostcrypt vs nbdkit-luks, and each hostcrypt target against its
# goal) goes between the nbd-bench markers of bench/README.md.
#
#   bench/run-nbd-bench.sh [--trials N] [--runtime SECONDS] [--size SIZE]
#                          [--sector-size 512|4096] [--quick] [--no-write]
#                          [--no-build] [--hostcryptd PATH] [--hostcrypt PATH]
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
usage: bench/run-nbd-bench.sh [options]
  --trials N           measurements per job and target; medians are reported (default 5)
  --runtime SECONDS    measured seconds per fio job (default 6; plus 1 s ramp-up)
  --size SIZE          size of every disk, binary units: 256M, 1G (default 1G)
  --sector-size N      hostcrypt crypto sector size, 512 or 4096 (default 4096)
  --quick              smoke run: 1 trial, 3 s per job, 256M disks; implies --no-write
  --no-write           print the table, leave bench/README.md alone
  --no-build           do not build hostcrypt and hostcryptd (release preset) first
  --hostcryptd PATH    the daemon (default build/release/daemon/hostcryptd)
  --hostcrypt PATH     the CLI (default build/release/tools/hostcrypt)
EOF
}

# ---------------------------------------------------------------- options --

command_line=("$@")  # quoted in the README so the run can be repeated
trials="" runtime="" size="" sector_size=4096
quick=0 write_readme=1 build=1 ramp=1
hostcryptd="" hostcrypt=""
while (($#)); do
    case $1 in
        --trials) trials=${2:?}; shift 2 ;;
        --runtime) runtime=${2:?}; shift 2 ;;
        --size) size=${2:?}; shift 2 ;;
        --sector-size) sector_size=${2:?}; shift 2 ;;
        --quick) quick=1; shift ;;
        --no-write) write_readme=0; shift ;;
        --no-build) build=0; shift ;;
        --hostcryptd) hostcryptd=${2:?}; shift 2 ;;
        --hostcrypt) hostcrypt=${2:?}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
# --quick only fills in what was not given, so `--quick --size 1G` works; a
# one-trial table is not worth keeping, so it never reaches the README.
if ((quick)); then
    : "${trials:=1}" "${runtime:=3}" "${size:=256M}"
    write_readme=0
fi
: "${trials:=5}" "${runtime:=6}" "${size:=1G}"
# Explicit paths are not rebuilt: whoever names a binary built it.
if [[ -n $hostcryptd || -n $hostcrypt ]]; then
    build=0
fi
: "${hostcryptd:=build/release/daemon/hostcryptd}" "${hostcrypt:=build/release/tools/hostcrypt}"

die() { echo "run-nbd-bench: $*" >&2; exit 1; }
say() { echo "run-nbd-bench: $*" >&2; }
[[ $trials =~ ^[1-9][0-9]*$ ]] || die "--trials takes a whole number ≥ 1"
[[ $runtime =~ ^[1-9][0-9]*$ ]] || die "--runtime takes whole seconds ≥ 1"
[[ $size =~ ^[1-9][0-9]*[KMG]$ ]] || die "--size takes a number with K, M or G (binary units)"
[[ $sector_size == 512 || $sector_size == 4096 ]] || die "--sector-size is 512 or 4096"
size_bytes=$(numfmt --from=iec "$size")
# Five backing files must stay in the page cache, or the run measures the disk.
available=$(($(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) * 1024))
if ((5 * size_bytes > available * 3 / 5)); then
    say "warning: 5 disks of $size may not stay in the page cache ($((available >> 30)) GiB available)"
fi

# ------------------------------------------------------- tools and builds --

scripts/install-deps.sh
python=/usr/bin/python3  # the system python: python3-libnbd lives there

# hostcryptd is built by the release preset once the daemon exists in the
# tree; until then the hostcrypt rows are skipped with a message, and the
# peers are still measured. A hostcryptd that exists but fails is an error.
if ((build)) && grep -qs 'hostcryptd' daemon/CMakeLists.txt; then
    cmake --preset release >/dev/null
    cmake --build --preset release --target hostcrypt hostcryptd >/dev/null
fi
with_hostcrypt=1
for binary in "$hostcryptd" "$hostcrypt"; do
    if [[ ! -x $binary ]]; then
        say "no $binary: skipping the hostcrypt targets (build the release preset, or pass --hostcryptd/--hostcrypt)"
        with_hostcrypt=0
    fi
done

# --------------------------------------------------- private work and exit --

# One private directory (mode 0700 from mktemp) holds every backing file,
# socket, secret and result. It is on an ordinary file system, so backing
# files live in the page cache: the benchmark measures the servers, not a disk.
work=$(mktemp -d "${TMPDIR:-/tmp}/hostcrypt-nbd-bench.XXXXXX")
declare -A server_pid=()  # target or server name → pid, for the exit trap

# Sends SIGTERM, gives the server 10 s to go, then SIGKILL. Returns the
# server's exit status, so hostcryptd's clean shutdown can be checked.
# shellcheck source=bench/lib/processes.sh
source bench/lib/processes.sh
# shellcheck source=bench/lib/readme-section.sh
source bench/lib/readme-section.sh

stop_server() {
    local name=$1 pid=${server_pid[$1]}
    unset "server_pid[$name]"
    stop_process "$pid" 10
}

cleanup() {
    local name
    for name in "${!server_pid[@]}"; do
        stop_server "$name" || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits until a server serves (bench/lib/processes.sh).
wait_until_ready() {
    wait_until_serving "$1" "${server_pid[$1]}" "${@:2}"
}

# ------------------------------------------------------------- the targets --

targets=()        # in table order; the ceiling first
declare -A uri=() # target → nbd+unix URI fio connects to
declare -A backing=() encrypted=()

# The ceiling: a raw file, served by nbdkit's file plugin with its defaults
# (parallel thread model, 16 threads per connection, page cache on).
start_nbdkit_file() {
    fallocate -l "$size_bytes" "$work/raw.img"
    nbdkit --foreground --exit-with-parent --unix "$work/nbdkit-file.sock" \
        file "$work/raw.img" 2>"$work/nbdkit-file.log" &
    server_pid[nbdkit-file]=$!
    wait_until_ready nbdkit-file "$work/nbdkit-file.sock" "$work/nbdkit-file.log"
    targets+=(nbdkit-file)
    uri[nbdkit-file]="nbd+unix:///ceiling?socket=$work/nbdkit-file.sock"
    backing[nbdkit-file]=$work/raw.img encrypted[nbdkit-file]=0
}

# One LUKS1 image per encrypted peer, AES-256-XTS with plain64 IVs and
# 512-byte sectors (what qemu and dm-crypt's LUKS1 use), created by qemu-img.
# iter-time only sets how long opening the key slot takes (nbdkit-luks does
# that on every connection); the data path does not depend on it.
# qemu-img times PBKDF2 with the thread's CPU clock to pick an iteration
# count; where that clock ticks coarsely it can read 0 ms and qemu-img gives
# up ("Unable to get accurate CPU usage"), so a failed attempt is retried.
create_luks_image() {
    local image=$1 attempt
    for attempt in 1 2 3 4 5; do
        timeout 120 qemu-img create -q -f luks \
            --object "secret,id=sec0,file=$work/passphrase" \
            -o key-secret=sec0,cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64 \
            -o hash-alg=sha256,iter-time=50,preallocation=falloc \
            "$image" "$size_bytes" && return 0
        rm -f "$image"
        say "qemu-img could not create $image (attempt $attempt of 5)"
    done
    die "qemu-img could not create the LUKS image $image"
}

# nbdkit's file plugin under its luks filter, with nbdkit's defaults.
start_nbdkit_luks() {
    create_luks_image "$work/nbdkit-luks.img"
    nbdkit --foreground --exit-with-parent --unix "$work/nbdkit-luks.sock" \
        file "$work/nbdkit-luks.img" --filter=luks "passphrase=+$work/passphrase" \
        2>"$work/nbdkit-luks.log" &
    server_pid[nbdkit-luks]=$!
    wait_until_ready nbdkit-luks "$work/nbdkit-luks.sock" "$work/nbdkit-luks.log"
    targets+=(nbdkit-luks)
    uri[nbdkit-luks]="nbd+unix:///luks?socket=$work/nbdkit-luks.sock"
    backing[nbdkit-luks]=$work/nbdkit-luks.img encrypted[nbdkit-luks]=1
}

# qemu-nbd with the configuration that served it best here: the page cache
# (cache=writeback, its default; cache=none would bypass the page cache the
# other targets use) and aio=io_uring, which beat aio=threads on a quiet
# machine by about 1.5x on 4k random reads and 1.2-1.4x on 128k reads, and
# matched it on writes. --persistent and --shared=0
# keep it serving across the check, the prefill and every fio connection.
start_qemu_nbd() {
    create_luks_image "$work/qemu-nbd-luks.img"
    qemu-nbd --persistent --shared=0 --export-name=qemu-luks \
        --cache=writeback --aio=io_uring \
        --object "secret,id=sec0,file=$work/passphrase" \
        --image-opts "driver=luks,key-secret=sec0,file.driver=file,file.aio=io_uring,file.filename=$work/qemu-nbd-luks.img" \
        --socket="$work/qemu-nbd-luks.sock" 2>"$work/qemu-nbd-luks.log" &
    server_pid[qemu-nbd-luks]=$!
    wait_until_ready qemu-nbd-luks "$work/qemu-nbd-luks.sock" "$work/qemu-nbd-luks.log"
    targets+=(qemu-nbd-luks)
    uri[qemu-nbd-luks]="nbd+unix:///qemu-luks?socket=$work/qemu-nbd-luks.sock"
    backing[qemu-nbd-luks]=$work/qemu-nbd-luks.img encrypted[qemu-nbd-luks]=1
}

# The hostcrypt CLI on the benchmark's own state directory, logged, bounded.
hc() {
    timeout 600 "$hostcrypt" --state "$work/state" "$@" >>"$work/hostcrypt.log" 2>&1 || {
        cat "$work/hostcrypt.log" >&2
        die "hostcrypt $* failed"
    }
}

# One hostcrypt disk per encryption type, all served by one hostcryptd.
# Preallocated, so reads read ciphertext and writes overwrite, as on the peers.
start_hostcryptd() {
    local type set
    hc vault key create bench-key --type rsa-3072
    hc set create plat --type platform
    hc set create cust --type customer --key bench-key
    hc set create dbl --type double --key bench-key
    for type in platform customer double; do
        case $type in platform) set=plat ;; customer) set=cust ;; double) set=dbl ;; esac
        hc disk create "bench-$type" --set "$set" --size "$size" \
            --sector-size "$sector_size" --path "$work/bench-$type.hcd" --preallocate
        targets+=("hostcrypt-$type")
        uri[hostcrypt-$type]="nbd+unix:///bench-$type?socket=$work/hostcryptd.sock"
        backing[hostcrypt-$type]=$work/bench-$type.hcd encrypted[hostcrypt-$type]=1
    done
    # An empty config file: built-in defaults (one reactor per CPU), whatever
    # /etc/hostcrypt/hostcryptd.toml says; the page cache, like the peers.
    : >"$work/hostcryptd.toml"
    # Its own control socket: never the system daemon's /run/hostcrypt one.
    "$hostcryptd" --config "$work/hostcryptd.toml" --state "$work/state" \
        --unix "$work/hostcryptd.sock" --control "$work/control.sock" --no-direct-io \
        2>"$work/hostcryptd.log" &
    server_pid[hostcryptd]=$!
    wait_until_ready hostcryptd "$work/hostcryptd.sock" "$work/hostcryptd.log" "hostcryptd: ready"
}

# Before anything is measured, each target must serve correctly: the right
# size, data written at both ends reads back, and the backing file holds that
# data in the clear on the ceiling and nowhere on the encrypted targets (the
# ceiling's hit shows the search works).
check_target() {
    local target=$1
    timeout 120 "$python" - "${uri[$target]}" "$size_bytes" "${backing[$target]}" \
        "${encrypted[$target]}" <<'EOF' || die "$target failed its check"
import mmap, os, sys
import nbd

uri, size, backing, encrypted = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
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
with open(backing, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
    found = m.find(pattern[:65536]) >= 0
if found == encrypted:
    sys.exit("plaintext found in the backing file" if found else
             "the data is not in the backing file in the clear")
EOF
}

# ---------------------------------------------------------------- measuring --

jobs=(seq-read-128k seq-write-128k rand-read-4k rand-write-4k)
results=$work/results
mkdir -p "$results"

# Runs one fio job file section against one target; fio's JSON lands in OUT.
run_fio() {
    local job_file=$1 section=$2 target=$3 out=$4 limit=$5
    NBD_URI=${uri[$target]} RUNTIME=$runtime RAMP=$ramp \
        timeout "$limit" fio --eta=never --section="$section" \
        --output-format=json --output="$out" "$job_file" >"$out.log" 2>&1 || {
        cat "$out.log" >&2
        die "fio $section on $target failed or timed out"
    }
}

# Prints the MB/s of one fio result, for the progress line.
mbps() {
    "$python" -c 'import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(round((j["read"]["bw_bytes"] + j["write"]["bw_bytes"]) / 1e6))' "$1"
}

printf 'benchpass-%s' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$work/passphrase"
load=$(cut -d' ' -f1 /proc/loadavg)
start_nbdkit_file
start_nbdkit_luks
start_qemu_nbd
if ((with_hostcrypt)); then
    start_hostcryptd
fi
for target in "${targets[@]}"; do
    check_target "$target"
done
say "all ${#targets[@]} targets serve correctly: ${targets[*]}"

# Write every byte once through each target, so reads read real data, then
# flush it out of the dirty state so no target's measurement pays for
# another's writeback.
for target in "${targets[@]}"; do
    run_fio bench/fio/nbd-prefill.fio prefill "$target" "$work/prefill-$target.json" 900
done
sync -f "$work"

n=${#targets[@]}
minutes=$(((trials * ${#jobs[@]} * n * (runtime + ramp + 1) + 59) / 60))
say "measuring: $trials trials x ${#jobs[@]} jobs x $n targets x ${runtime}s, about $minutes min"
started=$SECONDS
for ((trial = 0; trial < trials; trial++)); do
    for j in "${!jobs[@]}"; do
        job=${jobs[j]}
        # Rotate the order per trial and job: no target always goes first,
        # right after a write job, or last, when drift has had longest to act.
        for ((k = 0; k < n; k++)); do
            target=${targets[(k + trial + j) % n]}
            out=$results/$job.$target.$trial.json
            run_fio bench/fio/nbd-jobs.fio "$job" "$target" "$out" $((ramp + runtime + 60))
            say "trial $((trial + 1))/$trials $job $target: $(mbps "$out") MB/s"
            # A write job leaves the file dirty; flush it now, unmeasured.
            if [[ $job == *write* ]]; then
                sync -f "$work"
            fi
        done
    done
done
say "measured in $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s (load average before: $load)"

if ((with_hostcrypt)); then
    stop_server hostcryptd || die "hostcryptd exited with status $? on SIGTERM (expected 0)"
fi

# ----------------------------------------------------------------- the table --

# Medians over trials. "% of ceiling" and "vs nbdkit-luks" are medians of the
# per-trial ratios: within a trial the two runs were close in time, so the
# drift between trials cancels out of the ratio.
table=$("$python" - "$results" "$trials" "${jobs[*]}" "${targets[*]}" <<'EOF'
import json, statistics, sys

results, trials = sys.argv[1], int(sys.argv[2])
jobs, targets = sys.argv[3].split(), sys.argv[4].split()
CEILING, LUKS = "nbdkit-file", "nbdkit-luks"
GOALS = {  # target → (fraction of the ceiling on every job, times nbdkit-luks on 128k jobs)
    "hostcrypt-platform": (0.90, 3.0),
    "hostcrypt-customer": (0.90, 3.0),
    "hostcrypt-double": (0.75, None),
}

def measure(job, target, trial):
    j = json.load(open(f"{results}/{job}.{target}.{trial}.json"))["jobs"][0]
    side = j["write" if "write" in job else "read"]
    return side["bw_bytes"] / 1e6, side["iops"]

median = statistics.median
rows = {}
print("| job | target | MB/s | IOPS | % of ceiling | vs nbdkit-luks | trial spread |")
print("|---|---|---:|---:|---:|---:|---:|")
for job in jobs:
    for target in targets:
        runs = [measure(job, target, t) for t in range(trials)]
        mb = [r[0] for r in runs]
        of_ceiling = median(r[0] / measure(job, CEILING, t)[0] for t, r in enumerate(runs))
        vs_luks = median(r[0] / measure(job, LUKS, t)[0] for t, r in enumerate(runs))
        rows[job, target] = (of_ceiling, vs_luks)
        spread = (max(mb) - min(mb)) / median(mb) * 100
        print(f"| {job} | {target} | {median(mb):.0f} | {median(r[1] for r in runs):.0f} | "
              + ("ceiling" if target == CEILING else f"{of_ceiling * 100:.1f}%") + " | "
              + (f"{vs_luks:.2f}×" if target.startswith("hostcrypt") else "—")
              + f" | {spread:.0f}% |")

print()
present = [t for t in GOALS if t in targets]
if not present:
    print("No hostcrypt rows: hostcryptd was not available, so no goal is judged.")
for target in present:
    floor, times = GOALS[target]
    job, (worst, _) = min(((j, rows[j, target]) for j in jobs), key=lambda x: x[1][0])
    verdict = ("met" if worst >= floor
               else f"missed by {(floor - worst) * 100:.1f} points")
    print(f"- `{target}` within {100 - floor * 100:.0f}% of the ceiling on every job: "
          f"**{verdict}** (lowest: {job} at {worst * 100:.1f}%)")
    if times:
        big = [j for j in jobs if j.endswith("128k")]
        job, (_, worst) = min(((j, rows[j, target]) for j in big), key=lambda x: x[1][1])
        verdict = "met" if worst >= times else f"missed by {(1 - worst / times) * 100:.0f}%"
        print(f"- `{target}` at least {times:.0f}× nbdkit-luks on 128k jobs: "
              f"**{verdict}** (lowest: {job} at {worst:.2f}×)")
EOF
)

versions="$(nbdkit --version), $(qemu-nbd --version | head -1 | cut -d' ' -f1-2), $(fio --version)"
section=$work/section.md
bench_section nbd-bench run-nbd-bench.sh \
    "($trials trials of ${runtime} s per job and target, $size disks, hostcrypt sector size $sector_size)" \
    "$versions" "$load" "$table" "${command_line[@]}" >"$section"

echo "$table"
why_not=""
if ((!write_readme)); then
    why_not="--no-write or --quick"
elif ((!with_hostcrypt)); then
    why_not="the table has no hostcrypt rows"
fi
publish_bench_section nbd-bench "$section" run-nbd-bench "$why_not" || die "cannot write the table"
