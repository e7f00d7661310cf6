#!/usr/bin/env bash
# scripts/accel, the one KVM probe (the test helpers, the demo and the
# benchmarks all run it), never creates or writes anything: each case runs it
# in a mount namespace of its own whose /dev is an empty tmpfs holding only
# what the case puts there, then compares /dev with what was put there.
set -euo pipefail
: "${top_srcdir:?}"
accel=$top_srcdir/scripts/accel
failures=0 passes=0

pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# in_fake_dev SETUP COMMAND...: runs COMMAND with /dev as an empty tmpfs in
# which SETUP (shell code, run first) made what it made; prints COMMAND's
# stdout and stderr, its exit code, then "ls -l --full-time /dev" before and after.
in_fake_dev() {
	local setup=$1
	shift
	unshare --mount --propagation private -- bash -c '
		set -u
		mount -t tmpfs -o mode=0755 qmigrate-test /dev || exit 99
		mknod -m 0666 /dev/null c 1 3
		eval "$1"
		shift
		before=$(ls -l --full-time /dev)
		"$@" 2>&1
		echo "exit=$?"
		after=$(ls -l --full-time /dev)
		[ "$before" = "$after" ] && echo "dev=unchanged" || printf "dev=changed\n%s\n--\n%s\n" "$before" "$after"
	' in-fake-dev "$setup" "$@"
}

check() { # NAME EXPECTED-PATTERN OUTPUT
	if grep -qE "$2" <<<"$3" && grep -q '^dev=unchanged$' <<<"$3"; then
		pass "$1"
	else
		fail "$1: wanted /$2/ and /dev unchanged, got:"
		sed 's/^/    /' <<<"$3"
	fi
}

out=$(in_fake_dev : "$accel")
check "no /dev/kvm: tcg, and nothing is created" '^tcg$' "$out"

out=$(in_fake_dev : env QMIGRATE_TEST_ACCEL=kvm "$accel")
check "no /dev/kvm, kvm forced: fails saying why, creates nothing" \
	'KVM is not usable: /dev/kvm does not exist' "$out"
grep -q '^exit=1$' <<<"$out" || fail "kvm forced without KVM exits 1: $out"

out=$(in_fake_dev ': >/dev/kvm' "$accel")
check "an empty regular file /dev/kvm is not KVM and stays as it is" '^tcg$' "$out"

out=$(in_fake_dev ': >/dev/kvm' env QMIGRATE_TEST_ACCEL=kvm "$accel")
check "a regular file /dev/kvm, kvm forced: fails naming it" 'is not a character device' "$out"

# 240: a major number for local use, with no driver behind it: open fails (ENXIO).
out=$(in_fake_dev 'mknod -m 0600 /dev/kvm c 240 0' "$accel")
check "a character device that does not open is not KVM" '^tcg$' "$out"

out=$(in_fake_dev 'mknod -m 0600 /dev/kvm c 240 0' env QMIGRATE_TEST_ACCEL=kvm "$accel")
check "a character device that does not open, kvm forced: fails" 'cannot be opened' "$out"

out=$(in_fake_dev : env QMIGRATE_TEST_ACCEL=tcg "$accel")
check "tcg forced: tcg" '^tcg$' "$out"

out=$(in_fake_dev : env QMIGRATE_TEST_ACCEL=kwm "$accel")
check "a misspelt accelerator is refused" "must be kvm or tcg, not 'kwm'" "$out"

# On this machine: whatever it has, forcing tcg gives tcg.
[ "$(QMIGRATE_TEST_ACCEL=tcg "$accel")" = tcg ] && pass "tcg forced on this machine: tcg" ||
	fail "tcg forced on this machine"

# Nobody else probes: the demo and the benchmarks run scripts/accel, and no
# script or test helper opens /dev/kvm itself.
for f in scripts/demo scripts/bench/lib.sh scripts/bench/guest-rate tests/helpers/qemu.c; do
	if grep -q 'scripts/accel' "$top_srcdir/$f"; then
		pass "$f runs scripts/accel"
	else
		fail "$f does not run scripts/accel"
	fi
done
others=$(cd "$top_srcdir" && grep -rlE '(<>|<|>|if=|of=|open\(|-[rwc]) *"?/dev/kvm' scripts tests \
	--exclude=accel --exclude=test-accel.sh || true)
[ -z "$others" ] && pass "no other file opens or tests /dev/kvm" ||
	fail "these open or test /dev/kvm themselves: $others"

echo "accel: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
