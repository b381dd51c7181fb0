#!/bin/sh
# Build {{file}}.wasm (needs `rustup target add wasm32-wasip2`).
set -e
cd "$(dirname "$0")"
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{crate}}.wasm" {{file}}.wasm
echo "built {{file}}.wasm"
