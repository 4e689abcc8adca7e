#!/usr/bin/env bash
# Installs every Debian bookworm package that hostcrypt needs to build, test
# and benchmark. Idempotent: when everything is present it asks apt nothing
# and prints nothing. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
    # build
    g++ cmake ninja-build pkg-config
    libssl-dev libgcrypt20-dev liburing-dev libfmt-dev libnbd-dev libsystemd-dev
    nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
    # test: unit, cross-checks and the real NBD clients the daemon is driven by
    catch2 clang-format openssl python3 python3-cryptography
    python3-libnbd libnbd-bin fio
    # systemd-analyze (tests/systemd) and the unit directory's pkg-config file
    systemd
    # the Linux test host (tests/host): QEMU (qboot.rom comes with it, in
    # qemu-system-data), the guest's static busybox and initramfs, depmod and
    # modprobe for the kernel's modules, and what the guest test runs
    qemu-system-x86 busybox-static cpio kmod nbd-client e2fsprogs
    # benchmark peers (bench/)
    nbdkit qemu-utils
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done
((${#missing[@]} == 0)) && exit 0

as_root=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || {
        echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
        exit 1
    }
    as_root=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
