#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The qmigrate command against a real QEMU (-machine none): output formats,
# arguments, QMP errors, bad sockets, exit codes, help and version, and a
# silent library.
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.  QEMU is
# started here, tracked by its pid and killed by it; every wait is bounded.
set -euo pipefail

: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
QEMU=${QEMU:-qemu-system-x86_64}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}

dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-cli-XXXXXX")
chmod 0700 "$dir"
sock=$dir/qmp.sock
qemu_pid=

cleanup() {
	if [ -n "$qemu_pid" ]; then
		kill -TERM "$qemu_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$qemu_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

failures=0
fail() {
	echo "FAIL: $*" >&2
	echo "  exit status: $rc" >&2
	sed 's/^/  stdout: /' "$dir/out" >&2
	sed 's/^/  stderr: /' "$dir/err" >&2
	failures=$((failures + 1))
}
pass() {
	echo "ok: $*"
}
# check NAME CONDITION...: runs the condition (a command), reports the result.
check() {
	local title=$1
	shift
	if "$@"; then pass "$title"; else fail "$title"; fi
}

# run ARGS...: runs qmigrate, bounded; sets $rc, $out and $err.
run() {
	rc=0
	timeout -k 5 30 "$QMIGRATE" "$@" >"$dir/out" 2>"$dir/err" </dev/null || rc=$?
	out=$(cat "$dir/out")
	err=$(cat "$dir/err")
}

# ---- QEMU -------------------------------------------------------------------
"$QEMU" -nodefaults -display none -machine none -accel kvm -accel tcg \
	-qmp "unix:$sock,server=on,wait=off" </dev/null >"$dir/qemu.log" 2>&1 &
qemu_pid=$!
for _ in $(seq 400); do
	[ -S "$sock" ] && break
	if ! kill -0 "$qemu_pid" 2>/dev/null; then
		echo "QEMU exited before creating its QMP socket:" >&2
		cat "$dir/qemu.log" >&2
		exit 1
	fi
	sleep 0.05
done
[ -S "$sock" ] || { echo "QEMU did not create $sock within 20 s" >&2; exit 1; }

# ---- commands ---------------------------------------------------------------
run qmp "$sock" query-status
check "query-status prints a JSON object with \"status\"" \
	eval '[ $rc -eq 0 ] && [[ $out == "{"*"}" ]] && [[ $out == *"\"status\":"*"\"running\""* ]]'

unset_env=(env -u QMIGRATE_LOG -u QMIGRATE_QMP_TRACE)
rc=0
"${unset_env[@]}" timeout -k 5 30 "$QMIGRATE" qmp "$sock" query-status \
	>"$dir/out" 2>"$dir/err" </dev/null || rc=$?
check "with QMIGRATE_LOG unset, success leaves stderr empty" \
	eval '[ $rc -eq 0 ] && [ ! -s "$dir/err" ] && [ -s "$dir/out" ]'

run qmp --compact "$sock" query-status
compact=$out
check "--compact prints one line with no spaces" \
	eval '[ $rc -eq 0 ] && [ "$(wc -l <"$dir/out")" -eq 1 ] && [[ $out != *" "* ]]'
run qmp --pretty "$sock" query-status
check "--pretty indents, one member per line, same JSON as --compact" \
	eval '[ $rc -eq 0 ] && [ "$(wc -l <"$dir/out")" -ge 3 ] &&
	      grep -q "^  \"status\": \"running\",\?\$" "$dir/out" &&
	      [ "$(tr -d " \n" <"$dir/out")" = "$compact" ]'

run qmp "$sock" qom-get '{"path": "/machine", "property": "type"}'
check "ARGUMENTS-JSON reaches QEMU (qom-get)" \
	eval '[ $rc -eq 0 ] && [ "$out" = "\"none-machine\"" ]'
run qmp "$sock" migrate-set-parameters '{"downtime-limit": 1234}'
check "migrate-set-parameters returns {}" eval '[ $rc -eq 0 ] && [ "$out" = "{}" ]'
run qmp -c "$sock" query-migrate-parameters
check "the parameter set by the previous command stuck" \
	eval '[ $rc -eq 0 ] && [[ $out == *"\"downtime-limit\":1234"* ]]'

# ---- failures and exit codes ------------------------------------------------
run qmp "$sock" no-such-command
check "a QMP error exits 1 with its class and description" \
	eval '[ $rc -eq 1 ] && [ -z "$out" ] && [[ $err == *CommandNotFound* ]] &&
	      [[ $err == *"The command no-such-command has not been found"* ]]'

run qmp "$sock" qom-get '{"path": "/machine",'
check "ARGUMENTS-JSON that is not JSON exits 2" \
	eval '[ $rc -eq 2 ] && [ -z "$out" ] && [[ $err == *"not JSON"* ]]'
run qmp "$sock" qom-get '["/machine"]'
check "ARGUMENTS-JSON that is not an object exits 2" \
	eval '[ $rc -eq 2 ] && [[ $err == *"JSON object"* ]]'
run qmp "$sock"
check "a missing COMMAND exits 2" eval '[ $rc -eq 2 ] && [[ $err == *"qmigrate help qmp"* ]]'

start=$(date +%s%N)
run qmp -t 0.5 "$dir/missing.sock" query-status
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "a missing socket exits 1 naming the path, within the timeout" \
	eval '[ $rc -eq 1 ] && [[ $err == *"$dir/missing.sock"* ]] && [ $elapsed_ms -lt 5000 ]'

run frobnicate
check "an unknown subcommand exits 2" eval '[ $rc -eq 2 ] && [[ $err == *frobnicate* ]]'
run
check "no subcommand exits 2 with the usage" eval '[ $rc -eq 2 ] && [[ $err == Usage:* ]]'
run help frobnicate
check "help for an unknown subcommand exits 2" eval '[ $rc -eq 2 ]'

# ---- help and version -------------------------------------------------------
mapfile -t names < <(sed -n 's/^[[:space:]]*\.name = "\([^"]*\)",.*/\1/p' \
	"$top_srcdir"/cli/cmd-*.c)
run --help
check "--help exits 0 and the sources name subcommands" eval '[ $rc -eq 0 ] && [ ${#names[@]} -gt 0 ]'
for name in "${names[@]}" help; do
	check "--help lists '$name'" eval 'grep -q "^  $name  *[^ ]" "$dir/out"'
done

run help qmp
check "help qmp prints the usage" \
	eval '[ $rc -eq 0 ] && [[ $out == "Usage: qmigrate qmp "* ]] && [[ $out == *--timeout* ]]'
run qmp --help
check "qmp --help prints the same usage" eval '[ $rc -eq 0 ] && [[ $out == "Usage: qmigrate qmp "* ]]'

run help migrate
check "help migrate documents every option" eval '[ $rc -eq 0 ] && (
	for o in --src-qmp --dst-qmp --wait --transport --bandwidth --max-downtime --keep-source --json \
		--paused --control --tunnel-copy --downtime-steps --downtime-delay --downtime-double \
		--timeout --timeout-per-gib --stall-timeout --pause-after --postcopy \
		--postcopy-after-passes --auto-converge --throttle-initial --throttle-increment \
		--xbzrle --xbzrle-cache --multifd --launch-dest --domain --dest-domain \
		--graphics-passwd-file --runtime-dir --disk-map --graphics-listen --qmp-log; do
		[[ $out == *"$o"* ]] || exit 1; done )'
