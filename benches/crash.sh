#!/bin/sh
# kill -9 of `sendfilter serve` during 4 streams of STOP webhooks, ROUNDS times (default
# 100, at most 100): every STOP that got a 2xx must be in the store afterwards, and a retry
# of one is recorded once. Bounded: each round lasts at most ~10 s (usually ~0.3 s).
# Usage: benches/crash.sh [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
rounds="${1:-100}"
SENDFILTER_CRASH_ROUNDS="$rounds" timeout 1800 \
    cargo test --test integration crash::every_acknowledged_stop_survives_kill_9 -- --nocapture 2>&1 \
    | grep -E "acknowledged STOPs|test result|panicked|assert"
