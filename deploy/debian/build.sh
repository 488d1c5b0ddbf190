#!/usr/bin/env bash
# Build the Debian package from a staged tree with dpkg-deb (no cargo-deb, no debhelper needed):
#   bash deploy/debian/build.sh [OUT_DIR]      → OUT_DIR/mailwacht_<version>_<arch>.deb (default target/debian)
# Uses the release binary ($CARGO_TARGET_DIR or target, /release/mailwacht; built when absent or older
# than the sources). Version from deploy/debian/changelog. Writes nothing outside OUT_DIR and a temporary
# staging directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
out=${1:-$target/debian}
bin=$target/release/mailwacht

cargo build --release --locked
mkdir -p "$out"
stage=$(mktemp -d "${TMPDIR:-/tmp}/mailwacht-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
umask 022

version=$(sed -n '1s/^mailwacht (\([^)]*\)).*/\1/p' deploy/debian/changelog)
arch=$(dpkg --print-architecture)
doc=$stage/usr/share/doc/mailwacht

install -D -m 0755 "$bin" "$stage/usr/bin/mailwacht"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/mailwacht"
# A conffile; postinst makes it root:mailwacht 0640 (it is only an example here, nothing secret).
install -D -m 0644 deploy/mailwacht.toml "$stage/etc/mailwacht/mailwacht.toml"
install -D -m 0644 deploy/mailwacht.service "$stage/lib/systemd/system/mailwacht.service"
install -d "$stage/usr/share/mailwacht/rules"
install -m 0644 rules/* "$stage/usr/share/mailwacht/rules/"
install -d "$doc/postfix"
install -m 0644 deploy/postfix/main.cf deploy/postfix/master.cf deploy/postfix/milter.cf "$doc/postfix/"
install -m 0644 README.md "$doc/README.md"
install -m 0644 deploy/README.md "$doc/deploy.md"
gzip -9n "$doc/README.md" "$doc/deploy.md"
install -m 0644 deploy/debian/changelog "$doc/changelog.Debian"
gzip -9n "$doc/changelog.Debian"
# copyright: the header, then the licence text (DEP-5: indented, blank lines as " .").
{
    cat deploy/debian/copyright
    sed -e 's/^$/./' -e 's/^/ /' LICENSE
} > "$doc/copyright"
chmod 0644 "$doc/copyright"

# Manual pages and completions, generated from the command line definition itself. The directories are
# made here (0755): mailwacht creates what it makes owner-only.
install -d "$stage/usr/share/man/man1"
"$bin" man-pages "$stage/usr/share/man/man1"
chmod 0644 "$stage"/usr/share/man/man1/*.1
gzip -9n "$stage"/usr/share/man/man1/*.1
install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
    "$stage/usr/share/fish/vendor_completions.d"
"$bin" completions bash > "$stage/usr/share/bash-completion/completions/mailwacht"
"$bin" completions zsh > "$stage/usr/share/zsh/vendor-completions/_mailwacht"
"$bin" completions fish > "$stage/usr/share/fish/vendor_completions.d/mailwacht.fish"
chmod 0644 "$stage"/usr/share/{bash-completion/completions,zsh/vendor-completions,fish/vendor_completions.d}/*

# Shared libraries the binary needs → the packages that hold them, with the glibc version it needs.
depends=()
for lib in $(readelf -d "$stage/usr/bin/mailwacht" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    # awk reads all of its input (no early `exit`): under pipefail a writer cut off by SIGPIPE fails the build.
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|64bit|AArch64/ && !p {p = $NF} END {print p}')
    [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !p {p = $NF} END {print p}')
    # dpkg knows the path the package ships (/lib/... on a merged-/usr system too), or the resolved one.
    pkg=""
    for candidate in "$path" "$(readlink -f "$path")" "/usr$path"; do
        pkg=$(dpkg -S "$candidate" 2>/dev/null | sed -n '1s/:.*//p') && [ -n "$pkg" ] && break
    done
    [ -n "$pkg" ] || { echo "build.sh: no package holds $lib ($path)" >&2; exit 1; }
    depends+=("$pkg")
done
glibc=$(objdump -T "$stage/usr/bin/mailwacht" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
deps=$(printf '%s\n' "${depends[@]}" | sort -u | sed "s/^libc6$/libc6 (>= $glibc)/" | paste -sd, | sed 's/,/, /g')

# Not a Debian upload, so its first changelog entry closes no Debian bug.
install -D -m 0644 deploy/debian/lintian-overrides "$stage/usr/share/lintian/overrides/mailwacht"

install -d -m 0755 "$stage/DEBIAN"
install -m 0755 deploy/debian/postinst deploy/debian/postrm "$stage/DEBIAN/"
echo /etc/mailwacht/mailwacht.toml > "$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    > "$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: mailwacht
Version: $version
Architecture: $arch
Maintainer: mailwacht maintainers <ict@school.example>
Installed-Size: $size
Depends: $deps, adduser
Recommends: postfix, clamav-daemon
Section: mail
Priority: optional
Description: mail gateway that screens outgoing mail of Dutch school boards
 An after-queue Postfix content filter and milter for Dutch school boards.
 Outgoing mail is screened per the boards' ICT codes of conduct: suspect
 mail is returned to its sender with a Dutch/English notice, ordinary mail
 is passed on unchanged, infected mail is quarantined (with clamd; the
 built-in scanner is not an antivirus), mail labelled persoonlijk is
 exempt. ICT staff in the mailwacht-ict group review without root.
CONTROL

deb=$out/mailwacht_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
