#!/usr/bin/env bash
# Several nodes, one store (issue 17): one Postfix hands mail to two mailwacht nodes through a next-hop list,
# both keep their quarantine, audit log and traffic records in one PostgreSQL; on loopback only.
#
#   Postfix :IN ──content_filter = mailwacht:[127.0.0.1]:MW1, [127.0.0.1]:MW2──▶ node 1 / node 2
#        ▲                                                                         │ relay
#        └──────────────────────── re-injection smtpd :RE ◀───────────────────────┘ → smtp-sink
#
# Scenarios:
#   node-killed-mid-burst     a burst of clean, suspect and infected mail; node 1 is killed with SIGKILL in the
#                             middle; Postfix moves to node 2. Nothing acknowledged is lost, nothing duplicated
#                             beyond Postfix's at-least-once, both nodes list every quarantined message, the
#                             audit chain (appended by both nodes) is intact, and both nodes give one summary, which
#                             counts what the database holds.
#   postgres-stopped          PostgreSQL stopped in the middle of a burst: infected mail is deferred (451),
#                             clean mail is delivered; after PostgreSQL returns everything is stored once.
#
# Installs postfix, swaks and postgresql from Debian when missing (needs root then); the malware scanner is
# the built-in one (EICAR), so no clamd. Output as deploy/e2e/run.sh: `PASS name`, `FAIL name: why`, then
# `N passed, M failed`; exit status 1 when anything failed.
#
# Environment: MAILWACHT_BIN (default: $CARGO_TARGET_DIR or target, /debug/mailwacht; built when absent),
# E2E_PORT_BASE (first port tried, default 25025), E2E_KEEP=1 (keep the private directory).
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C.UTF-8

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
HELPER="$REPO/deploy/e2e/e2e.py"
PG_SCRIPT="$REPO/deploy/e2e/postgres.sh"
# shellcheck source=deploy/e2e/postfix-instance.sh
. "$REPO/deploy/e2e/postfix-instance.sh"
# shellcheck source=deploy/e2e/harness.sh
. "$REPO/deploy/e2e/harness.sh"
SUITE_START=$(date +%s)
PASSED=0
FAILED=0

say() { echo "nodes: [$(($(date +%s) - SUITE_START))s] $*" >&2; }
py() { python3 "$HELPER" "$@"; }

PRIV=""
MW_PIDS=("" "")
SINK_PID=""
BURST_PID=""
POSTFIX_UP=0
PG_UP=0
SENDER="juf@school.example"
RCPT="ouder@example.org"

