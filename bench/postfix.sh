#!/usr/bin/env bash
# Postfix benchmark of issue 7: what mailwacht costs through real Postfix. The same load (smtp-source, one
# SMTP session per message) goes through a private Postfix instance to smtp-sink in four configurations:
#   a. Postfix alone: smtp-source → Postfix → smtp-sink;
#   b. the after-queue loop without a filter: content_filter straight at Postfix's own re-injection smtpd
#      (every message is queued twice; the cost of the after-queue architecture itself);
#   c. mailwacht as after-queue content filter (deploy/postfix/main.cf + master.cf):
#      smtp-source → Postfix → mailwacht → Postfix (re-injection smtpd) → smtp-sink;
#   d. mailwacht as milter (deploy/postfix/milter.cf): smtp-source → Postfix (+ mailwacht at end of DATA)
#      → smtp-sink.
# A run is timed from the start of smtp-source until smtp-sink has counted every message and Postfix's queue
# is empty. Output: Markdown tables on stdout, progress on stderr.
#
# Needs root: it installs `postfix` when missing (debconf preseeded; the system Postfix is never started or
# configured) and starts its own Postfix instance (deploy/e2e/postfix-instance.sh: own configuration and
# queue directory in a fresh temporary directory, loopback ports from 25025 upwards). Stops what it started.
#
# Environment: MAILWACHT_BIN (default: ${CARGO_TARGET_DIR:-target}/release/mailwacht, built when absent),
# COUNT (messages per timed run, default 20000), SIZE (bytes, default 20480), CONCURRENCY (smtp-source
# sessions, default 10), RUNS (timed runs per configuration, default 2), CONFIGS (default "a b c d"),
# STORAGE ("embedded", default, or "postgres": a private PostgreSQL on loopback holds the stores),
# WORKER_THREADS (mailwacht's [runtime] worker_threads, default 1 as in the shipped configuration; 0: one per core),
# WARMUP (untimed messages before a configuration's first run, default 500), BENCH_LOCK (a lock file: each
# timed run holds flock(1) on it, so benchmarks sharing the machine do not overlap), FILTER_MAXPROC
# (maxproc of the filter transports and the re-injection smtpd; default: deploy/postfix/master.cf's 10),
# MILTER_UNIX=1 (d over a unix socket instead of TCP, as milter.cf describes for a local mailwacht),
# BENCH_PORT_BASE (default 25025), BENCH_KEEP=1 keeps the temporary directory.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C.UTF-8

REPO="$(cd "$(dirname "$0")/.." && pwd)"
HELPER="$REPO/bench/bench.py"
# shellcheck source=deploy/e2e/postfix-instance.sh
. "$REPO/deploy/e2e/postfix-instance.sh"
COUNT=${COUNT:-20000}
SIZE=${SIZE:-20480}
CONCURRENCY=${CONCURRENCY:-10}
RUNS=${RUNS:-2}
CONFIGS=${CONFIGS:-"a b c d"}
WARMUP=${WARMUP:-500}
FILTER_MAXPROC=${FILTER_MAXPROC:-}
MILTER_UNIX=${MILTER_UNIX:-0}
BENCH_LOCK=${BENCH_LOCK:-}

say() { echo "pfbench: [$(date +%T)] $*" >&2; }
py() { python3 "$HELPER" "$@"; }

[ "$(id -u)" = 0 ] || { say "run as root: it starts its own Postfix instance (and installs postfix when missing)"; exit 2; }
if ! command -v postfix >/dev/null || ! command -v smtp-source >/dev/null; then
    say "installing postfix (the system Postfix is not started)"
    why=$(pf_install bench.localdomain postfix) || { say "$why"; exit 2; }
fi

. "$REPO/bench/common.sh"
build_when_absent

