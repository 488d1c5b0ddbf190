# shellcheck shell=bash
# What the end-to-end suites (deploy/e2e/run.sh, deploy/e2e/nodes.sh) share: waiting for a condition and
# running a scenario. Source it; it defines functions only. A scenario function returns 0 (pass) or 1 with
# the reason in WHY; the caller keeps PASSED and FAILED and defines say().

# poll SECONDS CMD...: run CMD until it succeeds or the deadline passes.
poll() {
    local deadline=$(($(date +%s) + $1))
    shift
    while :; do
        "$@" && return 0
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}

# scenario NAME FUNCTION: run it, print `PASS NAME (WHY)` or `FAIL NAME: WHY`, count it.
scenario() {
    local name=$1 fn=$2 t0
    WHY=""
    t0=$(date +%s)
    "$fn"
    local ok=$?
    say "$name took $(($(date +%s) - t0)) s"
    if [ "$ok" = 0 ]; then
        PASSED=$((PASSED + 1))
        echo "PASS $name${WHY:+ ($WHY)}"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $name: ${WHY:-no reason given}"
    fi
}

# summary LOG...: print `N passed, M failed`; after a failure the last lines of each LOG (in PRIV) that has
# any; the suite's time. Returns 1 when anything failed. Needs SUITE_START.
summary() {
    echo "$PASSED passed, $FAILED failed"
    if [ "$FAILED" -gt 0 ] && [ -n "$PRIV" ]; then
        local f
        for f in "$@"; do
            [ -s "$PRIV/$f" ] && { echo "---- last lines of $f" >&2; tail -25 "$PRIV/$f" >&2; }
        done
    fi
    say "suite took $(($(date +%s) - SUITE_START)) s"
    [ "$FAILED" -eq 0 ]
}

# drop_private_dir: remove the suite's private directory PRIV at exit, or keep it (and say where) when a
# scenario failed or E2E_KEEP=1, so its logs can be read.
drop_private_dir() {
    [ -n "$PRIV" ] && [ -d "$PRIV" ] || return 0
    if [ "$FAILED" -gt 0 ] || [ "${E2E_KEEP:-0}" = 1 ]; then
        say "private directory kept: $PRIV"
    else
        rm -rf "$PRIV"
    fi
}
