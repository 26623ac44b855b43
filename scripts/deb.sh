#!/usr/bin/env bash
# `make deb`: builds paysign_VERSION_ARCH.deb with dpkg-deb (no debhelper, no source package) and
# runs lintian on it.
#
#   scripts/deb.sh [OUT_DIR]      default OUT_DIR: dist/ (git ignores it)
#
# What goes in (packaging/debian/ holds the control template and the maintainer scripts):
#   usr/bin/paysign, usr/bin/paysignd      swift build -c release --static-swift-stdlib, stripped
#   lib/systemd/system/paysignd.{socket,service}   from systemd/ (bookworm's debhelper puts
#                                          units under /lib; /usr/lib is the same folder there)
#   usr/lib/sysusers.d/paysign.conf, usr/lib/tmpfiles.d/paysign.conf   from systemd/
#   etc/paysign/paysignd.yaml              the example configuration (a conffile), packaging/
#   usr/share/man/man{1,5,8}/…             man/: paysign.1 and paysignd.8 generated from the
#                                          argument parser (make man), paysignd.yaml.5 by hand
# Depends: the shared libraries the binaries link (dpkg-shlibdeps, the versions Debian's
# symbols files require), plus pcscd and p11-kit (the daemon reaches tokens through them),
# systemd (sysusers, tmpfiles, the units) and init-system-helpers (deb-systemd-helper).
#
# Before packaging, the man pages are checked against the binaries just built: the argument
# parser's description of each command (--experimental-dump-help) must hash to what
# man/dump-help.sha256 recorded when the pages were generated, or the build stops and says to
# run `make man`.
#
# Prints the path of the package on its last line. Exit status: 0 built (lintian's findings are
# printed, and fail the build only when lintian reports an error, E:), 1 failed.
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir=${1:-dist}