check "help migrate says to attach the --qmp-log transcript to a bug report" \
	eval '[[ $out == *"attach this transcript to"*"the bug report"* ]]'
check "help migrate documents the default timeout and --timeout 0" \
	eval '[[ $out == *"800 s per GiB of guest RAM"* ]] && [[ $out == *"0: never"* ]]'
run migrate --src-qmp a --dst-qmp b --timeout -1
check "migrate with a negative timeout exits 2" eval '[ $rc -eq 2 ] && [[ $err == *"invalid --timeout"* ]]'
run migrate
check "migrate without sockets exits 2" eval '[ $rc -eq 2 ] && [[ $err == *"--src-qmp is required, and --dst-qmp or --launch-dest"* ]]'
run migrate --help
check "migrate --help prints the usage" eval '[ $rc -eq 0 ] && [[ $out == "Usage: qmigrate migrate "* ]]'
run migrate --src-qmp a --dst-qmp b --launch-dest --domain vm.xml
check "--launch-dest with --dst-qmp exits 2 and says to give one" \
	eval '[ $rc -eq 2 ] && [[ $err == *"--launch-dest"*"--dst-qmp"*"give one of them"* ]]'
run migrate --src-qmp a --dst-qmp b --domain vm.xml
check "--domain without --launch-dest exits 2 and says what it is for" \
	eval '[ $rc -eq 2 ] && [[ $err == *"--domain and --dest-domain are for --launch-dest"* ]]'
