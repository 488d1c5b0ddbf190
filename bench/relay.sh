#!/usr/bin/env bash
# Relay benchmark of issue 7: smtp-source → smtp-sink (bare) against smtp-source → mailwacht → smtp-sink,
# a realistic message set through mailwacht, added latency, and memory flatness. Loopback only.
#
# Installs `postfix` for smtp-source/smtp-sink when missing (debconf preseeded, needs root); never starts
# the system Postfix. Works in a fresh temporary directory, picks free ports, stops what it started.
# Output: Markdown tables on stdout, progress on stderr.
#
# Environment: MAILWACHT_BIN (default: ${CARGO_TARGET_DIR:-target}/release/mailwacht, built when absent),
# COUNT (messages per throughput run, default 20000), SIZE (bytes, default 20480), CONCURRENCY ("1 10 50"),
# ROUNDS (realistic set: passes over the 200 messages, default 10), LAT_COUNT (default 2000),
# MEM_COUNT (default 100000), PARTS (default "relay realistic latency memory"), WORKER_THREADS (mailwacht's
# [runtime] worker_threads, default 1 as in the shipped configuration; 0: one per core), STORAGE ("embedded",
# default, or "postgres": a private PostgreSQL on loopback holds the stores), BENCH_KEEP=1 keeps the dir.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C.UTF-8

REPO="$(cd "$(dirname "$0")/.." && pwd)"
HELPER="$REPO/bench/bench.py"
# shellcheck source=deploy/e2e/postfix-instance.sh
. "$REPO/deploy/e2e/postfix-instance.sh"
COUNT=${COUNT:-20000}
SIZE=${SIZE:-20480}
CONCURRENCY=${CONCURRENCY:-"1 10 50"}
ROUNDS=${ROUNDS:-10}
LAT_COUNT=${LAT_COUNT:-2000}
MEM_COUNT=${MEM_COUNT:-100000}
PARTS=${PARTS:-"relay realistic latency memory"}
TICK=$(getconf CLK_TCK)

say() { echo "bench: $*" >&2; }
py() { python3 "$HELPER" "$@"; }

if ! command -v smtp-source >/dev/null || ! command -v smtp-sink >/dev/null; then
    [ "$(id -u)" = 0 ] || { say "smtp-source/smtp-sink missing and not root to install postfix"; exit 2; }
    say "installing postfix (for smtp-source and smtp-sink only; the system Postfix is not started)"
    why=$(pf_install bench.localdomain postfix) || { say "$why"; exit 2; }
fi

. "$REPO/bench/common.sh"
build_when_absent
sink_and_config bench
[ "${STORAGE:-embedded}" = postgres ] && postgres_storage "$PRIV/mailwacht.toml"

