#!/usr/bin/env bash
# Where mailwacht's time goes on the relay path (issue 7): smtp-source → mailwacht → smtp-sink on loopback,
# with one of three tools attached to the mailwacht process. Complements relay.sh, which only times.
#
#   bench/profile.sh callgrind   instructions per message (valgrind; deterministic, independent of load)
#   bench/profile.sh strace      system calls per message (strace -c -f)
#   bench/profile.sh perf        sampled profile with call chains (perf record -g), flat report on stdout
#
# Environment: MAILWACHT_BIN (default: ${CARGO_TARGET_DIR:-target}/release/mailwacht; build it with
# RUSTFLAGS="-C force-frame-pointers=yes -g" for call chains and function names), COUNT (messages measured,
# default 1000 for callgrind, 2000 otherwise), WARMUP (messages sent first and not measured, default 200),
# SIZE (default 20480), CONCURRENCY (default 10), PERF_SECONDS (default 6), BENCH_KEEP=1 keeps the
# temporary directory (with callgrind.out.* or perf.data for callgrind_annotate / perf report).
#
# Like relay.sh: every sender is local, so every message is screened; no virus scanner; fresh temporary
# directory, free ports, stops what it started. Timed figures belong to relay.sh, not to this script.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C.UTF-8

MODE=${1:-}
case "$MODE" in callgrind | strace | perf) ;; *) echo "usage: $0 callgrind|strace|perf" >&2; exit 2 ;; esac
REPO="$(cd "$(dirname "$0")/.." && pwd)"
HELPER="$REPO/bench/bench.py"
if [ "$MODE" = callgrind ]; then COUNT=${COUNT:-1000}; else COUNT=${COUNT:-2000}; fi
WARMUP=${WARMUP:-200}
SIZE=${SIZE:-20480}
CONCURRENCY=${CONCURRENCY:-10}
PERF_SECONDS=${PERF_SECONDS:-6}

say() { echo "profile: $*" >&2; }
py() { python3 "$HELPER" "$@"; }
need() { command -v "$1" >/dev/null || { say "$1 is missing"; exit 2; }; }
need smtp-source
need smtp-sink
case "$MODE" in
callgrind) need valgrind; need callgrind_control; need callgrind_annotate ;;
*) need "$MODE" ;;
esac
. "$REPO/bench/common.sh"
[ -x "$MW_BIN" ] || { say "no mailwacht binary at $MW_BIN (cargo build --release first)"; exit 2; }

sink_and_config profile
RUN=("$MW_BIN" --config "$PRIV/mailwacht.toml" serve --listen "127.0.0.1:$MW_PORT" --next-hop "127.0.0.1:$SINK_PORT")
if [ "$MODE" = callgrind ]; then
    # Uncompressed names so that callgrind_annotate can read a dump taken mid-run.
    valgrind --tool=callgrind --callgrind-out-file="$PRIV/callgrind.out" --compress-strings=no \
        --compress-pos=no "${RUN[@]}" >"$PRIV/mailwacht.log" 2>&1 &
else
    "${RUN[@]}" >"$PRIV/mailwacht.log" 2>&1 &
fi
MW_PID=$!
py wait-port "$MW_PORT" --timeout 60 || { say "mailwacht did not start"; tail "$PRIV/mailwacht.log" >&2; exit 2; }

source_run() {
    smtp-source -s "$CONCURRENCY" -m "$1" -l "$SIZE" -f juf@school.example -t ouders@example.org -N \
        "127.0.0.1:$MW_PORT" || say "smtp-source exited with $?"
}

say "warm-up: $WARMUP messages"
source_run "$WARMUP"
case "$MODE" in
callgrind)
    callgrind_control -z "$MW_PID" >/dev/null 2>&1
    say "measuring $COUNT messages under callgrind"
    source_run "$COUNT"
    sleep 1
    callgrind_control -d "$MW_PID" >/dev/null 2>&1
    sleep 1
    dump=$(ls -t "$PRIV"/callgrind.out.* | head -1)
    total=$(awk '/^summary:/ {print $2}' "$dump")
    echo "instructions: $total for $COUNT messages of $SIZE bytes: $((total / COUNT)) per message"
    echo
    echo "inclusive instructions per message, mailwacht functions (from $(basename "$dump")):"
    callgrind_annotate --threshold=100 --inclusive=yes "$dump" 2>/dev/null |
        awk -v n="$COUNT" '/mailwacht::/ { c = $1; gsub(",", "", c); if (c / n >= 5000) {
            sub(/^[^?]*\?\?\?:/, ""); sub(/ \[.*$/, ""); printf "%10d  %s\n", c / n, $0 } }' | head -40
    ;;
strace)
    strace -c -f -p "$MW_PID" -o "$PRIV/strace.txt" &
    ST=$!
    sleep 1
    say "measuring $COUNT messages under strace"
    source_run "$COUNT"
    sleep 0.5
    kill -INT "$ST"
    wait "$ST"
    echo "system calls per message ($COUNT messages of $SIZE bytes):"
    # strace -c columns: % time, seconds, usecs/call, calls, [errors,] syscall.
    awk -v n="$COUNT" '$1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ { printf "%8.2f  %s\n", $4 / n, $NF }' \
        "$PRIV/strace.txt" | sort -rn | head -20
    ;;
perf)
    source_run $((COUNT * 10)) &
    SRC=$!
    sleep 1
    say "recording $PERF_SECONDS s"
    perf record -F 2000 -g -p "$MW_PID" -o "$PRIV/perf.data" -- sleep "$PERF_SECONDS" 2>/dev/null
    wait "$SRC"
    perf report -i "$PRIV/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -40
    ;;
esac
