#!/usr/bin/env bash
# Builds the Worker (build/index.js + build/index_bg.wasm) and prints the .wasm's raw and gzip
# sizes. Also wrangler's [build] command, so `wrangler dev` and `wrangler deploy` use it.
# WORKER_OUT_DIR (relative to the project) writes elsewhere: `npm test` builds into its own
# folder so it never swaps the files under a running `npm run dev`.
#
# There is no prebuilt wasm32 std for these machines: Debian's Rust 1.96 builds std from its
# library source (RUSTC_BOOTSTRAP + build-std). Those settings stay on this command only; host
# `cargo test` keeps rustup's toolchain, and the separate target dir keeps the two from
# invalidating each other's artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export PATH="/usr/bin:$PATH"
export RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
unset RUSTUP_TOOLCHAIN CARGO RUSTC
export WASM_BINDGEN_BIN="$root/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/@esbuild/linux-x64/bin/esbuild"

echo "build: compiling the Worker to wasm32 (release)"
out_dir="${WORKER_OUT_DIR:-build}"
"$root/.tools/bin/worker-build" --release --out-dir "$out_dir" "$root" --target-dir "$root/target/wasm"

wasm="$out_dir/index_bg.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
awk -v f="$wasm" -v r="$raw" -v g="$gz" \
  'BEGIN { printf "build: %s  raw %d bytes (%.0f KiB)  gzip %d bytes (%.0f KiB)\n", f, r, r / 1024, g, g / 1024 }'
