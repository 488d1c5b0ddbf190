#!/usr/bin/env bash
# The web console in a real browser: Debian's chromium + chromium-driver driven over WebDriver by Python
# selenium (installed with pip into a venv in the private directory), against the real `mailwacht serve`
# with `[web] enabled` on loopback. Scenario (deploy/e2e/browser.py): an EICAR message is quarantined over
# SMTP; `ict` user anna logs in, sees its queue id in /quarantine, opens it (structure, no content),
# requests to view it, fails to approve her own request; `ict` user bert approves; anna then sees the
# content once; anna asks to release it, bert approves, anna releases it once and it reaches the next hop
# (smtp-sink), while a second use of the same approval is refused; auditor aart opens the Dutch traffic report and requests an inquiry, which privacy officer
# petra approves (opening it), ends and records the person's notification of. Then the audit log must name
# both people of each four-eyes step.
#
# With STORAGE=postgres (or --postgres): a private PostgreSQL cluster (deploy/e2e/postgres.sh), `store
# migrate`, and TWO nodes on that database, each with its own SMTP port, console and data directory; the
# scenario is browser.py's two_nodes: anna logs in on node A, node B's console (same host, other port: the
# same cookie) knows her session; a release requested on A is approved by bert on B and used on A; both
# list the same quarantine and the same intact audit trail; logout on B ends the session on A.
#
# Installs chromium, chromium-driver, python3-venv and postfix (for smtp-sink) from Debian when missing
# (needs root then).
# Output: `PASS browser` or `FAIL browser: why`; exit status 1 on failure. Screenshots (on failure only)
# stay in the private directory, never in git.
#
# Environment: STORAGE (embedded, the default, or postgres), MAILWACHT_BIN (default: $CARGO_TARGET_DIR or target, /debug/mailwacht; built when absent),
# BROWSER_KEEP=1 (keep the private directory), PIP_INDEX_URL etc. as pip knows them.
set -uo pipefail
export LC_ALL=C.UTF-8

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=deploy/e2e/postfix-instance.sh
. "$REPO/deploy/e2e/postfix-instance.sh"
STORAGE=${STORAGE:-embedded}
[ "${1:-}" = --postgres ] && STORAGE=postgres
NAME=browser
[ "$STORAGE" = postgres ] && NAME=browser-postgres
say() { echo "$NAME: $*" >&2; }
fail() { echo "FAIL $NAME: $*"; exit 1; }
case $STORAGE in embedded | postgres) ;; *) fail "STORAGE=$STORAGE: embedded or postgres" ;; esac

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v smtp-sink >/dev/null || missing+=(postfix)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "${missing[*]} missing and not root to install them"
    say "installing ${missing[*]}"
    # pf_install preseeds postfix ("Local only"), so no question is asked; no service is started here.
    why=$(pf_install browser.localdomain "${missing[@]}" 2>&1) || fail "installing ${missing[*]}: $why"
fi

MW_BIN="${MAILWACHT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mailwacht}"
if [ ! -x "$MW_BIN" ]; then
    say "building $MW_BIN"
    (cd "$REPO" && cargo build --quiet) || fail "cargo build failed"
fi