run migrate --src-qmp a --dst-qmp b --disk-map /a=/b
check "--disk-map without --launch-dest exits 2" \
	eval '[ $rc -eq 2 ] && [[ $err == *"--disk-map and --graphics-listen need --launch-dest"* ]]'
run migrate --src-qmp a --launch-dest --disk-map images/a.img=/b
check "--disk-map with a relative path exits 2 and says to write an absolute one" \
	eval '[ $rc -eq 2 ] && [[ $err == *"images/a.img"* ]] && [[ $err == *"absolute"* ]]'
run migrate --src-qmp a --dst-qmp b --graphics-passwd-file pw
check "--graphics-passwd-file without --launch-dest exits 2" \
	eval '[ $rc -eq 2 ] && [[ $err == *"--graphics-passwd-file needs --launch-dest"* ]]'
run migrate --src-qmp a --launch-dest --domain "$dir/nonexistent.xml"
check "--launch-dest with a missing description fails (1) and names it" \
	eval '[ $rc -eq 1 ] && [[ $err == *"nonexistent.xml"* ]]'
run migrate --src-qmp a --dst-qmp b --transport carrier-pigeon
check "migrate with an unknown transport exits 2" eval '[ $rc -eq 2 ] && [[ $err == *"unknown transport"* ]]'
run migrate --src-qmp a --dst-qmp b --bandwidth -3
check "migrate with a bad bandwidth exits 2" eval '[ $rc -eq 2 ] && [[ $err == *"invalid bandwidth"* ]]'

# ---- bad sockets fail at once and change nothing ----------------------------
# "At once" is a bound, far below the 10 s a QMP connection gets: not a timing.
# run_timed ARGS...: run, and $elapsed_ms.
run_timed() {
	local start
	start=$(date +%s%N)
	run "$@"
	elapsed_ms=$((($(date +%s%N) - start) / 1000000))
}
# Exit 1, the reason and "nothing was changed" on stderr, within the bound.
unchanged() {
	[ $rc -eq 1 ] && [[ $err == *"$1"* ]] && [[ $err == *"nothing was changed"* ]] &&
		[ $elapsed_ms -lt 5000 ]
}
mkdir "$dir/a-directory"
: >"$dir/a-file"

run_timed migrate --src-qmp "$dir/nonexistent.sock" --dst-qmp "$sock"
check "migrate from a missing source exits 1 at once: nothing was changed" \
	unchanged "source QEMU: QMP socket $dir/nonexistent.sock does not exist"
run_timed migrate --json --src-qmp "$dir/nonexistent.sock" --dst-qmp "$sock"
check "...and its JSON result says failed, vm source, changed false, and why" \
	eval '[ $rc -eq 1 ] && [ $elapsed_ms -lt 5000 ] && last=$(tail -n 1 "$dir/out") &&
	      [[ $last == "{\"event\":\"result\",\"status\":\"failed\",\"vm\":\"source\",\"changed\":false,"* ]] &&
	      [[ $last == *"\"error\":{\"class\":\"ConnectionFailed\",\"message\":\"source QEMU: QMP socket $dir/nonexistent.sock does not exist"* ]]'
run_timed migrate --src-qmp "$sock" --dst-qmp "$dir/nonexistent.sock"
check "migrate to a missing destination exits 1 at once: nothing was changed" \
	unchanged "destination QEMU: QMP socket $dir/nonexistent.sock does not exist"
run_timed migrate --src-qmp "$dir/a-file" --dst-qmp "$sock"
check "a source path that is a regular file exits 1 at once: not a socket" \
	unchanged "$dir/a-file is not a socket (it is a regular file)"
run_timed migrate --src-qmp "$sock" --dst-qmp "$dir/a-directory"
check "a destination path that is a directory exits 1 at once: not a socket" \
	unchanged "$dir/a-directory is not a socket (it is a directory)"