PRIV=$(mktemp -d /tmp/mailwacht-pfbench.XXXXXX)
# Postfix's daemons (user postfix) and smtp-sink (user nobody) must reach their directories below.
chmod 0711 "$PRIV"
SINK_PID=""
MW_PID=""
POSTFIX_UP=0
cleanup() {
    trap '' PIPE
    stop "$MW_PID"
    [ "$POSTFIX_UP" = 1 ] && pf_stop "$PRIV"
    stop "$SINK_PID"
    [ -n "${PG_URL:-}" ] && bash "$REPO/deploy/e2e/postgres.sh" stop "$PRIV/pg"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $PRIV"; else rm -rf "$PRIV"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r A_PORT B_PORT C_PORT D_PORT RE_PORT MW_PORT MILTER_PORT SINK_PORT \
    <<<"$(py free-ports --base "${BENCH_PORT_BASE:-25025}" --count 8)" || exit 2
say "ports: a $A_PORT, b $B_PORT, c $C_PORT, d $D_PORT, re-injection $RE_PORT, mailwacht $MW_PORT," \
    "milter $MILTER_PORT, sink $SINK_PORT"

# --- smtp-sink: the final destination. -c: a running count of messages on stdout (what a run waits for);
# it keeps nothing. Backlog 256 so Postfix's parallel deliveries never wait on accept().
smtp-sink -u nobody -h sink.bench.localdomain -c "127.0.0.1:$SINK_PORT" 256 >"$PRIV/sink.out" 2>"$PRIV/sink.err" &
SINK_PID=$!
py wait-port "$SINK_PORT" || { say "smtp-sink did not start"; exit 2; }

# --- mailwacht: as relay.sh (local domain school.example, every sender of the load is local so every
# message is screened, no virus scanner), once as content filter (c), once as milter only (d).
mkdir -p "$PRIV/mailwacht"
# Where Postfix finds the milter (d), in main.cf's syntax, and mailwacht's [milter] listen for it.
MILTER_ADDR="inet:127.0.0.1:$MILTER_PORT"
MILTER_LISTEN="127.0.0.1:$MILTER_PORT"
MILTER_WAIT=$MILTER_PORT # what start_mailwacht waits for
MILTER_GROUP=""
if [ "$MILTER_UNIX" = 1 ]; then
    # smtpd and cleanup (user postfix, not chrooted here) connect to it: group postfix, mode 0660.
    mkdir -p "$PRIV/milter"
    chmod 0755 "$PRIV/milter"
    MILTER_ADDR="unix:$PRIV/milter/milter.sock"
    MILTER_LISTEN="unix:$PRIV/milter/milter.sock"
    MILTER_WAIT="$PRIV/milter/milter.sock"
    MILTER_GROUP='group = "postfix"'
fi
cat >"$PRIV/mailwacht-filter.toml" <<EOF
[organisation]
local_domains = ["school.example"]
[smtp]
listen = "127.0.0.1:$MW_PORT"
next_hop = "127.0.0.1:$RE_PORT"
[storage]
data_dir = "$PRIV/mailwacht"
[runtime]
worker_threads = ${WORKER_THREADS:-1}
EOF
cat >"$PRIV/mailwacht-milter.toml" <<EOF
[organisation]
local_domains = ["school.example"]
[smtp]
enabled = false
[milter]
enabled = true
listen = "$MILTER_LISTEN"
$MILTER_GROUP
[storage]
data_dir = "$PRIV/mailwacht"
[runtime]
worker_threads = ${WORKER_THREADS:-1}
EOF

[ "${STORAGE:-embedded}" = postgres ] && postgres_storage "$PRIV/mailwacht-filter.toml" "$PRIV/mailwacht-milter.toml"

start_mailwacht() { # CONFIG_FILE PORT|SOCKET
    "$MW_BIN" --config "$1" serve >>"$PRIV/mailwacht.log" 2>&1 &
    MW_PID=$!
    local ok=0
    case $2 in
        /*) for _ in $(seq 300); do [ -S "$2" ] && { ok=1; break; }; sleep 0.1; done ;;
        *) py wait-port "$2" --timeout 30 && ok=1 ;;
    esac
    [ "$ok" = 1 ] || { say "mailwacht did not start"; tail "$PRIV/mailwacht.log" >&2; exit 2; }
}

# --- Postfix. What is set here beyond the e2e base and why (bench/README.md says the same):
# in_flow_delay = 0: by default smtpd pauses up to 1 s per message when mail arrives faster than the queue
#   manager hands out delivery tokens; the run measures delivery to the sink, so inflow is not throttled.
# default_process_limit = 100, smtp_destination_concurrency_limit = 20: Postfix's defaults, written out;
#   10 smtp-source sessions need 10 smtpd, and 20 parallel deliveries keep smtp-sink busy.
# The filter transports (mailwacht, loop) and the re-injection smtpd keep deploy/postfix/master.cf's
#   maxproc 10; mailwacht's pool_size (8) stays below it, as deploy/README.md recommends.
pf_dirs "$PRIV"
{
    pf_main_cf "$PRIV" bench.localdomain "$SINK_PORT"
    pf_filter_main_cf "$MW_PORT"
    cat <<EOF
in_flow_delay = 0
default_process_limit = 100
smtp_destination_concurrency_limit = 20
EOF
} >"$PRIV/postfix/main.cf"
{
    echo "127.0.0.1:$A_PORT inet n - n - - smtpd"
    echo "    -o content_filter="
    echo "127.0.0.1:$B_PORT inet n - n - - smtpd"
    echo "    -o content_filter=loop:[127.0.0.1]:$RE_PORT"
    echo "# c: main.cf's content_filter, as deploy/postfix/main.cf ships it"
    echo "127.0.0.1:$C_PORT inet n - n - - smtpd"
    echo "127.0.0.1:$D_PORT inet n - n - - smtpd"
    echo "    -o content_filter="
    pf_milter_opts "$MILTER_ADDR"
    pf_services
    pf_filter_master_cf "$RE_PORT" >"$PRIV/filter.cf"
    if [ -n "$FILTER_MAXPROC" ]; then
        # The maxproc column (7th) of the mailwacht transport and the re-injection smtpd.
        sed -i -E "s/^((mailwacht|127\.0\.0\.1:$RE_PORT)(\s+\S+){5}\s+)[0-9]+/\1$FILTER_MAXPROC/" "$PRIV/filter.cf"
    fi
    cat "$PRIV/filter.cf"
    # b: the mailwacht transport's own lines under another name; the B listener points it at the
    # re-injection smtpd.
    sed -n '/^mailwacht /,/^$/{/^$/d;s/^mailwacht /loop      /;p}' "$PRIV/filter.cf"
} >"$PRIV/postfix/master.cf"
POSTFIX_UP=1
why=$(pf_start "$PRIV") || { say "$why"; exit 2; }
# Not the milter port D: a connection there before mailwacht runs only makes smtpd log a milter failure.
for p in "$A_PORT" "$RE_PORT"; do
    py wait-port "$p" --timeout 30 || { say "postfix does not listen on $p"; exit 2; }
done
MASTER_PID=$(tr -d ' ' <"$PRIV/spool/pid/master.pid")

locked() { # COMMAND...: run it holding BENCH_LOCK (when set)
    if [ -n "$BENCH_LOCK" ]; then
        { flock 9 && "$@"; } 9>"$BENCH_LOCK"
    else
        "$@"
    fi
}

wait_drained() {
    local deadline=$(($(date +%s) + 120))
    until pf_queue_empty "$PRIV"; do
        [ "$(date +%s)" -lt "$deadline" ] || { say "Postfix's queue did not drain"; return 1; }
        sleep 0.2
    done
}

# timed_run CONFIG PORT RUN: one run; appends its line to the results file.
timed_run() {
    local out
    wait_drained || exit 1
    out=$(py postfix-load --port "$2" --count "$COUNT" --concurrency "$CONCURRENCY" --size "$SIZE" \
        --sink-out "$PRIV/sink.out" --spool "$PRIV/spool" --master "$MASTER_PID" --sink "$SINK_PID" \
        ${MW_PID:+--mailwacht "$MW_PID"}) || { say "run $1/$3 failed"; exit 1; }
    echo "$1 $3 $COUNT $out" >>"$PRIV/results"
    say "$1 run $3: $(awk -v n="$COUNT" '{printf "%.0f msg/s (%.1f s)", n / $1, $1}' <<<"$out")"
}

warm_up() { # PORT
    [ "$WARMUP" -gt 0 ] || return 0
    smtp-source -s "$CONCURRENCY" -m "$WARMUP" -l "$SIZE" -f juf@school.example -t ouders@example.org -N \
        "127.0.0.1:$1" || say "warm-up: smtp-source exited with $?"
    wait_drained
}

port_of() { case $1 in a) echo "$A_PORT" ;; b) echo "$B_PORT" ;; c) echo "$C_PORT" ;; d) echo "$D_PORT" ;; esac; }

# Configurations take turns within each round, so a slow phase of a shared machine hits all of them.
say "$RUNS × ($CONFIGS), $COUNT messages of $SIZE bytes each, smtp-source -s $CONCURRENCY"
for run in $(seq "$RUNS"); do
    for cfg in $CONFIGS; do
        stop "$MW_PID"
        MW_PID=""
        case $cfg in
            c) start_mailwacht "$PRIV/mailwacht-filter.toml" "$MW_PORT" ;;
            d) start_mailwacht "$PRIV/mailwacht-milter.toml" "$MILTER_WAIT" ;;
            a | b) ;;
            *) say "unknown configuration $cfg"; exit 2 ;;
        esac
        locked warm_up "$(port_of "$cfg")"
        [ -n "$MW_PID" ] && before=$(grep -c 'verdict=' "$PRIV/mailwacht.log")
        locked timed_run "$cfg" "$(port_of "$cfg")" "$run"
        if [ -n "$MW_PID" ]; then
            # Every message of the load passes; anything else would mean the run measured something else.
            sleep 0.5
            seen=$(($(grep -c 'verdict=' "$PRIV/mailwacht.log") - before))
            [ "$seen" = "$COUNT" ] || say "mailwacht logged $seen verdicts for $COUNT messages"
        fi
    done
done
stop "$MW_PID"
MW_PID=""
grep -v 'verdict="pass"' "$PRIV/mailwacht.log" | grep -q 'verdict=' && say "mailwacht logged verdicts other than pass"

echo
echo "### Through real Postfix: $COUNT messages of $SIZE bytes, smtp-source -s $CONCURRENCY (one session per message)"
echo
py postfix-summary "$PRIV/results"
