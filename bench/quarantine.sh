#!/usr/bin/env bash
# Quarantine throughput (issue 17): infected messages (the EICAR test file as an attachment, each message
# different) through mailwacht → smtp-sink, with the embedded backend (sled + files in the data directory)
# and with PostgreSQL (a private cluster on loopback, deploy/e2e/postgres.sh, fsync on), same binary, same
# messages. Each message is answered 250 only after it is stored durably, and its notice to the sender is
# relayed to the sink; a clean run on each backend shows that the backend does not touch clean mail.
#
# Environment: MAILWACHT_BIN (default: the release build, built when absent), COUNT (messages per run,
# default 2000), CONCURRENCY (default "1 10"), WORKER_THREADS (default 1, as shipped), BENCH_KEEP=1.
# Output: a Markdown table on stdout, progress on stderr.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C.UTF-8

REPO="$(cd "$(dirname "$0")/.." && pwd)"
HELPER="$REPO/bench/bench.py"
COUNT=${COUNT:-2000}
CONCURRENCY=${CONCURRENCY:-"1 10"}

say() { echo "bench: $*" >&2; }
py() { python3 "$HELPER" "$@"; }

command -v smtp-sink >/dev/null || { say "smtp-sink missing: run bench/relay.sh once (installs postfix)"; exit 2; }
. "$REPO/bench/common.sh"
build_when_absent
sink_and_config quarantine
PG_PORT=$(py free-ports --count 1)
PG_URL=$(MAILWACHT_PG_PORT=$PG_PORT bash "$REPO/deploy/e2e/postgres.sh" start "$PRIV/pg") || exit 2
stop_pg() { bash "$REPO/deploy/e2e/postgres.sh" stop "$PRIV/pg"; sink_and_config_cleanup; }
trap stop_pg EXIT
PSQL="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)")/psql"

# COUNT distinct infected messages (a counter in the text) and COUNT clean ones.
python3 - "$PRIV" "$COUNT" <<'PY'
import os, sys
priv, count = sys.argv[1], int(sys.argv[2])
eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
for kind in ("infected", "clean"):
    os.makedirs(os.path.join(priv, kind), exist_ok=True)
for i in range(count):
    text = f"Zie bijlage, rooster week {i}.\r\n" + "Met vriendelijke groet,\r\nJuf Anna\r\n" * 20
    infected = ("From: juf@school.example\r\nTo: ouders@example.org\r\nSubject: Rooster\r\n"
                "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                f"--b1\r\nContent-Type: text/plain\r\n\r\n{text}"
                "--b1\r\nContent-Type: application/octet-stream; name=\"rooster.com\"\r\n\r\n"
                f"{eicar}\r\n--b1--\r\n")
    clean = f"From: juf@school.example\r\nTo: ouders@example.org\r\nSubject: Rooster\r\n\r\n{text}"
    for kind, body in (("infected", infected), ("clean", clean)):
        with open(os.path.join(priv, kind, f"{i:06}.eml"), "wb") as f:
            f.write(body.encode())
PY

# run BACKEND: mailwacht on a fresh store of BACKEND, each kind at each concurrency.
run() {
    local backend=$1 c kind n secs bytes refused
    rm -rf "$PRIV/data"
    mkdir -p "$PRIV/data"
    cp "$PRIV/mailwacht.toml" "$PRIV/run.toml"
    if [ "$backend" = postgres ]; then
        "$PSQL" -q "$PG_URL" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" >&2 || exit 2
        printf 'backend = "postgres"\nurl = "%s"\n' "${PG_URL/dbname=postgres/dbname=bench}" >"$PRIV/storage.toml"
        # The keys go into the [storage] section that sink_and_config wrote.
        awk -v extra="$(cat "$PRIV/storage.toml")" '{print} /^\[storage\]/ {print extra}' \
            "$PRIV/mailwacht.toml" >"$PRIV/run.toml"
        # The pseudonym keys are wrapped in the database under a secret every node reads.
        (umask 077 && head -c 32 /dev/urandom >"$PRIV/key-secret")
        printf '[traffic]\nkey_secret_file = "%s"\n' "$PRIV/key-secret" >>"$PRIV/run.toml"
        "$MW_BIN" --config "$PRIV/run.toml" store migrate >&2 || exit 2
    fi
    "$MW_BIN" --config "$PRIV/run.toml" serve --listen "127.0.0.1:$MW_PORT" \
        --next-hop "127.0.0.1:$SINK_PORT" >>"$PRIV/mailwacht-$backend.log" 2>&1 &
    MW_PID=$!
    py wait-port "$MW_PORT" --timeout 30 || { say "mailwacht did not start"; tail "$PRIV/mailwacht-$backend.log" >&2; exit 2; }
    for c in $CONCURRENCY; do
        for kind in infected clean; do
            say "$backend $kind c=$c"
            read -r n secs bytes refused <<<"$(py send "$PRIV/$kind" --port "$MW_PORT" --concurrency "$c" --rounds 1)"
            awk -v b="$backend" -v k="$kind" -v c="$c" -v n="$n" -v t="$secs" -v r="$refused" \
                'BEGIN { printf "| %s | %s | %d | %d | %.0f | %.2f | %d |\n", b, k, c, n, n / t, t / n * 1000, r }'
        done
    done
    stop "$MW_PID"
    MW_PID=""
}

echo
echo "### Quarantine throughput: $COUNT messages per run (~2 KB), one SMTP session per message, Python client"
echo
echo "| backend | mail | concurrency | messages | msg/s | ms / msg (wall) | refused at SMTP |"
echo "|---|---|---:|---:|---:|---:|---:|"
run embedded
run postgres
