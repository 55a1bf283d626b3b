# Which Node.js runs banger. Sourced (POSIX sh) by bin/banger, bin/bangerd and
# scripts/deps.sh, so the pinned version lives in one place.
#
# banger runs on Node.js 24 LTS (maintained until April 2028). When the host's
# `node` is not a maintained LTS >= 24, scripts/install puts this exact build,
# the npm registry's node-linux-<arch> package, into banger's own prefix:
#   root:        /usr/local/lib/banger/node-<version>
#   normal user: ${XDG_DATA_HOME:-~/.local/share}/banger/node-<version>
BANGER_NODE_VERSION=24.22.3
BANGER_NODE_ROOT_PREFIX=/usr/local/lib/banger/node-$BANGER_NODE_VERSION
# The npm CLI installed beside it (the Node package on the registry carries no npm).
BANGER_NPM_VERSION=11.21.3

banger_node_user_prefix() {
  if [ -n "${XDG_DATA_HOME:-}" ]; then
    echo "$XDG_DATA_HOME/banger/node-$BANGER_NODE_VERSION"
  elif [ -n "${HOME:-}" ]; then
    echo "$HOME/.local/share/banger/node-$BANGER_NODE_VERSION"
  fi
}

# Sets banger_node to the Node.js binary banger runs on: $BANGER_NODE when set;
# else banger's installed Node (the user's prefix, then root's); else `node` on
# PATH (the entry point itself refuses one that is not a maintained LTS >= 24).
banger_find_node() {
  if [ -n "${BANGER_NODE:-}" ]; then
    if [ -x "$BANGER_NODE" ] && [ ! -d "$BANGER_NODE" ]; then
      banger_node=$BANGER_NODE
      return 0
    fi
    echo "banger: BANGER_NODE=$BANGER_NODE is not an executable file: point it at a Node.js 24+ binary, or unset it" >&2
    return 1
  fi
  banger_node=$(banger_node_user_prefix)/bin/node
  [ -x "$banger_node" ] && return 0
  banger_node=$BANGER_NODE_ROOT_PREFIX/bin/node
  [ -x "$banger_node" ] && return 0
  # `sudo banger sudoers --install` from a normal user's install: that user's banger Node
  # (the checkout being run is that user's too, so this trusts nothing new).
  if [ -n "${SUDO_USER:-}" ] && [ "$(id -u)" -eq 0 ]; then
    sudo_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    banger_node=$sudo_home/.local/share/banger/node-$BANGER_NODE_VERSION/bin/node
    [ -n "$sudo_home" ] && [ -x "$banger_node" ] && return 0
  fi
  if banger_node=$(command -v node); then return 0; fi
  echo "banger: no Node.js to run on: run scripts/install from banger's checkout (it installs banger's Node $BANGER_NODE_VERSION)" >&2
  return 1
}
