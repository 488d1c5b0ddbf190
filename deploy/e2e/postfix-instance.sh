# shellcheck shell=bash
# A private Postfix instance on loopback, shared by the end-to-end suite (deploy/e2e/run.sh) and the Postfix
# benchmark (bench/postfix.sh). Source it; it defines functions only and starts nothing by itself.
#
# The instance lives in one directory PRIV: configuration in PRIV/postfix, queue in PRIV/spool, Postfix's
# data_directory in PRIV/data (owned by postfix), its log in PRIV/postfix.log. It listens on 127.0.0.1 only,
# on the ports the caller writes into master.cf, and relays everything to [127.0.0.1]:SINK_PORT. The system's
# own Postfix (/etc/postfix, /var/spool/postfix) is never read, started or stopped.
#
# Functions that write configuration print it on stdout, so the caller decides what goes around it:
#   pf_install MAILNAME PACKAGE...   apt-get install (debconf preseeded: "Local only", so no questions)
#   pf_dirs PRIV                     create the directories above (PRIV itself must exist)
#   pf_main_cf PRIV MYHOSTNAME SINK_PORT
#                                    the base main.cf: no local delivery, relayhost = the sink, no DNS, no TLS
#   pf_services                      master.cf lines for Postfix's internal services (no listener)
#   pf_filter_main_cf MW_PORT        deploy/postfix/main.cf without comments, mailwacht on MW_PORT
#   pf_filter_master_cf RE_PORT      deploy/postfix/master.cf, the re-injection smtpd on RE_PORT
#   pf_milter_opts MILTER            deploy/postfix/milter.cf as "-o name=value" lines for one smtpd, the
#                                    milter at MILTER: a port on 127.0.0.1, or an address (unix:/path)
#   pf_start PRIV                    postfix check + start; on failure prints why and returns 1
#   pf_stop PRIV                     postfix stop, abort when the master has not exited after 10 s
#   pf_queue_empty PRIV              exit 0 when no message is in any queue (postqueue, via showq)

PF_DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")/../postfix" && pwd)"

pf_install() {
    local mailname=$1
    shift
    export DEBIAN_FRONTEND=noninteractive
    printf '%s\n' 'postfix postfix/main_mailer_type select Local only' \
        "postfix postfix/mailname string $mailname" | debconf-set-selections
    apt-get update -q >/dev/null || { echo "apt-get update failed"; return 1; }
    apt-get install -y -q --no-install-recommends "$@" >/dev/null || { echo "apt-get install failed"; return 1; }
}

pf_dirs() {
    mkdir -p "$1/postfix" "$1/spool" "$1/data"
    # Postfix's daemons run as user postfix and must reach their directories below PRIV.
    chown postfix: "$1/data"
}

pf_main_cf() {
    cat <<EOF
compatibility_level = 3.6
queue_directory = $1/spool
data_directory = $1/data
maillog_file = $1/postfix.log
maillog_file_prefixes = $1
myhostname = $2
mydomain = localdomain
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled in this instance
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:$3
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
biff = no
delay_warning_time = 0
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
smtputf8_enable = yes
EOF
}

pf_services() {
    cat <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

pf_filter_main_cf() {
    grep -v '^\s*#' "$PF_DEPLOY/main.cf" | sed "s/127\.0\.0\.1\]:10025/127.0.0.1]:$1/"
}

pf_filter_master_cf() {
    sed "s/127\.0\.0\.1:10026/127.0.0.1:$1/" "$PF_DEPLOY/master.cf"
}

pf_milter_opts() {
    local addr=$1
    [[ "$addr" == *:* ]] || addr="inet:127.0.0.1:$addr"
    # "name = value" → "    -o name=value"; values in milter.cf have no spaces, which -o requires.
    grep -v '^\s*\(#\|$\)' "$PF_DEPLOY/milter.cf" | sed "s|inet:127\.0\.0\.1:11332|$addr|" |
        sed 's/^\([a-z_]*\)\s*=\s*/    -o \1=/'
}

pf_start() {
    # The postfix command reports fatal errors on stderr only when that is a terminal (else to syslog,
    # which does not exist here): run it under script(1) so the reason lands in the output.
    if ! script -qec "postfix -c '$1/postfix' check" /dev/null >"$1/postfix-check.out" 2>&1; then
        echo "postfix check: $(tail -3 "$1/postfix-check.out" | tr '\n' ' ')"
        return 1
    fi
    if ! script -qec "postfix -c '$1/postfix' start" /dev/null >"$1/postfix-start.out" 2>&1; then
        echo "postfix start: $(tail -3 "$1/postfix-start.out" | tr '\n' ' ')"
        return 1
    fi
}

pf_stop() {
    local master
    postfix -c "$1/postfix" stop >/dev/null 2>&1
    master=$(tr -d ' ' <"$1/spool/pid/master.pid" 2>/dev/null)
    [ -n "$master" ] || return 0
    for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || return 0; sleep 0.1; done
    postfix -c "$1/postfix" abort >/dev/null 2>&1
}

pf_queue_empty() { postqueue -c "$1/postfix" -p 2>/dev/null | grep -q 'Mail queue is empty'; }
