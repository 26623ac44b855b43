#!/usr/bin/env bash
# `make deb`: builds two binary packages with dpkg-deb (no debhelper, no source package) and runs
# lintian on each:
#   paysign_VERSION_ARCH.deb          the entity's side: paysignd and the client paysign
#   paysign-center_VERSION_ARCH.deb   a payment center node: paysign-center (issue 18); another
#                                     machine, another user, another folder in /etc
#
#   scripts/deb.sh [OUT_DIR]      default OUT_DIR: dist/ (git ignores it)
#
# What goes in paysign (packaging/debian/ holds the control template and the maintainer scripts):
#   usr/bin/paysign, usr/bin/paysignd      swift build -c release --static-swift-stdlib, stripped
#   lib/systemd/system/paysignd.{socket,service}   from systemd/ (bookworm's debhelper puts
#                                          units under /lib; /usr/lib is the same folder there)
#   usr/lib/sysusers.d/paysign.conf, usr/lib/tmpfiles.d/paysign.conf   from systemd/
#   etc/paysign/paysignd.yaml              the example configuration (a conffile), packaging/
#   usr/share/doc/paysign/examples/paysignd-delivery.conf   the drop-in for delivery to the center
#   usr/share/man/man{1,5,8}/…             man/: paysign.1 and paysignd.8 generated from the
#                                          argument parser (make man), paysignd.yaml.5 by hand
# What goes in paysign-center (packaging/debian/center/):
#   usr/bin/paysign-center                 built like the others
#   lib/systemd/system/paysign-center.service   from systemd/ (installed, not enabled: it needs
#                                          its configuration and credentials first)
#   etc/paysign-center/center.yaml         the example configuration (a conffile), packaging/
#   usr/share/man/man8/paysign-center.8    generated from the argument parser (make man)
# Depends: the shared libraries the binaries link (dpkg-shlibdeps, the versions Debian's
# symbols files require), plus pcscd and p11-kit (the daemon reaches tokens through them; the
# center its HSM through p11-kit), systemd (sysusers, tmpfiles, the units) and
# init-system-helpers (deb-systemd-helper).
#
# Before packaging, the man pages are checked against the binaries just built: the argument
# parser's description of each command (--experimental-dump-help) must hash to what
# man/dump-help.sha256 recorded when the pages were generated, or the build stops and says to
# run `make man`.
#
# Prints the path of paysign's package on its second-to-last line and paysign-center's on its
# last. Exit status: 0 built (lintian's findings are printed, and fail the build only when lintian
# reports an error, E:), 1 failed.
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir=${1:-dist}

