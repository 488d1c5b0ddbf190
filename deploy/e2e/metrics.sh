#!/usr/bin/env bash
# /metrics against Prometheus's own linter: start `mailwacht serve` (SMTP and metrics on loopback, a private
# data directory), scrape /metrics once and run `promtool check metrics` on it (Debian's `prometheus`
# package; installed when missing, which needs root). Any complaint fails the check.
#
# Environment: MAILWACHT_BIN (default: $CARGO_TARGET_DIR or target, /debug/mailwacht; built when absent).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${MAILWACHT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mailwacht}"
[ -x "$BIN" ] || (cd "$REPO" && cargo build --locked)

if ! command -v promtool >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "FAIL metrics: promtool missing and not root to install it"; exit 1; }
    echo "== installing prometheus (for promtool)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null
fi

PRIV="$(mktemp -d)"
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$PRIV"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[metrics]\nlisten = "127.0.0.1:%s"\n' "$PORT" >"$PRIV/mailwacht.toml"
"$BIN" --config "$PRIV/mailwacht.toml" serve --listen 127.0.0.1:0 --data-dir "$PRIV/data" 2>"$PRIV/log" &
PID=$!
for _ in $(seq 100); do
    grep -q "mailwacht listening" "$PRIV/log" && break
    sleep 0.1
done
python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$PORT/metrics', timeout=10).read().decode())" >"$PRIV/metrics.txt"
for family in mailwacht_build_info mailwacht_config_last_reload_successful mailwacht_quarantine_messages \
    mailwacht_traffic_store_bytes process_resident_memory_bytes process_open_fds process_cpu_seconds_total; do
    grep -q "^$family" "$PRIV/metrics.txt" || { echo "FAIL metrics: $family missing"; exit 1; }
done
if ! out=$(promtool check metrics <"$PRIV/metrics.txt" 2>&1) || [ -n "$out" ]; then
    echo "FAIL metrics: promtool check metrics: $out"
    exit 1
fi
echo "PASS metrics: promtool check metrics is clean ($(grep -c '^# TYPE' "$PRIV/metrics.txt") families)"
