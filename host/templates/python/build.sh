#!/bin/sh
# Build {{file}}.wasm with the SDK (pip install -r requirements.txt).
set -e
cd "$(dirname "$0")"
switchboard-adapter build app.py -o {{file}}.wasm
