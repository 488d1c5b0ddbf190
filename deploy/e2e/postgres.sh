#!/usr/bin/env bash
# A private PostgreSQL cluster on loopback for tests and benchmarks (issue 17): initdb in its own directory,
# its own port on 127.0.0.1 and its unix socket in that directory; the system's cluster and service are never
# touched.
#
#   postgres.sh start [DIR]   install Debian's postgresql when initdb is missing (root), initdb when DIR holds
#                             no cluster, start it, print its URL (already running: just print the URL)
#   postgres.sh stop [DIR]    stop it (immediate: a test cluster has nothing to keep)
#   postgres.sh url [DIR]     print the URL: host=127.0.0.1 port=PORT user=postgres dbname=postgres
#   postgres.sh install       install Debian's postgresql when initdb is missing (root); for `cargo test`
#   postgres.sh init DIR      initdb only, never installs (the Rust tests' support, tests/support/pg.rs, runs
#                             the server itself); prints the directory of PostgreSQL's programs; exit 3 with
#                             the way to install it when PostgreSQL is missing
#
# DIR defaults to $MAILWACHT_PG_DIR, else ${TMPDIR:-/tmp}/mailwacht-pg; the port to $MAILWACHT_PG_PORT, else
# 55432 (kept in DIR/port). Run as root, the cluster belongs to the `postgres` user (PostgreSQL refuses to
# run as root); otherwise to the caller. Authentication is `trust`, on loopback and the socket only.
set -euo pipefail

cmd=${1:-}
DIR=${2:-${MAILWACHT_PG_DIR:-${TMPDIR:-/tmp}/mailwacht-pg}}
DATA=$DIR/data

bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    d=$(command -v initdb 2>/dev/null) && { dirname "$d"; return 0; }
    return 1
}

# Run a PostgreSQL program as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

init() {
    local bin=$1
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$DIR"
        chmod 0700 "$DIR"
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$DATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
            cat "$DIR/initdb.log" >&2
            return 1
        }
    fi
}

install() {
    bindir >/dev/null && return 0
    [ "$(id -u)" = 0 ] || { echo "PostgreSQL is missing: apt-get install postgresql (as root)" >&2; return 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends postgresql >/dev/null
    bindir >/dev/null
}

port() { cat "$DIR/port" 2>/dev/null || echo "${MAILWACHT_PG_PORT:-55432}"; }
url() { echo "host=127.0.0.1 port=$(port) user=postgres dbname=postgres"; }

case $cmd in
init)
    [ $# -ge 2 ] || { echo "usage: $0 init DIR" >&2; exit 2; }
    bin=$(bindir) || {
        echo "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or PATH): install it with" \
            "\`apt-get install postgresql\` (Debian/Ubuntu), or set MAILWACHT_TEST_PG_URL to a server's URL" >&2
        exit 3
    }
    init "$bin"
    echo "$bin"
    ;;
install)
    install
    ;;
start)
    install
    bin=$(bindir)
    init "$bin"
    if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        url
        exit 0
    fi
    echo "${MAILWACHT_PG_PORT:-55432}" >"$DIR/port"
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$DIR/postgres.log" -w -t 30 \
        -o "-p $(port) -k $DIR -c listen_addresses=127.0.0.1" start >/dev/null || {
        tail -20 "$DIR/postgres.log" >&2
        exit 1
    }
    url
    ;;
stop)
    bin=$(bindir) || exit 0
    [ -f "$DATA/PG_VERSION" ] || exit 0
    as_owner "$bin/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
url)
    url
    ;;
*)
    echo "usage: $0 start|stop|url [DIR] | install | init DIR" >&2
    exit 2
    ;;
esac
