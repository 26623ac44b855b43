#!/usr/bin/env bash
# `make man`: regenerates man/paysign.1, man/paysignd.8 and man/paysign-center.8 from the argument parser with
# swift-argument-parser's generate-manual plugin, and records in man/dump-help.sha256 the hash of
# each command's --experimental-dump-help (the description the plugin works from), so that
# `make deb` can tell the committed pages from stale ones without running the plugin.
# man/paysignd.yaml.5 is written by hand (the configuration file has no argument parser).
#
# The plugin builds every product of the package in debug mode (the same build as `make test`'s,
# so it is usually warm) and generates a page for each; it needs no network.
# The date in the pages is the last commit's day, so regenerating unchanged options changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
outputs=.build/plugins/GenerateManual/outputs
for section in 1 8; do
    echo "== generate-manual --section $section" >&2
    set +e
    swift package plugin generate-manual --configuration debug --section "$section" --date "$date" 2>&1 \
        | grep -Ev '^\[[0-9]+/[0-9]+\]|prohibited flag' >&2
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" -eq 0 ] || { echo "man.sh: the generate-manual plugin failed (exit $status)" >&2; exit 1; }
    # The generator writes the blank lines of a discussion as they are; mdoc wants .Pp (groff and
    # lintian warn "Empty input line" otherwise).
    case $section in
        1) sed 's/^$/.Pp/' "$outputs/paysign/paysign.1" >man/paysign.1 ;;
        8) sed 's/^$/.Pp/' "$outputs/paysignd/paysignd.8" >man/paysignd.8
           sed 's/^$/.Pp/' "$outputs/paysign-center/paysign-center.8" >man/paysign-center.8 ;;
    esac
done
bin=$(swift build --show-bin-path)
for product in paysign paysignd paysign-center; do
    "$bin/$product" --experimental-dump-help | sha256sum | cut -d' ' -f1 | sed "s/\$/  $product/"
done >man/dump-help.sha256
echo "man.sh: man/paysign.1, man/paysignd.8, man/paysign-center.8 and man/dump-help.sha256 written; commit them." >&2