start_mailwacht() {
    "$MW_BIN" --config "$PRIV/mailwacht.toml" serve --listen "127.0.0.1:$MW_PORT" \
        --next-hop "127.0.0.1:$SINK_PORT" >>"$PRIV/mailwacht.log" 2>&1 &
    MW_PID=$!
    py wait-port "$MW_PORT" --timeout 30 || { say "mailwacht did not start"; tail "$PRIV/mailwacht.log" >&2; exit 2; }
}
restart_mailwacht() { stop "$MW_PID"; MW_PID=""; start_mailwacht; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$MW_PID/stat"; }
status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$MW_PID/status"; }
now() { date +%s.%N; }

# run_source PORT COUNT CONC SIZE: seconds taken by smtp-source (one message per session; -N numbered rcpts).
run_source() {
    local t0 t1
    t0=$(now)
    smtp-source -s "$3" -m "$2" -l "$4" -f juf@school.example -t ouders@example.org -N \
        "127.0.0.1:$1" || say "smtp-source exited with $?"
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

# ---------------------------------------------------------------------------------------------------------
if [[ " $PARTS " == *" relay "* ]]; then
    start_mailwacht
    echo
    echo "### Relay throughput: $COUNT messages of $SIZE bytes, one SMTP session per message"
    echo
    echo "| concurrency | bare msg/s | bare MB/s | mailwacht msg/s | mailwacht MB/s | ratio | mailwacht CPU s / 1,000 msgs | µs CPU / msg | mailwacht peak RSS MB |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in $CONCURRENCY; do
        say "bare c=$c"
        bare=$(run_source "$SINK_PORT" "$COUNT" "$c" "$SIZE")
        say "mailwacht c=$c"
        before=$(cpu_ticks)
        through=$(run_source "$MW_PORT" "$COUNT" "$c" "$SIZE")
        # Replies come after the relay, but let any bounce/logging work finish before reading the CPU.
        sleep 0.5
        after=$(cpu_ticks)
        hwm=$(status_kb VmHWM)
        awk -v n="$COUNT" -v s="$SIZE" -v b="$bare" -v t="$through" -v d="$((after - before))" -v tick="$TICK" \
            -v c="$c" -v h="$hwm" 'BEGIN {
            cpu = d / tick
            printf "| %d | %.0f | %.1f | %.0f | %.1f | %.2f | %.3f | %.0f | %.1f |\n",
                c, n / b, n * s / b / 1e6, n / t, n * s / t / 1e6, b / t, cpu / n * 1000, cpu / n * 1e6, h / 1024
        }'
    done
    say "mailwacht log: $(grep -c 'verdict=' "$PRIV/mailwacht.log") message lines," \
        "$(grep -c 'verdict="pass"' "$PRIV/mailwacht.log") pass"
fi

# ---------------------------------------------------------------------------------------------------------
if [[ " $PARTS " == *" realistic "* ]]; then
    restart_mailwacht
    : >"$PRIV/mailwacht.log"
    say "realistic message set"
    py corpus "$PRIV/corpus" --count 200 >&2
    echo
    echo "### Realistic set: 200 messages (2 KB / 20 KB / 200 KB; Dutch text + HTML, PDF, zip; 20 meant to bounce) × $ROUNDS, Python client, one session per message"
    echo
    echo "| concurrency | path | messages | msg/s | MB/s | bounced (mailwacht log) | refused at SMTP | mailwacht CPU s / 1,000 msgs |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    for c in 10 50; do
        read -r n secs bytes refused <<<"$(py send "$PRIV/corpus" --port "$SINK_PORT" --concurrency "$c" --rounds "$ROUNDS")"
        awk -v c="$c" -v n="$n" -v t="$secs" -v b="$bytes" -v r="$refused" \
            'BEGIN { printf "| %d | bare | %d | %.0f | %.1f | – | %d | – |\n", c, n, n / t, b / t / 1e6, r }'
        b0=$(grep -c 'verdict="bounce"' "$PRIV/mailwacht.log")
        before=$(cpu_ticks)
        read -r n secs bytes refused <<<"$(py send "$PRIV/corpus" --port "$MW_PORT" --concurrency "$c" --rounds "$ROUNDS")"
        sleep 0.5
        after=$(cpu_ticks)
        bounced=$(($(grep -c 'verdict="bounce"' "$PRIV/mailwacht.log") - b0))
        awk -v c="$c" -v n="$n" -v t="$secs" -v b="$bytes" -v r="$refused" -v x="$bounced" \
            -v d="$((after - before))" -v tick="$TICK" \
            'BEGIN { printf "| %d | mailwacht | %d | %.0f | %.1f | %d | %d | %.3f |\n", c, n, n / t, b / t / 1e6, x, r, d / tick / n * 1000 }'
    done
fi

# ---------------------------------------------------------------------------------------------------------
if [[ " $PARTS " == *" latency "* ]]; then
    restart_mailwacht
    say "latency: $LAT_COUNT sequential sessions each way"
    read -r bp50 bp99 bmean <<<"$(py latency --port "$SINK_PORT" --count "$LAT_COUNT" --size "$SIZE")"
    read -r mp50 mp99 mmean <<<"$(py latency --port "$MW_PORT" --count "$LAT_COUNT" --size "$SIZE")"
    echo
    echo "### Latency: $LAT_COUNT sequential sessions of a $SIZE-byte message, timed at the client (connect to QUIT reply)"
    echo
    echo "| path | p50 ms | p99 ms | mean ms |"
    echo "|---|---:|---:|---:|"
    echo "| bare (smtp-sink) | $bp50 | $bp99 | $bmean |"
    echo "| mailwacht → smtp-sink | $mp50 | $mp99 | $mmean |"
    awk -v a="$bp50" -v b="$mp50" -v c="$bp99" -v d="$mp99" \
        'BEGIN { printf "| added (difference) | %.3f | %.3f | |\n", b - a, d - c }'
fi

# ---------------------------------------------------------------------------------------------------------
if [[ " $PARTS " == *" memory "* ]]; then
    restart_mailwacht
    first=$((MEM_COUNT / 10))
    say "memory: $first then $((MEM_COUNT - first)) more small messages at c=10"
    t0=$(now)
    run_source "$MW_PORT" "$first" 10 2048 >/dev/null
    rss1=$(status_kb VmRSS)
    run_source "$MW_PORT" "$((MEM_COUNT - first))" 10 2048 >/dev/null
    t1=$(now)
    sleep 0.5
    rss2=$(status_kb VmRSS)
    hwm=$(status_kb VmHWM)
    echo
    echo "### Memory: 2 KB messages at c=10 through mailwacht ($(echo "$t1 - $t0" | bc -l | cut -c1-5) s)"
    echo
    echo "| RSS after $first | RSS after $MEM_COUNT | growth | peak (VmHWM) |"
    echo "|---:|---:|---:|---:|"
    awk -v a="$rss1" -v b="$rss2" -v h="$hwm" \
        'BEGIN { printf "| %.1f MB | %.1f MB | %.1f MB | %.1f MB |\n", a / 1024, b / 1024, (b - a) / 1024, h / 1024 }'
fi
