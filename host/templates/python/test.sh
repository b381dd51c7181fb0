#!/bin/sh
# The unit tests, against the WIT's Python bindings (written to .bindings).
set -e
cd "$(dirname "$0")"
switchboard-adapter bindings .bindings
PYTHONPATH=.bindings python -m unittest -v