run_timed migrate --src-qmp "$sock" --dst-qmp "$sock"
check "the same socket for both sides is a usage error, found at once" \
	eval '[ $rc -eq 2 ] && [[ $err == *"sockets are both $sock"* ]] &&
	      [[ $err == *"qmigrate help migrate"* ]] && [ $elapsed_ms -lt 5000 ]'
run migrate --src-qmp "$sock" --dst-qmp "$dir/other.sock" --lease "$dir/vm.lease"
check "--lease with an attached destination is a usage error" \
	eval '[ $rc -eq 2 ] && [[ $err == *"leases need --launch-dest"* ]] && [ ! -e "$dir/vm.lease" ]'
run migrate --src-qmp "$sock" --launch-dest --postcopy --lease "$dir/vm.lease"
check "--lease with post-copy is a usage error" \
	eval '[ $rc -eq 2 ] && [[ $err == *"leases do not work with post-copy"* ]]'
ln -s "$sock" "$dir/symlink.sock"
ln "$sock" "$dir/hardlink.sock"
for other in symlink hardlink; do
	run_timed migrate --src-qmp "$dir/$other.sock" --dst-qmp "$sock"
	check "the same socket under a $other is a usage error, found at once" \
		eval '[ $rc -eq 2 ] && [[ $err == *"are the same socket"* ]] &&
		      [ $elapsed_ms -lt 5000 ]'
done

run_timed migrate --wait 1 --src-qmp "$dir/never-src.sock" --dst-qmp "$dir/never-dst.sock"
check "--wait 1 for sockets that never appear exits 1 after a second: nothing was changed" \
	eval '[ $rc -eq 1 ] && [[ $err == *"did not appear within 1.0 s"* ]] &&
	      [[ $err == *"nothing was changed"* ]] &&
	      [ $elapsed_ms -ge 1000 ] && [ $elapsed_ms -lt 5000 ]'
for bad in 0 -1 soon; do
	run migrate --wait "$bad" --src-qmp a --dst-qmp b
	check "--wait $bad is a usage error" eval '[ $rc -eq 2 ] && [[ $err == *"invalid --wait"* ]]'
done

ln -s "$dir/qmp-log-target" "$dir/qmp-log-link"
run migrate --src-qmp "$sock" --dst-qmp "$dir/other.sock" --qmp-log "$dir/qmp-log-link"
check "--qmp-log refuses a symbolic link and creates nothing" \
	eval '[ $rc -eq 2 ] && [[ $err == *"symbolic link, refused"* ]] && [ ! -e "$dir/qmp-log-target" ]'

# ---- job control (the protocol itself: tests/unit/test-control.c) ---------
run help job
check "help job documents every verb and its unit" eval '[ $rc -eq 0 ] &&
	for w in query cancel force-complete "set-downtime MS" "set-bandwidth MIB" \
		milliseconds MiB/s; do [[ $out == *"$w"* ]] || exit 1; done'
for args in "" "$dir/ctl.sock" "$dir/ctl.sock reboot" "$dir/ctl.sock set-downtime" \
	"$dir/ctl.sock set-bandwidth 1.5" "$dir/ctl.sock set-downtime -3" \
	"$dir/ctl.sock cancel 5" "--timeout 0 $dir/ctl.sock query"; do
	# shellcheck disable=SC2086 # the words are the arguments
	run job $args
	check "job $args: usage error exits 2 pointing to the help" \
		eval '[ $rc -eq 2 ] && [ -z "$out" ] && [[ $err == *"qmigrate help job"* ]]'
done
run job "$dir/nonexistent/ctl.sock" query
check "job on a missing socket exits 1 naming the path" \
	eval '[ $rc -eq 1 ] && [ -z "$out" ] && [[ $err == *"$dir/nonexistent/ctl.sock"* ]]'
: >"$dir/not-a-socket"
run migrate --src-qmp "$sock" --dst-qmp "$dir/nonexistent.sock" --control "$dir/not-a-socket"
check "migrate --control refuses a file that is not a socket and leaves it" \
	eval '[ $rc -eq 1 ] && [[ $err == *"not a socket"* ]] && [ -f "$dir/not-a-socket" ]'

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
run --version
check "--version prints the package version ($version)" \
	eval '[ $rc -eq 0 ] && [ -n "$version" ] && [ "$out" = "qmigrate $version" ]'

# QEMU must have survived every client.
check "QEMU is still running" kill -0 "$qemu_pid"

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