fail() { echo "deb.sh: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps lintian strip gzip; do
    command -v "$tool" >/dev/null || fail "$tool is missing: apt-get install dpkg-dev lintian binutils (make deps does)"
done

echo "== release build (static Swift runtime)" >&2
products="paysign paysignd paysign-center"
for product in $products; do
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
for product in $products; do
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
man_hash=$(for product in $products; do
    "$bin/$product" --experimental-dump-help | sha256sum | cut -d' ' -f1 | sed "s/\$/  $product/"
done)
if ! diff <(echo "$man_hash") man/dump-help.sha256 >/dev/null; then
    fail "man/paysign.1, man/paysignd.8 or man/paysign-center.8 describes other options than the binaries just built" \
        "(man/dump-help.sha256 differs from their --experimental-dump-help): run 'make man' and commit man/."
fi
for page in man/paysign.1 man/paysignd.8 man/paysignd.yaml.5 man/paysign-center.8; do
    [ -f "$page" ] || fail "$page is missing"
done

# --- Stage the trees ---------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/paysign-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
arch_bin() { # PRODUCT ROOT: the stripped binary in ROOT/usr/bin
    # Stripped: the symbol tables alone are most of the 90-130 MB; the Swift runtime's metadata
    # sections, which it needs, are not symbols and stay.
    strip --strip-unneeded --remove-section=.comment --remove-section=.note -o "$2/usr/bin/$1" "$bin/$1"
    chmod 0755 "$2/usr/bin/$1"
}
changelog() { # PACKAGE: a native package's changelog, this version, from the last commit
    echo "$1 ($version) unstable; urgency=medium"
    echo
    echo "  * Built from commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
    echo
    echo " -- $(sed -n 's/^Maintainer: //p' packaging/debian/control.in)  $(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
}

# paysign: the entity's daemon and client.
root=$work/paysign
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" \
    "$root/usr/lib/tmpfiles.d" "$root/etc/paysign" "$root/usr/share/doc/paysign" \
    "$root/usr/share/man/man1" "$root/usr/share/man/man5" "$root/usr/share/man/man8" \
    "$root/usr/share/lintian/overrides"
for product in paysign paysignd; do arch_bin "$product" "$root"; done
install -m 0644 systemd/paysignd.socket systemd/paysignd.service "$root/lib/systemd/system/"
install -m 0644 systemd/paysign.sysusers.conf "$root/usr/lib/sysusers.d/paysign.conf"
install -m 0644 systemd/paysign.tmpfiles.conf "$root/usr/lib/tmpfiles.d/paysign.conf"
# Root's alone until the postinst's systemd-tmpfiles gives it the group paysign (mode 0640, as
# paysign.tmpfiles.conf says): the group does not exist yet when dpkg unpacks the file.
install -m 0640 packaging/paysignd.yaml "$root/etc/paysign/paysignd.yaml"
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/paysign/copyright"
install -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/paysign"
# The drop-in that lets the daemon deliver to the payment center (an example: its address is the
# site's), where Debian keeps examples.
install -d -m 0755 "$root/usr/share/doc/paysign/examples"
install -m 0644 packaging/systemd/paysignd-delivery.conf "$root/usr/share/doc/paysign/examples/paysignd-delivery.conf"
gzip -9n -c man/paysign.1 >"$root/usr/share/man/man1/paysign.1.gz"
gzip -9n -c man/paysignd.yaml.5 >"$root/usr/share/man/man5/paysignd.yaml.5.gz"
gzip -9n -c man/paysignd.8 >"$root/usr/share/man/man8/paysignd.8.gz"
changelog paysign | gzip -9n >"$root/usr/share/doc/paysign/changelog.gz"
chmod 0644 "$root/usr/share/doc/paysign/changelog.gz" "$root"/usr/share/man/man*/*.gz
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo /etc/paysign/paysignd.yaml >"$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"

# paysign-center: a center node. World-readable configuration (nothing secret is in it; the
# secrets are credentials, in a folder the postinst makes root's alone).
center_root=$work/paysign-center
install -d -m 0755 "$center_root/DEBIAN" "$center_root/usr/bin" "$center_root/lib/systemd/system" \
    "$center_root/etc/paysign-center" "$center_root/usr/share/doc/paysign-center" \
    "$center_root/usr/share/man/man8" "$center_root/usr/share/lintian/overrides"
arch_bin paysign-center "$center_root"
install -m 0644 systemd/paysign-center.service "$center_root/lib/systemd/system/"
install -m 0644 packaging/center.yaml "$center_root/etc/paysign-center/center.yaml"
install -m 0644 packaging/debian/copyright "$center_root/usr/share/doc/paysign-center/copyright"
install -m 0644 packaging/debian/center/lintian-overrides "$center_root/usr/share/lintian/overrides/paysign-center"
gzip -9n -c man/paysign-center.8 >"$center_root/usr/share/man/man8/paysign-center.8.gz"
changelog paysign-center | gzip -9n >"$center_root/usr/share/doc/paysign-center/changelog.gz"
chmod 0644 "$center_root/usr/share/doc/paysign-center/changelog.gz" "$center_root"/usr/share/man/man8/*.gz
install -m 0755 packaging/debian/center/postinst packaging/debian/center/prerm packaging/debian/center/postrm "$center_root/DEBIAN/"
echo /etc/paysign-center/center.yaml >"$center_root/DEBIAN/conffiles"
chmod 0644 "$center_root/DEBIAN/conffiles"

# --- Depends from the binaries' shared libraries, control, build, lintian ------------------------
# dpkg-shlibdeps wants a debian/control beside it; a minimal one in the work folder.
mkdir -p "$work/src/debian"
printf 'Source: paysign\n\nPackage: paysign\nArchitecture: any\n\nPackage: paysign-center\nArchitecture: any\n' >"$work/src/debian/control"
mkdir -p "$out_dir"
debs=()
build_package() { # NAME ROOT CONTROL_TEMPLATE NEEDED_LIBS…: builds, lints, appends to debs
    local name=$1 tree=$2 template=$3 shlibs installed_size deb lintian_status needed
    shift 3
    shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$tree"/usr/bin/* 2>"$work/shlibdeps.err" \
        | sed -n 's/^shlibs:Depends=//p') || true
    [ -n "$shlibs" ] || fail "dpkg-shlibdeps found no dependencies for $name: $(head -n 3 "$work/shlibdeps.err")"
    for needed in "$@"; do
        grep -q "\\b$needed\\b" <<<"$shlibs" || fail "dpkg-shlibdeps did not list $needed for $name (it listed: $shlibs)"
    done
    installed_size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
    sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
        -e "s/@SHLIBS@/$shlibs/" "$template" >"$tree/DEBIAN/control"
    if grep -q '@[A-Z_]*@' "$tree/DEBIAN/control"; then
        fail "$template has a placeholder left: $(grep '@[A-Z_]*@' "$tree/DEBIAN/control")"
    fi
    deb=$out_dir/${name}_${version}_${arch}.deb
    rm -f "$deb"
    dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >/dev/null
    echo "== $deb: $(du -h "$deb" | cut -f1), installed $((installed_size / 1024)) MiB" >&2
    dpkg-deb --field "$deb" Depends >&2
    # Its findings are printed; what it still reports and why is in the README ("The Debian
    # package"). The package's overrides, each with its reason, are shipped where lintian reads
    # them; an overridden tag is not printed.
    echo "== lintian $(lintian --version | awk '{ print $2 }') on $name" >&2
    set +e
    lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v '^running with root privileges' >"$work/lintian.out"
    lintian_status=${PIPESTATUS[0]}
    set -e
    if [ -s "$work/lintian.out" ]; then sed 's/^/  /' "$work/lintian.out" >&2; else echo "  (nothing reported)" >&2; fi
    if grep -q '^E: ' "$work/lintian.out"; then
        fail "lintian reports errors in $name (above)"
    fi
    [ "$lintian_status" -eq 0 ] || [ -s "$work/lintian.out" ] || fail "lintian failed on $name (exit $lintian_status) without a word"
    debs+=("$deb")
}
build_package paysign "$root" packaging/debian/control.in libssl3 libpcsclite1 libsqlite3-0 libp11-kit0
build_package paysign-center "$center_root" packaging/debian/center/control.in libssl3 libp11-kit0
printf '%s\n' "${debs[@]}"
