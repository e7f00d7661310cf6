#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The ABI check (after jansson's): the dynamic symbols libqmigrate.so defines
# are exactly the global list of libqmigrate.sym, and every qm_* function the
# public header declares is in that list.
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
lib=$top_builddir/.libs/libqmigrate.so
sym=$top_srcdir/libqmigrate.sym
header=$top_srcdir/include/qmigrate.h

if [ ! -e "$lib" ]; then
	echo "SKIP: $lib not built (configured with --disable-shared?)"
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-symbols-XXXXXX")
chmod 0700 "$dir"
trap 'rm -rf "$dir"' EXIT
export LC_ALL=C

# Functions and data the library defines (not the version node, type A).
nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
	sort -u >"$dir/exported"
# Names between "global:" and "local:" in the version script.
sed -n '/global:/,/local:/p' "$sym" | sed -n 's/^[[:space:]]*\([A-Za-z0-9_]*\);.*/\1/p' |
	sort -u >"$dir/listed"
# qm_* names followed by "(" in the header: function declarations, not the
# (*qm_..._fn) typedefs.
sed 's,/\*.*\*/,,' "$header" | grep -o '\bqm_[a-z0-9_]*[[:space:]]*(' |
	sed 's/[[:space:]]*($//' | sort -u >"$dir/declared"

status=0
if [ ! -s "$dir/listed" ] || [ ! -s "$dir/declared" ]; then
	echo "FAIL: could not read the symbol list or the header" >&2
	exit 1
fi
if ! diff -u "$dir/listed" "$dir/exported" >"$dir/diff"; then
	echo "FAIL: libqmigrate.so exports differ from libqmigrate.sym (- listed, + exported):" >&2
	tail -n +3 "$dir/diff" | grep '^[-+]' >&2
	status=1
fi
missing=$(comm -23 "$dir/declared" "$dir/listed")
if [ -n "$missing" ]; then
	echo "FAIL: declared in include/qmigrate.h but missing from libqmigrate.sym:" >&2
	echo "$missing" >&2
	status=1
fi
[ $status -eq 0 ] && echo "ok: $(wc -l <"$dir/exported") symbols, header, .sym and library agree"
exit $status
