#!/usr/bin/env bash
# The README's first command under TCG, as on a machine without KVM: the demo
# migrates a running guest and checks its memory on the destination.  It runs
# on this build tree (--build), so that it neither installs nor builds.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
out=$(QMIGRATE_TEST_ACCEL=tcg timeout 300 "$top_srcdir/scripts/demo" --build "$top_builddir" 2>&1) || {
	echo "FAIL: scripts/demo under TCG exited $?:"
	echo "$out"
	echo "demo: 0 passed, 1 failed"
	exit 1
}
failures=0
for want in "accel=tcg, forced by QMIGRATE_TEST_ACCEL" "it dirties at most 64 MiB/s" \
	"migration completed: the VM is on the destination" "ok: " \
	"every page of its memory is accounted for"; do
	if grep -qF -- "$want" <<<"$out"; then
		echo "PASS: the demo says '$want'"
	else
		echo "FAIL: the demo never says '$want'"
		failures=$((failures + 1))
	fi
done
[ "$failures" -eq 0 ] || echo "$out"
echo "demo: $((5 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