fail() { echo "deb.sh: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps lintian strip gzip; do
    command -v "$tool" >/dev/null || fail "$tool is missing: apt-get install dpkg-dev lintian binutils (make deps does)"
done

echo "== release build (static Swift runtime)" >&2
for product in paysign paysignd; do
    # The build's own status, read before anything else runs (under pipefail, '... | grep || true'
    # would leave PIPESTATUS to 'true').
    set +e
    swift build -c release --static-swift-stdlib --product "$product" 2>&1 \
        | grep -Ev '^\[[0-9]+/[0-9]+\]|prohibited flag|^Building for production' >&2
    build_status=${PIPESTATUS[0]}
    set -e
    [ "$build_status" -eq 0 ] || fail "swift build -c release --static-swift-stdlib --product $product failed (exit $build_status)"
done
bin=$(swift build -c release --show-bin-path)
for product in paysign paysignd; do
    [ -x "$bin/$product" ] || fail "$bin/$product was not built"
    # A static Swift runtime: no libswift*.so may be needed at run time.
    if ldd "$bin/$product" | grep -q 'libswift\|libFoundation\|libdispatch'; then
        fail "$bin/$product links the Swift runtime dynamically (ldd: $(ldd "$bin/$product" | grep -m1 'libswift\|libFoundation\|libdispatch'))"
    fi
done

version=$("$bin/paysignd" --version)
arch=$(dpkg --print-architecture)
[[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || fail "paysignd --version printed '$version', not a Debian version"

# --- The man pages are those of these binaries ------------------------------------------------
man_hash=$(for product in paysign paysignd; do
    "$bin/$product" --experimental-dump-help | sha256sum | cut -d' ' -f1 | sed "s/\$/  $product/"
done)
if ! diff <(echo "$man_hash") man/dump-help.sha256 >/dev/null; then
    fail "man/paysign.1 or man/paysignd.8 describes other options than the binaries just built" \
        "(man/dump-help.sha256 differs from their --experimental-dump-help): run 'make man' and commit man/."
fi
for page in man/paysign.1 man/paysignd.8 man/paysignd.yaml.5; do
    [ -f "$page" ] || fail "$page is missing"
done

# --- Stage the tree ----------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/paysign-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/paysign
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" \
    "$root/usr/lib/tmpfiles.d" "$root/etc/paysign" "$root/usr/share/doc/paysign" \
    "$root/usr/share/man/man1" "$root/usr/share/man/man5" "$root/usr/share/man/man8" \
    "$root/usr/share/lintian/overrides"
for product in paysign paysignd; do
    # Stripped: the symbol tables alone are most of the 90-130 MB; the Swift runtime's
    # metadata sections, which it needs, are not symbols and stay.
    strip --strip-unneeded --remove-section=.comment --remove-section=.note -o "$root/usr/bin/$product" "$bin/$product"
    chmod 0755 "$root/usr/bin/$product"
done
install -m 0644 systemd/paysignd.socket systemd/paysignd.service "$root/lib/systemd/system/"
install -m 0644 systemd/paysign.sysusers.conf "$root/usr/lib/sysusers.d/paysign.conf"
install -m 0644 systemd/paysign.tmpfiles.conf "$root/usr/lib/tmpfiles.d/paysign.conf"
# Root's alone until the postinst's systemd-tmpfiles gives it the group paysign (mode 0640, as
# paysign.tmpfiles.conf says): the group does not exist yet when dpkg unpacks the file.
install -m 0640 packaging/paysignd.yaml "$root/etc/paysign/paysignd.yaml"
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/paysign/copyright"
install -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/paysign"
gzip -9n -c man/paysign.1 >"$root/usr/share/man/man1/paysign.1.gz"
gzip -9n -c man/paysignd.yaml.5 >"$root/usr/share/man/man5/paysignd.yaml.5.gz"
gzip -9n -c man/paysignd.8 >"$root/usr/share/man/man8/paysignd.8.gz"
# A native package's changelog: this version, from the last commit.
{
    echo "paysign ($version) unstable; urgency=medium"
    echo
    echo "  * Built from commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
    echo
    echo " -- $(sed -n 's/^Maintainer: //p' packaging/debian/control.in)  $(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$root/usr/share/doc/paysign/changelog.gz"
chmod 0644 "$root/usr/share/doc/paysign/changelog.gz" "$root"/usr/share/man/man*/*.gz
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo /etc/paysign/paysignd.yaml >"$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"

# --- Depends from the binaries' shared libraries ------------------------------------------------
# dpkg-shlibdeps wants a debian/control beside it; a minimal one in the work folder.
mkdir -p "$work/src/debian"
printf 'Source: paysign\n\nPackage: paysign\nArchitecture: any\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/bin/paysign" "$root/usr/bin/paysignd" 2>"$work/shlibdeps.err" \
    | sed -n 's/^shlibs:Depends=//p') || true
[ -n "$shlibs" ] || fail "dpkg-shlibdeps found no dependencies: $(head -n 3 "$work/shlibdeps.err")"
for needed in libssl3 libpcsclite1 libsqlite3-0 libp11-kit0; do
    grep -q "\\b$needed\\b" <<<"$shlibs" || fail "dpkg-shlibdeps did not list $needed (it listed: $shlibs)"
done
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    -e "s/@SHLIBS@/$shlibs/" \
    packaging/debian/control.in >"$root/DEBIAN/control"
if grep -q '@[A-Z_]*@' "$root/DEBIAN/control"; then
    fail "packaging/debian/control.in has a placeholder left: $(grep '@[A-Z_]*@' "$root/DEBIAN/control")"
fi

mkdir -p "$out_dir"
deb=$out_dir/paysign_${version}_${arch}.deb
rm -f "$deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "== $deb: $(du -h "$deb" | cut -f1), installed $((installed_size / 1024)) MiB" >&2
dpkg-deb --field "$deb" Depends >&2

# --- lintian -----------------------------------------------------------------------------------
# Its findings are printed; what it still reports and why is in the README ("The Debian package").
# The package's overrides, each with its reason, are packaging/debian/lintian-overrides (shipped
# where lintian reads them); an overridden tag is not printed.
echo "== lintian $(lintian --version | awk '{ print $2 }')" >&2
set +e
lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v '^running with root privileges' >"$work/lintian.out"
lintian_status=${PIPESTATUS[0]}
set -e
if [ -s "$work/lintian.out" ]; then sed 's/^/  /' "$work/lintian.out" >&2; else echo "  (nothing reported)" >&2; fi
if grep -q '^E: ' "$work/lintian.out"; then
    fail "lintian reports errors (above)"
fi
[ "$lintian_status" -eq 0 ] || [ -s "$work/lintian.out" ] || fail "lintian failed (exit $lintian_status) without a word"
echo "$deb"