cleanup() {
    local status=$?
    trap '' PIPE
    [ -n "$BURST_PID" ] && kill "$BURST_PID" 2>/dev/null
    stop_node 1
    stop_node 2
    [ "$POSTFIX_UP" = 1 ] && pf_stop "$PRIV"
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
    [ "$PG_UP" = 1 ] && bash "$PG_SCRIPT" stop "$PRIV/pg" >/dev/null 2>&1
    drop_private_dir
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mw N ARGS...: the mailwacht command line with node N's configuration.
mw() { local n=$1; shift; "$MW_BIN" --config "$PRIV/node$n.toml" "$@"; }

start_node() {
    local n=$1 started
    started=$(grep -c "mailwacht listening" "$PRIV/node$n.log" 2>/dev/null)
    # The binary itself in the background (not the mw function: $! would be a subshell, not mailwacht).
    "$MW_BIN" --config "$PRIV/node$n.toml" serve >>"$PRIV/node$n.log" 2>&1 &
    MW_PIDS[n - 1]=$!
    # Not the SMTP port: it is bound before the stores and the admin socket are open; the start line comes
    # after all of them.
    listening() { [ "$(grep -c "mailwacht listening" "$PRIV/node$n.log")" -gt "${started:-0}" ]; }
    poll 30 listening
}

stop_node() {
    local pid=${MW_PIDS[$1 - 1]}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    MW_PIDS[$1 - 1]=""
}

write_node_config() {
    local n=$1 port=$2
    # The secret that wraps the pseudonym keys in the database: one file for every node.
    [ -s "$PRIV/key-secret" ] || (umask 077 && head -c 32 /dev/urandom >"$PRIV/key-secret")
    cat >"$PRIV/node$n.toml" <<EOF
[organisation]
name = "E2E-stichting"
local_domains = ["school.example"]
[smtp]
listen = "127.0.0.1:$port"
next_hop = "127.0.0.1:$RE_PORT"
# Both nodes re-inject into one smtpd (maxproc 10): their idle pools together must stay below it, or a
# connection waits un-greeted for a free smtpd process (README, "More than one node").
pool_size = 4
[storage]
data_dir = "$PRIV/node$n"
backend = "postgres"
url = "$PG_URL"
[traffic]
# The pseudonym keys are in the database, wrapped under this secret, the same on both nodes.
key_secret_file = "$PRIV/key-secret"
EOF
}

setup() {
    if [ "$(id -u)" != 0 ]; then
        echo "FAIL setup: run as root (it installs packages, starts Postfix, PostgreSQL and smtp-sink)"
        return 1
    fi
    local missing=()
    command -v postfix >/dev/null && command -v smtp-sink >/dev/null || missing+=(postfix)
    command -v swaks >/dev/null || missing+=(swaks)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        local why
        why=$(pf_install e2e.localdomain "${missing[@]}") || { echo "FAIL setup: $why"; return 1; }
    fi
    MW_BIN="${MAILWACHT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mailwacht}"
    if [ ! -x "$MW_BIN" ]; then
        say "building $MW_BIN"
        (cd "$REPO" && cargo build --quiet) || { echo "FAIL setup: cargo build failed"; return 1; }
    fi

    PRIV=$(mktemp -d /tmp/mailwacht-nodes.XXXXXX)
    chmod 0711 "$PRIV"
    PF="$PRIV/postfix"
    SINK_DIR="$PRIV/sink"
    pf_dirs "$PRIV"
    mkdir -p "$SINK_DIR" "$PRIV/msg"
    chown nobody: "$SINK_DIR"
    printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$PRIV/msg/eicar.com"

    local ports
    ports=$(py free-ports --base "${E2E_PORT_BASE:-25025}" --count 6) || { echo "FAIL setup: no free ports"; return 1; }
    read -r IN_PORT MW1_PORT MW2_PORT RE_PORT SINK_PORT PG_PORT <<<"$ports"
    say "ports: postfix $IN_PORT, nodes $MW1_PORT $MW2_PORT, re-injection $RE_PORT, sink $SINK_PORT, postgres $PG_PORT"

    PG_UP=1
    PG_URL=$(MAILWACHT_PG_PORT=$PG_PORT bash "$PG_SCRIPT" start "$PRIV/pg" 2>"$PRIV/pg-start.err") ||
        { echo "FAIL setup: PostgreSQL did not start: $(tail -3 "$PRIV/pg-start.err" | tr '\n' ' ')"; return 1; }

    smtp-sink -u nobody -h sink.e2e.localdomain -d "$SINK_DIR/%s." "127.0.0.1:$SINK_PORT" 100 \
        >>"$PRIV/smtp-sink.log" 2>&1 &
    SINK_PID=$!
    py wait-port "$SINK_PORT" --timeout 10 || { echo "FAIL setup: smtp-sink did not start"; return 1; }

    write_node_config 1 "$MW1_PORT"
    write_node_config 2 "$MW2_PORT"
    mw 1 store migrate >"$PRIV/migrate.out" 2>&1 ||
        { echo "FAIL setup: mailwacht store migrate: $(tail -3 "$PRIV/migrate.out" | tr '\n' ' ')"; return 1; }
    start_node 1 || { echo "FAIL setup: node 1 did not start (see $PRIV/node1.log)"; return 1; }
    start_node 2 || { echo "FAIL setup: node 2 did not start (see $PRIV/node2.log)"; return 1; }

    # Postfix ≥ 3.5: the filter transport's next hop is a list; the SMTP client tries them in order and moves to
    # the next when one does not answer (transport(5)).
    {
        pf_main_cf "$PRIV" e2e.localdomain "$SINK_PORT"
        pf_filter_main_cf "$MW1_PORT" | sed "s/^content_filter = .*/&, [127.0.0.1]:$MW2_PORT/"
    } >"$PF/main.cf"
    {
        echo "127.0.0.1:$IN_PORT inet n - n - - smtpd"
        pf_services
        pf_filter_master_cf "$RE_PORT"
    } >"$PF/master.cf"
    grep -q "^content_filter = mailwacht:\[127.0.0.1\]:$MW1_PORT, \[127.0.0.1\]:$MW2_PORT$" "$PF/main.cf" ||
        { echo "FAIL setup: no next-hop list in main.cf: $(grep content_filter "$PF/main.cf")"; return 1; }
    POSTFIX_UP=1
    local why
    why=$(pf_start "$PRIV") || { echo "FAIL setup: $why"; return 1; }
    py wait-port "$IN_PORT" --timeout 30 && py wait-port "$RE_PORT" --timeout 30 ||
        { echo "FAIL setup: postfix does not listen"; return 1; }
    say "setup done in $(($(date +%s) - SUITE_START)) s"
}

# ---------------------------------------------------------------------------------------------------------
WHY=""
queue_empty() { pf_queue_empty "$PRIV"; }
queue_state_all() { postqueue -c "$PF" -p 2>/dev/null | tr -s ' \n' ' ' | cut -c1-300; }
flush() { postqueue -c "$PF" -f >/dev/null 2>&1; }
# sql QUERY: one value from the shared database, as the nodes see it.
sql() { "$(ls -d /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)" -tA -q "$PG_URL" -c "$1"; }
PUPILS="leerlingen.school.example"
IS_PUPIL="record->>'sender_domain' = '$PUPILS'"
tally() { py tally "$SINK_DIR" --mix --prefix "$1" --count "$2" --sender "$SENDER" --rcpt "$RCPT" 2>/dev/null; }
# field NAME "a=1 b=2": the value of NAME (a whole word: `expected` is not `unexpected`).
field() { grep -oE "(^| )$1=[0-9]+" <<<"$2" | tail -1 | cut -d= -f2; }

# start_burst PREFIX COUNT: a mixed burst in the background.
start_burst() {
    py burst --port "$IN_PORT" --count "$2" --prefix "$1" --sender "$SENDER" --rcpt "$RCPT" --size 8000 \
        --mix "$PRIV/msg/eicar.com" --pause 0.03 >"$PRIV/$1.out" 2>"$PRIV/$1.err" &
    BURST_PID=$!
}

# settle PREFIX COUNT SECONDS: flush until every message has its outcome and the queue is empty; STATE holds
# the last tally.
settle() {
    local deadline=$(($(date +%s) + $3))
    while :; do
        flush
        STATE=$(tally "$1" "$2")
        [[ "$STATE" == *"missing=0"* ]] && queue_empty && return 0
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 2
    done
}

# quarantined N PREFIX COUNT: node N's view of the burst's quarantined messages.
quarantined() { mw "$1" quarantine list --json 2>>"$PRIV/cli.err" | py quarantined --prefix "$2" --count "$3"; }

s_node_killed() {
    local prefix="nodes-kill" count=200 maxproc=10
    start_burst "$prefix" "$count"
    enough() { [ "$(field delivered "$(tally "$prefix" "$count")")" -ge 20 ]; }
    poll 120 enough || { WHY="harness: fewer than 20 messages delivered within 120 s"; return 1; }
    kill -KILL "${MW_PIDS[0]}"
    wait "${MW_PIDS[0]}" 2>/dev/null
    MW_PIDS[0]=""
    local at_kill
    at_kill="$(field delivered "$(tally "$prefix" "$count")") delivered"
    say "SIGKILL to node 1 after $at_kill"
    wait "$BURST_PID"
    BURST_PID=""
    [ "$(tail -1 "$PRIV/$prefix.out")" = "$count" ] || { WHY="harness: Postfix accepted $(tail -1 "$PRIV/$prefix.out") of $count"; return 1; }
    settle "$prefix" "$count" 240 || { WHY="after 240 s with node 1 down: $STATE, queue: $(queue_state_all)"; return 1; }
    [ "$(field wrong "$STATE")" = 0 ] || { WHY="$STATE: a message had the wrong outcome"; return 1; }
    [ "$(field duplicates "$STATE")" -le "$maxproc" ] || { WHY="$STATE: more duplicates than messages in flight"; return 1; }
    grep -q "verdict" "$PRIV/node2.log" || { WHY="node 2 handled no mail: the next-hop list was not used"; return 1; }
    # Node 1 back: both nodes list the same quarantine, holding every infected message.
    start_node 1 || { WHY="node 1 did not start again"; return 1; }
    local q1 q2
    q1=$(quarantined 1 "$prefix" "$count")
    q2=$(quarantined 2 "$prefix" "$count")
    [ "$q1" = "$q2" ] || { WHY="the nodes list different quarantines: node 1 $q1, node 2 $q2"; return 1; }
    [ "$(field missing "$q1")" = 0 ] && [ "$(field unexpected "$q1")" = 0 ] ||
        { WHY="quarantine: $q1"; return 1; }
    [ $(($(field entries "$q1") - $(field distinct "$q1"))) -le "$maxproc" ] ||
        { WHY="quarantine: $q1: more copies than messages in flight"; return 1; }
    # Both nodes read quarantined content at the same time (each read is audited): one audit chain, appended
    # by two processes under the head row's lock, must come out whole and identical on both.
    local ids id n=0 reads=()
    ids=$(mw 2 quarantine list --json | python3 -c 'import json, sys; print(" ".join(e["id"] for e in json.load(sys.stdin)))')
    for id in $ids; do
        n=$((n + 1))
        mw $((n % 2 + 1)) quarantine show "$id" --raw --reason "onderzoek besmetting $n" >/dev/null 2>>"$PRIV/cli.err" &
        reads+=($!)
    done
    for id in "${reads[@]}"; do wait "$id" || { WHY="a quarantine read failed: $(tail -2 "$PRIV/cli.err")"; return 1; }; done
    mw 1 audit list >"$PRIV/audit1.out" 2>&1 || { WHY="node 1: audit chain broken: $(tail -2 "$PRIV/audit1.out")"; return 1; }
    mw 2 audit list >"$PRIV/audit2.out" 2>&1 || { WHY="node 2: audit chain broken: $(tail -2 "$PRIV/audit2.out")"; return 1; }
    cmp -s "$PRIV/audit1.out" "$PRIV/audit2.out" || { WHY="the nodes show different audit logs"; return 1; }
    [ "$(grep -c "onderzoek besmetting" "$PRIV/audit1.out")" = "$n" ] ||
        { WHY="the audit log holds $(grep -c "onderzoek besmetting" "$PRIV/audit1.out") of $n reads"; return 1; }
    # One summary for the whole board, whichever node computes it, equal to the records in the database. A
    # summary shows only completed periods and only cells of at least k senders that no one dominates (the
    # burst has one sender): twelve pupils of another domain send one message each, and then every record of
    # the run is moved one week back in the database (as if the run had been last week).
    local i
    for i in $(seq 1 12); do
        py burst --port "$IN_PORT" --count 1 --prefix "nodes-k$i" --sender "leerling$i@$PUPILS" --rcpt "$RCPT" \
            --size 2000 >/dev/null 2>>"$PRIV/cli.err" || { WHY="harness: pupil message $i not accepted"; return 1; }
    done
    pupils_recorded() { flush; [ "$(sql "SELECT count(*) FROM traffic_record WHERE $IS_PUPIL")" -ge 12 ]; }
    poll 60 pupils_recorded || { WHY="the pupils' 12 messages were not all recorded within 60 s"; return 1; }
    sql "UPDATE traffic_record SET time = time - 604800,
         record = jsonb_set(record, '{time}', to_jsonb((record->>'time')::bigint - 604800))" >/dev/null
    mw 1 traffic summary --format json >"$PRIV/summary1.out" 2>&1
    mw 2 traffic summary --format json >"$PRIV/summary2.out" 2>&1
    cmp -s "$PRIV/summary1.out" "$PRIV/summary2.out" || { WHY="the nodes give different summaries"; return 1; }
    local rows shown
    rows=$(sql "SELECT count(*) FROM traffic_record WHERE $IS_PUPIL")
    shown=$(python3 -c 'import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
print(sum(r["figures"]["messages"] or 0 for r in rows if r["group"] == sys.argv[2]))' "$PRIV/summary1.out" "$PUPILS") ||
        { WHY="the summary is no JSON: $(head -c 300 "$PRIV/summary1.out")"; return 1; }
    [ "$shown" = "$rows" ] || { WHY="the summary shows $shown pupil messages, the database holds $rows"; return 1; }
    WHY="killed after $at_kill; $STATE; quarantine $q1; $n audited reads from both nodes, one chain; one summary, $shown pupil messages as recorded"
}

s_postgres_stopped() {
    local prefix="nodes-pg" count=120
    start_burst "$prefix" "$count"
    enough() { [ "$(field delivered "$(tally "$prefix" "$count")")" -ge 15 ]; }
    poll 120 enough || { WHY="harness: fewer than 15 messages delivered within 120 s"; return 1; }
    bash "$PG_SCRIPT" stop "$PRIV/pg" >>"$PRIV/pg-stop.out" 2>&1
    local at_stop
    at_stop="$(field delivered "$(tally "$prefix" "$count")") delivered"
    say "PostgreSQL stopped after $at_stop"
    wait "$BURST_PID"
    BURST_PID=""
    # While PostgreSQL is down: clean mail flows, infected mail waits in Postfix's queue with a 4xx.
    local clean=0 i
    for i in $(seq 1 "$count"); do [ $((i % 10)) = 3 ] || [ $((i % 10)) = 7 ] || clean=$((clean + 1)); done
    delivered_all() { flush; [ "$(field delivered "$(tally "$prefix" "$count")")" -ge "$clean" ]; }
    poll 120 delivered_all || { WHY="clean mail stopped with PostgreSQL down: $(tally "$prefix" "$count")"; return 1; }
    postqueue -c "$PF" -p >"$PRIV/pg-down.queue" 2>&1
    grep -q "4\.[0-9]\.[0-9]" "$PRIV/pg-down.queue" || { WHY="nothing deferred with a 4xx while PostgreSQL was down"; return 1; }
    PG_URL=$(MAILWACHT_PG_PORT=$PG_PORT bash "$PG_SCRIPT" start "$PRIV/pg" 2>>"$PRIV/pg-start.err") ||
        { WHY="PostgreSQL did not start again"; return 1; }
    settle "$prefix" "$count" 240 || { WHY="after 240 s with PostgreSQL back: $STATE, queue: $(queue_state_all)"; return 1; }
    [ "$(field wrong "$STATE")" = 0 ] || { WHY="$STATE: a message had the wrong outcome"; return 1; }
    local q
    q=$(quarantined 2 "$prefix" "$count")
    [ "$(field missing "$q")" = 0 ] && [ "$(field entries "$q")" = "$(field expected "$q")" ] ||
        { WHY="quarantine after PostgreSQL came back: $q (every infected message once)"; return 1; }
    WHY="stopped after $at_stop; $STATE; quarantine $q"
}

finish() {
    summary postfix.log node1.log node2.log cli.err
}

if ! setup; then
    FAILED=$((FAILED + 1))
    finish
    exit 1
fi
scenario node-killed-mid-burst s_node_killed
scenario postgres-stopped s_postgres_stopped
finish
