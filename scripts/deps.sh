# Sourced by scripts/install and scripts/test: installs what a fresh Debian
# machine lacks. Debian packages through apt-get (as root, or with sudo),
# npm packages with `npm ci`.

# Packages banger uses at run time (doctor lists each with its purpose).
# qemu: the VMM where Firecracker cannot run; e2fsprogs: disks without mounting;
# kmod cpio xz-utils dpkg: the guest kernel and initrd; gcc libc6-dev: the guest
# agent (a static binary); mmdebstrap: the golden image from Debian packages;
# uidmap (newuidmap/newgidmap): image builds in a user namespace, without root.
RUNTIME_APT_PACKAGES=(qemu-system-x86 e2fsprogs openssh-client iproute2 kmod cpio xz-utils dpkg gzip
  ca-certificates gcc libc6-dev mmdebstrap debian-archive-keyring uidmap)
# Extra packages the test suites use: tmux drives the TUI, dig queries the DNS
# server, xfsprogs gives a reflink-capable filesystem to test clones on.
TEST_APT_PACKAGES=(tmux dnsutils xfsprogs)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_lists_present() {
  compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null
}

apt_install() {
  # The guest recipes `apt-get download` Debian packages: they need package lists even
  # when every host package is already installed.
  if ! apt_lists_present; then as_root apt-get update -qq; fi
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Root's VMMs and image builds run as this unprivileged system user, with its
# own subordinate ids for the build user namespace.
ensure_vmm_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  if ! getent passwd banger-vmm >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin banger-vmm
  fi
  grep -q '^banger-vmm:' /etc/subuid 2>/dev/null || usermod --add-subuids 2000000000-2000065535 banger-vmm
  grep -q '^banger-vmm:' /etc/subgid 2>/dev/null || usermod --add-subgids 2000000000-2000065535 banger-vmm
}

node_check() {
  if ! command -v node >/dev/null 2>&1; then
    echo "Node.js is missing: installing Debian's nodejs and npm"
    apt_install nodejs npm
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "banger needs Node.js >= 20 (found $(node --version))" >&2
    exit 1
  fi
}

npm_install() {
  # Reinstall only when package-lock.json changed since the last install.
  local stamp=node_modules/.banger-lock.sha
  local want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    npm ci --no-audit --no-fund
    echo "$want" > "$stamp"
  fi
}
