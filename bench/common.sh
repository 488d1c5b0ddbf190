# Shared by the bench scripts (sourced, not run). Needs REPO, say() and py() from the caller.

# The mailwacht binary to measure: MAILWACHT_BIN, or the release build in ${CARGO_TARGET_DIR:-target}.
MW_BIN=${MAILWACHT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/mailwacht}

# Build MW_BIN when it is absent (relay.sh, postfix.sh; profile.sh wants a frame-pointer build instead).
build_when_absent() {
    if [ ! -x "$MW_BIN" ]; then
        say "building $MW_BIN"
        (cd "$REPO" && nice -n 5 cargo build --release -q) || exit 2
    fi
}

stop() { [ -n "$1" ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null; }

# sink_and_config NAME: a fresh directory PRIV (removed at exit unless BENCH_KEEP=1; MW_PID and SINK_PID are
# stopped then), smtp-sink on SINK_PORT, a free MW_PORT, and PRIV/mailwacht.toml for mailwacht (every sender
# local, data in PRIV/data, [runtime] worker_threads = WORKER_THREADS, default 1 as shipped).
sink_and_config() {
    PRIV=$(mktemp -d "/tmp/mailwacht-$1.XXXXXX")
    chmod 755 "$PRIV"
    SINK_PID=""
    MW_PID=""
    trap sink_and_config_cleanup EXIT
    trap 'exit 130' INT TERM
    read -r SINK_PORT MW_PORT <<<"$(py free-ports --count 2)"
    # smtp-sink: accepts everything, keeps nothing; backlog 256 so c=50 never waits on accept().
    # As root it drops to nobody; as an ordinary user it cannot switch users and runs as that user.
    local sink_user=()
    [ "$(id -u)" = 0 ] && sink_user=(-u nobody)
    smtp-sink "${sink_user[@]}" -c "127.0.0.1:$SINK_PORT" 256 >"$PRIV/sink.log" 2>&1 &
    SINK_PID=$!
    py wait-port "$SINK_PORT" || { say "smtp-sink did not start"; exit 2; }
    mkdir -p "$PRIV/data"
    cat >"$PRIV/mailwacht.toml" <<TOML
[organisation]
local_domains = ["school.example"]
[storage]
data_dir = "$PRIV/data"
[runtime]
worker_threads = ${WORKER_THREADS:-1}
TOML
}

# postgres_storage CONFIG...: start a private PostgreSQL 15 on loopback in PRIV/pg (deploy/e2e/postgres.sh,
# fsync on; stopped at exit), give it a fresh database "bench" with the current schema, and point each CONFIG's
# [storage] section at it (backend = "postgres"). Used by STORAGE=postgres and by quarantine.sh.
postgres_storage() {
    if [ -z "${PG_URL:-}" ]; then
        local port
        port=$(py free-ports --count 1)
        PG_URL=$(MAILWACHT_PG_PORT=$port bash "$REPO/deploy/e2e/postgres.sh" start "$PRIV/pg") || exit 2
        PSQL="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)")/psql"
    fi
    "$PSQL" -q "$PG_URL" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" >&2 || exit 2
    local config extra
    extra=$(printf 'backend = "postgres"\nurl = "%s"' "${PG_URL/dbname=postgres/dbname=bench}")
    # The pseudonym keys are wrapped in the database under a secret every node reads.
    [ -f "$PRIV/key-secret" ] || (umask 077 && head -c 32 /dev/urandom >"$PRIV/key-secret")
    for config in "$@"; do
        awk -v extra="$extra" '{print} /^\[storage\]/ {print extra}' "$config" >"$config.pg" && mv "$config.pg" "$config"
        printf '[traffic]\nkey_secret_file = "%s"\n' "$PRIV/key-secret" >>"$config"
    done
    "$MW_BIN" --config "$1" store migrate >&2 || exit 2
}

sink_and_config_cleanup() {
    trap '' PIPE
    stop "$MW_PID"
    stop "$SINK_PID"
    [ -n "${PG_URL:-}" ] && bash "$REPO/deploy/e2e/postgres.sh" stop "$PRIV/pg"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $PRIV"; else rm -rf "$PRIV"; fi
}
