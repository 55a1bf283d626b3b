# Sourced by scripts/install and scripts/test: installs what a fresh Debian
# machine lacks. Debian packages through apt-get (as root, or with sudo),
# npm packages with `npm ci`.

# Packages banger uses at run time (doctor lists each with its purpose).
# qemu: the VMM where Firecracker cannot run; e2fsprogs: disks without mounting;
# kmod cpio xz-utils dpkg: the guest kernel and initrd; gcc libc6-dev: the guest
# agent (a static binary); mmdebstrap: the golden image from Debian packages;
# nftables conntrack: the per-user VM firewall (isolation, egress policy);
# sudo: a normal user runs the privileged helper; acl: the Firecracker jail grants file access without chown;
# uidmap (newuidmap/newgidmap): image builds in a user namespace, without root.
RUNTIME_APT_PACKAGES=(qemu-system-x86 e2fsprogs openssh-client iproute2 nftables conntrack kmod cpio xz-utils dpkg gzip
  ca-certificates gcc libc6-dev mmdebstrap debian-archive-keyring sudo acl uidmap)
# Extra packages the test suites use: tmux drives the TUI, dig queries the DNS
# server, xfsprogs gives a reflink-capable filesystem to test clones on, ping probes
# guest-to-guest isolation in the firewall tests, sshd serves the remote-host e2e test.
TEST_APT_PACKAGES=(tmux dnsutils xfsprogs iputils-ping openssh-server)

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

# The pinned Node version and banger_node_user_prefix come from the launchers' shared file.
. "$(dirname "${BASH_SOURCE[0]}")/../bin/node-runtime.sh"

# True when `$1` (a node binary) is a maintained LTS at least as new as banger's target:
# its --version first (what a person would check), then its release line.
node_is_suitable() {
  local v
  v=$("$1" --version 2>/dev/null) || return 1
  v=${v#v}
  [[ "${v%%.*}" =~ ^[0-9]+$ ]] && [ "${v%%.*}" -ge 24 ] || return 1
  [ -n "$("$1" -p 'process.release.lts || ""' 2>/dev/null)" ]
}

banger_node_prefix() {
  if [ "$(id -u)" -eq 0 ]; then echo "$BANGER_NODE_ROOT_PREFIX"; else banger_node_user_prefix; fi
}

# Installs Node $BANGER_NODE_VERSION from the npm registry (node-linux-<arch>; npm checks its
# integrity) and the npm CLI that goes with it, into banger's prefix; once per version.
install_banger_node() {
  local prefix=$1 arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "banger's Node is built for x86_64 and aarch64 only, not $(uname -m)" >&2; exit 1 ;;
  esac
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: installing Debian's npm to fetch banger's Node"
    apt_install nodejs npm
  fi
  echo "installing banger's Node $BANGER_NODE_VERSION into $prefix"
  local tmp="$prefix.partial.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$prefix")"
  npm install --global --prefix "$tmp" --no-audit --no-fund --loglevel=error \
    "node-linux-$arch@$BANGER_NODE_VERSION" "npm@$BANGER_NPM_VERSION"
  "$tmp/bin/node" --version >/dev/null
  # banger's npm keeps the machine's global npm settings (registry, CA file, proxy):
  # its own global config file lives in its prefix.
  local gconf
  gconf=$(npm config get globalconfig 2>/dev/null || true)
  if [ -f "$gconf" ]; then mkdir -p "$tmp/etc" && cp "$gconf" "$tmp/etc/npmrc"; fi
  rm -rf "$prefix"
  mv "$tmp" "$prefix"
  # Older pinned versions are no longer used by anything.
  find "$(dirname "$prefix")" -mindepth 1 -maxdepth 1 -name 'node-*' ! -name "node-$BANGER_NODE_VERSION" \
    -exec rm -rf {} +
}

# Makes `node` and `npm` banger's Node for the rest of the script: the host's when it is a
# maintained LTS >= 24, otherwise the pinned build in banger's prefix (installed if need be).
node_check() {
  if command -v node >/dev/null 2>&1 && node_is_suitable node; then
    echo "Node.js: the host's $(node --version) ($(command -v node))"
    return
  fi
  local prefix
  prefix=$(banger_node_prefix)
  if [ ! -x "$prefix/bin/node" ] || [ ! -x "$prefix/bin/npm" ]; then install_banger_node "$prefix"; fi
  export PATH="$prefix/bin:$PATH"
  hash -r
  echo "Node.js: banger's $(node --version) ($prefix)"
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

# The dedicated unprivileged user that runs VMMs (and image builds) when banger runs as root.
ensure_vmm_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  if ! getent passwd banger-vmm >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin banger-vmm
  fi
  grep -q '^banger-vmm:' /etc/subuid 2>/dev/null || usermod --add-subuids 2000000000-2000065535 banger-vmm
  grep -q '^banger-vmm:' /etc/subgid 2>/dev/null || usermod --add-subgids 2000000000-2000065535 banger-vmm
}

# VMMs run unprivileged and open /dev/net/tun to attach to their own persistent TAP
# (the kernel lets only the TAP's owner attach). Debian's udev rule makes it 0666;
# a container without udev may leave it 0600.
ensure_tun_access() {
  [ "$(id -u)" -eq 0 ] || return 0
  [ -c /dev/net/tun ] || return 0
  [ "$(stat -c %a /dev/net/tun)" = 666 ] || chmod 0666 /dev/net/tun
}
