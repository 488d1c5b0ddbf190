#!/usr/bin/env bash
# CI check of the Debian package: build it (deploy/debian/build.sh), run lintian (no errors, no warnings),
# install it with apt, check what the package promises, purge it and check what purge leaves.
#   sudo bash deploy/debian/check.sh
# Root only (it installs packages and creates the mailwacht user), on a throwaway machine or container:
# it refuses to run where mailwacht is already installed. Installs lintian when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root (installs and purges the package)"
if [[ $(dpkg-query -W -f='${Status}' mailwacht 2>/dev/null) == "install ok installed" ]]; then
    fail "mailwacht is installed on this machine; this check installs and purges it, so it runs only where it is not"
fi
if ! command -v lintian >/dev/null; then
    echo "== installing lintian"
    apt-get install -y --no-install-recommends lintian >/dev/null
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/mailwacht-deb-check.XXXXXX")
trap 'rm -rf "$out"' EXIT
echo "== build"
deb=$(bash deploy/debian/build.sh "$out" | tail -1)
echo "$deb"

echo "== lintian"
# --fail-on error,warning: any error or warning fails the check; info tags are shown, not fatal.
lintian --display-level '>=info' --fail-on error,warning "$deb"

echo "== install"
apt-get install -y "$deb" >/dev/null
mailwacht --version
getent passwd mailwacht >/dev/null || fail "no mailwacht user"
getent group mailwacht-ict >/dev/null || fail "no mailwacht-ict group"
[[ " $(id -nG mailwacht) " == *" mailwacht-ict "* ]] || fail "mailwacht is not in mailwacht-ict (cannot give it the admin socket)"
[ "$(stat -c '%a %U:%G' /etc/mailwacht/mailwacht.toml)" = "640 root:mailwacht" ] \
    || fail "configuration mode: $(stat -c '%a %U:%G' /etc/mailwacht/mailwacht.toml)"
[ "$(stat -c '%a %U' /var/lib/mailwacht)" = "700 mailwacht" ] || fail "data directory mode"
# Without --config the CLI reads the packaged file and says so.
# (Into a file: grep -q stops reading early, and mailwacht then ends on SIGPIPE as it should.)
mailwacht config > "$out/config.txt"
grep -q '^# configuration file /etc/mailwacht/mailwacht.toml (the system default)' "$out/config.txt" \
    || fail "mailwacht config does not use /etc/mailwacht/mailwacht.toml"
for page in mailwacht mailwacht-quarantine mailwacht-completions; do
    [ -s "/usr/share/man/man1/$page.1.gz" ] || fail "manual page $page missing"
done
for f in /usr/share/bash-completion/completions/mailwacht /usr/share/zsh/vendor-completions/_mailwacht \
    /usr/share/fish/vendor_completions.d/mailwacht.fish /usr/share/doc/mailwacht/postfix/milter.cf; do
    [ -s "$f" ] || fail "$f missing"
done
echo "== systemd-analyze security (offline; lower is better)"
systemd-analyze security --offline=yes /lib/systemd/system/mailwacht.service | tail -1

echo "== purge"
# Something the daemon would have stored, to see it kept.
install -d -o mailwacht -g mailwacht -m 0700 /var/lib/mailwacht/quarantine
# (apt passes the maintainer scripts' messages on with its own output.)
apt-get purge -y mailwacht >"$out/purge.log" 2>&1 || { cat "$out/purge.log"; fail "purge failed"; }
grep "^mailwacht: " "$out/purge.log" || fail "purge does not say what it keeps"
grep -q "kept /var/lib/mailwacht" "$out/purge.log" || fail "purge does not say what it keeps"
[ ! -e /etc/mailwacht/mailwacht.toml ] || fail "configuration left after purge"
[ -d /var/lib/mailwacht/quarantine ] || fail "purge removed the stored data"
[ ! -e /usr/bin/mailwacht ] || fail "binary left after purge"
# Leave the machine as it was: the stored data and the accounts are the administrator's to remove.
rm -rf /var/lib/mailwacht /var/lib/mailwacht-keys
deluser --quiet --system mailwacht >/dev/null 2>&1 || true
delgroup --quiet --system mailwacht-ict >/dev/null 2>&1 || true
delgroup --quiet --system mailwacht >/dev/null 2>&1 || true
echo "PASS: the package builds, is lintian-clean, installs and purges"
