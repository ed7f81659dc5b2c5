#!/usr/bin/env bash
# Installs what building, running and testing need; idempotent and quick when all is present.
#   apt:   Debian's Rust 1.96 "web" toolchain (its library source builds std for wasm32), lld,
#          PostgreSQL 15 server, Chromium (browser tests, driven by playwright-core)
#   .tools/bin (pinned): worker-build, wasm-bindgen CLI (= the wasm-bindgen in Cargo.lock), postrust
#   node_modules: wrangler, Node 22, binaryen (npm ci, rerun when package-lock.json changes)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools="$root/.tools"

WORKER_BUILD_VERSION=0.8.7
POSTRUST_VERSION=3.1.0
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
APT_PACKAGES=(rustc-web cargo-web rust-web-src lld-22 postgresql-15 chromium)

step() { printf 'setup: %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- apt packages -------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing apt packages: ${missing[*]} (a few minutes, ~1.5 GB)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# worker-build asks rustc for the wasm32 target's libdir and fails if it does not exist; std
# itself is built from rust-web-src, so the directory only has to be there.
sysroot_lib="$(/usr/bin/rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown/lib"
[ -d "$sysroot_lib" ] || as_root mkdir -p "$sysroot_lib"
step "apt packages ok (rustc $(/usr/bin/rustc --version | cut -d' ' -f2), PostgreSQL 15, Chromium)"

# --- pinned host tools --------------------------------------------------------------------
# cargo's install record is the source of truth (`postrust --version` would start a server).
installed() { # crate version binary
  [ -x "$tools/bin/$3" ] && grep -qF "\"$1 $2 " "$tools/.crates.toml" 2>/dev/null
}
install_tool() { # crate version binary minutes [--locked]
  local crate=$1 version=$2 bin=$3 minutes=$4; shift 4
  if installed "$crate" "$version" "$bin"; then return; fi
  step "building $crate $version into .tools (about $minutes min on 2 cores)"
  cargo install --quiet --force "$@" --root "$tools" "$crate@$version"
  installed "$crate" "$version" "$bin" || { echo "setup: $crate $version did not install" >&2; exit 1; }
}
# worker-build's own lockfile is sound; wasm-bindgen-cli's and postrust's pin a webpki-roots
# release the registry no longer serves, so those two resolve fresh.
install_tool worker-build "$WORKER_BUILD_VERSION" worker-build 4 --locked
install_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen 3
install_tool postrust-server "$POSTRUST_VERSION" postrust 7
step "tools ok (worker-build $WORKER_BUILD_VERSION, wasm-bindgen $WASM_BINDGEN_VERSION, postrust $POSTRUST_VERSION)"

# --- npm ----------------------------------------------------------------------------------
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.setup-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  step "installing npm packages (wrangler, Node 22, binaryen, playwright-core)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.setup-lock-sha256
fi
step "npm packages ok (wrangler $(node -p "require('./node_modules/wrangler/package.json').version"))"
