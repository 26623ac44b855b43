#!/usr/bin/env bash
# docs/rules.md states every rule the code cites, and every link into it lands somewhere:
# - each rule number cited in Sources/ (`.d6`, `RuleNumber.d6`, `"D6"`, D6 in a comment or a
#   message) has its anchor in docs/rules.md (`<a id="d6"></a>`);
# - each link the README makes to docs/rules.md#… names an anchor that exists there;
# - each link in docs/rules.md (to its own anchors, to the README's headings, to files of the
#   repository) resolves inside the repository, and each source path it names exists;
# - nothing cites domain.md, a file outside this repository (the rules live in docs/rules.md).
# Needs no build. make test runs it before building; run it alone any time.
set -euo pipefail
cd "$(dirname "$0")/.."
rules=docs/rules.md
problems=0
problem() {
  echo "check-rules-doc: $*" >&2
  problems=$((problems + 1))
}

if [ ! -f "$rules" ]; then
  echo "check-rules-doc: $rules is missing; it states the rules the code cites (D1–D15, P1–P7)." >&2
  exit 1
fi

# The anchors of a Markdown file, one per line: explicit <a id="…"> or <a name="…">, and the
# ids GitHub gives headings (lower case, punctuation dropped, spaces to hyphens, -1, -2… for
# repeats). Lines inside fenced code blocks are not headings.
anchors() {
  perl -CSD -ne '
    if (/^\s*(```|~~~)/) { $fence = !$fence; next }
    while (/<a\s+(?:id|name)="([^"]+)"/g) { print "$1\n" }
    next if $fence;
    if (/^#{1,6}\s+(.*?)\s*#*\s*$/) {
      my $t = lc $1;
      $t =~ s/<[^>]*>//g;
      $t =~ s/[^\p{L}\p{N}\p{M} _-]//g;
      $t =~ s/ /-/g;
      my $n = $seen{$t}++;
      print $n ? "$t-$n\n" : "$t\n";
    }' "$1"
}
rule_anchors=$(anchors "$rules")
has_anchor() { grep -qxF -- "$2" <<<"$1"; }

# 1. Rule numbers cited in Sources/: Swift members (`.d6`, not a file extension such as key.p12)
# and the numbers themselves (`"D6"`, comments, messages). The first place each is cited.
cited=$({ grep -rnoE '(RuleNumber|^|[^[:alnum:]_])\.[dp][0-9]{1,2}\b|\b[DP][0-9]{1,2}\b' Sources || true; } |
  awk -F: '{ n = $3; for (i = 4; i <= NF; i++) n = n ":" $i
             sub(/^.*\./, "", n); n = toupper(n)
             if (!(n in first)) { first[n] = $1 ":" $2; order[++k] = n } }
           END { for (i = 1; i <= k; i++) print order[i], first[order[i]] }')
count=0
while read -r number where; do
  [ -n "$number" ] || continue
  count=$((count + 1))
  id=$(tr '[:upper:]' '[:lower:]' <<<"$number")
  if ! has_anchor "$rule_anchors" "$id"; then
    problem "$where cites rule $number, but $rules has no anchor '$id' (add <a id=\"$id\"></a> and an entry for $number)."
  fi
done <<<"$cited"

# 2. The README's links into docs/rules.md (inline or reference-style).
links=0
while IFS=: read -r line target; do
  [ -n "$line" ] || continue
  links=$((links + 1))
  id=${target#*#}
  if ! has_anchor "$rule_anchors" "$id"; then
    problem "README.md:$line links $target, but $rules has no anchor '$id'."
  fi
done < <(grep -noE 'docs/rules\.md#[^])[:space:]>"]+' README.md || true)

# 3. The links of docs/rules.md, and the source paths it names in backquotes.
while IFS=: read -r line target; do
  [ -n "$line" ] || continue
  path=${target%%#*}
  id=""
  [[ "$target" == *"#"* ]] && id=${target#*#}
  case "$path" in
  http://* | https://* | mailto:*) continue ;;
  "") has_anchor "$rule_anchors" "$id" || problem "$rules:$line links #$id, which is no anchor of $rules." ;;
  *)
    resolved=$(realpath -m "docs/$path")
    if [[ "$resolved" != "$PWD"/* ]]; then
      problem "$rules:$line links $path, outside the repository; the project links only to its own files."
    elif [ ! -e "$resolved" ]; then
      problem "$rules:$line links $path, which does not exist."
    elif [ -n "$id" ] && [[ "$resolved" == *.md ]] && ! has_anchor "$(anchors "$resolved")" "$id"; then
      problem "$rules:$line links $target, but ${resolved#"$PWD"/} has no anchor '$id'."
    fi
    ;;
  esac
done < <(grep -noE '\]\([^)[:space:]]+\)' "$rules" | sed -E 's/^([0-9]+):\]\((.*)\)$/\1:\2/' || true)
# shellcheck disable=SC2016 # the backquotes are Markdown's, not a command substitution
while IFS=: read -r line path; do
  [ -n "$line" ] || continue
  path=${path//\`/}
  [ -e "$path" ] || problem "$rules:$line names $path, which does not exist."
done < <(grep -noE '`(Sources|Tests|scripts|Certs|packaging|systemd|man)/[^`[:space:]]*`' "$rules" || true)

# 4. No citation of domain.md: a user's clone has no such file.
while IFS= read -r hit; do
  [ -n "$hit" ] || continue
  problem "${hit%%:*}:$(cut -d: -f2 <<<"$hit") cites domain.md, which is not part of this repository; cite $rules."
done < <(grep -rnF 'domain.md' Sources Tests README.md docs man packaging scripts --exclude=check-rules-doc.sh || true)

if [ "$problems" -ne 0 ]; then
  echo "check-rules-doc: $problems problem(s); $rules states the rules the code cites (see its introduction)." >&2
  exit 1
fi
echo "check-rules-doc: the $count rule numbers cited in Sources/ and the $links README links into $rules all have their anchor"