PRIV=$(mktemp -d "${TMPDIR:-/tmp}/mailwacht-browser.XXXXXX")
MW_PIDS=()
SINK_PID=""
PG_UP=0
cleanup() {
    local status=$? pid
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    for pid in "${MW_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ "$PG_UP" = 1 ] && bash "$REPO/deploy/e2e/postgres.sh" stop "$PRIV/pg" >/dev/null 2>&1
    if [ "$status" != 0 ] || [ "${BROWSER_KEEP:-0}" = 1 ]; then
        say "private directory kept: $PRIV"
    else
        rm -rf "$PRIV"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "python venv with selenium"
python3 -m venv "$PRIV/venv" >/dev/null 2>&1 || fail "python3 -m venv failed"
"$PRIV/venv/bin/pip" install -q 'selenium>=4.10,<5' >"$PRIV/pip.log" 2>&1 \
    || fail "pip install selenium failed (see $PRIV/pip.log)"

read -r SMTP_PORT HOP_PORT WEB_PORT SMTP_B WEB_B PG_PORT < <(python3 "$REPO/deploy/e2e/e2e.py" free-ports \
    --base 25825 --count 6) || fail "no free ports"
mkdir -m 700 "$PRIV/data" "$PRIV/keys"

# The next hop for the release: smtp-sink, one dump file per transaction (as user nobody when root, which
# must reach its directory).
mkdir "$PRIV/sink"
sink_user=()
if [ "$(id -u)" = 0 ]; then
    chmod 0711 "$PRIV"
    chown nobody: "$PRIV/sink"
    sink_user=(-u nobody)
fi
smtp-sink "${sink_user[@]}" -h sink.browser.localdomain -d "$PRIV/sink/%s." "127.0.0.1:$HOP_PORT" 10 \
    >>"$PRIV/smtp-sink.log" 2>&1 &
SINK_PID=$!
python3 "$REPO/deploy/e2e/e2e.py" wait-port "$HOP_PORT" --timeout 10 >/dev/null \
    || fail "smtp-sink did not listen on $HOP_PORT (see $PRIV/smtp-sink.log)"
# STORAGE=postgres: the private cluster both nodes share.
STORE_LINES=""
TRAFFIC_LINES="key_dir = \"$PRIV/keys\""
if [ "$STORAGE" = postgres ]; then
    PG_UP=1
    PG_URL=$(MAILWACHT_PG_PORT=$PG_PORT bash "$REPO/deploy/e2e/postgres.sh" start "$PRIV/pg" 2>"$PRIV/pg.err") \
        || fail "PostgreSQL did not start: $(tail -3 "$PRIV/pg.err" | tr '\n' ' ')"
    STORE_LINES="backend = \"postgres\"
url = \"$PG_URL\""
    # The pseudonym keys live in the database, wrapped under a secret both nodes read.
    (umask 077 && head -c 32 /dev/urandom >"$PRIV/key-secret")
    TRAFFIC_LINES="key_secret_file = \"$PRIV/key-secret\""
fi

# write_config FILE DATA_DIR SMTP_PORT WEB_PORT: one node's configuration.
write_config() {
    mkdir -p -m 700 "$2"
    cat >"$1" <<CONF
[smtp]
listen = "127.0.0.1:$3"
next_hop = "127.0.0.1:$HOP_PORT"

[storage]
data_dir = "$2"
$STORE_LINES

[traffic]
$TRAFFIC_LINES

[admin]
socket = "$2/admin.sock"

[web]
enabled = true
listen = "127.0.0.1:$4"
# The browser runs on this machine and speaks plain HTTP to loopback; in production TLS is in front.
plain_http_loopback = true
CONF
}

# start_node CONFIG LOG SMTP_PORT WEB_PORT
start_node() {
    "$MW_BIN" --config "$1" serve >>"$2" 2>&1 &
    MW_PIDS+=($!)
    for port in "$3" "$4"; do
        python3 "$REPO/deploy/e2e/e2e.py" wait-port "$port" --timeout 30 >/dev/null \
            || fail "mailwacht did not listen on $port (see $2)"
    done
}

write_config "$PRIV/mailwacht.toml" "$PRIV/data" "$SMTP_PORT" "$WEB_PORT"
SECOND=()
if [ "$STORAGE" = postgres ]; then
    write_config "$PRIV/node-b.toml" "$PRIV/data-b" "$SMTP_B" "$WEB_B"
    "$MW_BIN" --config "$PRIV/mailwacht.toml" store migrate >"$PRIV/migrate.log" 2>&1 \
        || fail "store migrate: $(tail -3 "$PRIV/migrate.log" | tr '\n' ' ')"
    start_node "$PRIV/node-b.toml" "$PRIV/node-b.log" "$SMTP_B" "$WEB_B"
    SECOND=(--web-b "http://127.0.0.1:$WEB_B" --smtp-port-b "$SMTP_B")
fi
start_node "$PRIV/mailwacht.toml" "$PRIV/mailwacht.log" "$SMTP_PORT" "$WEB_PORT"

export PASSWORD="browser-test-$(date +%s)-wachtwoord"
for spec in anna:ict bert:ict aart:auditor petra:privacy; do
    printf '%s\n' "$PASSWORD" | "$MW_BIN" --config "$PRIV/mailwacht.toml" user add "${spec%%:*}" \
        --role "${spec##*:}" --password-stdin >>"$PRIV/users.log" 2>&1 \
        || fail "user add $spec failed: $(tail -1 "$PRIV/users.log")"
done

# Chromium's profile and scratch directories go into the private directory, and away with it.
TMPDIR="$PRIV" "$PRIV/venv/bin/python" "$REPO/deploy/e2e/browser.py" \
    --web "http://127.0.0.1:$WEB_PORT" --smtp-port "$SMTP_PORT" --shots "$PRIV" --sink "$PRIV/sink" \
    "${SECOND[@]}" || fail "scenario failed (see above; screenshots in $PRIV)"

if [ "$STORAGE" = postgres ]; then
    # One audit chain, appended by both nodes, read through each node's admin socket.
    a=$("$MW_BIN" --config "$PRIV/mailwacht.toml" audit list --json) || fail "audit list on node A failed"
    b=$("$MW_BIN" --config "$PRIV/node-b.toml" audit list --json) || fail "audit list on node B failed"
    [ "$a" = "$b" ] || fail "the nodes list different audit trails"
    for needle in '"intact": true' 'web user bert; approves release for anna' \
        'web user anna, approved by bert' '"action": "release"' '"action": "logout"'; do
        grep -qF "$needle" <<<"$b" || fail "audit log lacks: $needle"
    done
    echo "PASS $NAME"
    exit 0
fi

audit=$("$MW_BIN" --config "$PRIV/mailwacht.toml" audit list --json) || fail "audit list failed"
for needle in '"action": "access-request"' 'web user bert; approves show-raw for anna' \
    'web user anna, approved by bert' 'web user aart, approved by petra' '"action": "release"' \
    'approves release for anna' '"action": "login"' '"action": "logout"' \
    '"action": "inquiry-notified"'; do
    grep -qF "$needle" <<<"$audit" || fail "audit log lacks: $needle"
done
echo "PASS browser"
