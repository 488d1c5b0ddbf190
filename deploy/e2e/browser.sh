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
# Installs chromium, chromium-driver, python3-venv and postfix (for smtp-sink) from Debian when missing
# (needs root then).
# Output: `PASS browser` or `FAIL browser: why`; exit status 1 on failure. Screenshots (on failure only)
# stay in the private directory, never in git.
#
# Environment: MAILWACHT_BIN (default: $CARGO_TARGET_DIR or target, /debug/mailwacht; built when absent),
# BROWSER_KEEP=1 (keep the private directory), PIP_INDEX_URL etc. as pip knows them.
set -uo pipefail
export LC_ALL=C.UTF-8

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=deploy/e2e/postfix-instance.sh
. "$REPO/deploy/e2e/postfix-instance.sh"
say() { echo "browser: $*" >&2; }
fail() { echo "FAIL browser: $*"; exit 1; }

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
MW_PID=""
SINK_PID=""
cleanup() {
    local status=$?
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    if [ -n "$MW_PID" ]; then
        kill -TERM "$MW_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$MW_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$MW_PID" 2>/dev/null
        wait "$MW_PID" 2>/dev/null
    fi
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

read -r SMTP_PORT HOP_PORT WEB_PORT < <(python3 "$REPO/deploy/e2e/e2e.py" free-ports --base 25825 --count 3) \
    || fail "no free ports"
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
cat >"$PRIV/mailwacht.toml" <<CONF
[smtp]
listen = "127.0.0.1:$SMTP_PORT"
next_hop = "127.0.0.1:$HOP_PORT"

[storage]
data_dir = "$PRIV/data"

[traffic]
key_dir = "$PRIV/keys"

[admin]
socket = "$PRIV/admin.sock"

[web]
enabled = true
listen = "127.0.0.1:$WEB_PORT"
# The browser runs on this machine and speaks plain HTTP to loopback; in production TLS is in front.
plain_http_loopback = true
CONF

"$MW_BIN" --config "$PRIV/mailwacht.toml" serve >>"$PRIV/mailwacht.log" 2>&1 &
MW_PID=$!
for port in "$SMTP_PORT" "$WEB_PORT"; do
    python3 "$REPO/deploy/e2e/e2e.py" wait-port "$port" --timeout 30 >/dev/null \
        || fail "mailwacht did not listen on $port (see $PRIV/mailwacht.log)"
done

export PASSWORD="browser-test-$(date +%s)-wachtwoord"
for spec in anna:ict bert:ict aart:auditor petra:privacy; do
    printf '%s\n' "$PASSWORD" | "$MW_BIN" --config "$PRIV/mailwacht.toml" user add "${spec%%:*}" \
        --role "${spec##*:}" --password-stdin >>"$PRIV/users.log" 2>&1 \
        || fail "user add $spec failed: $(tail -1 "$PRIV/users.log")"
done

# Chromium's profile and scratch directories go into the private directory, and away with it.
TMPDIR="$PRIV" "$PRIV/venv/bin/python" "$REPO/deploy/e2e/browser.py" \
    --web "http://127.0.0.1:$WEB_PORT" --smtp-port "$SMTP_PORT" --shots "$PRIV" --sink "$PRIV/sink" \
    || fail "scenario failed (see above; screenshots in $PRIV)"

audit=$("$MW_BIN" --config "$PRIV/mailwacht.toml" audit list --json) || fail "audit list failed"
for needle in '"action": "access-request"' 'web user bert; approves show-raw for anna' \
    'web user anna, approved by bert' 'web user aart, approved by petra' '"action": "release"' \
    'approves release for anna' '"action": "login"' '"action": "logout"' \
    '"action": "inquiry-notified"'; do
    grep -qF "$needle" <<<"$audit" || fail "audit log lacks: $needle"
done
echo "PASS browser"
