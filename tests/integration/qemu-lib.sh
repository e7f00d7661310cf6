# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the integration scripts that start QEMU themselves: every QEMU
# is started by argv, tracked by its pid and killed by it; every wait is
# bounded.  The caller sets dir (a private 0700 directory, removed at exit)
# and QEMU, and defines fail().

pids=()

# PID has exited: kill -0 also succeeds on a zombie, and a QEMU that qmigrate
# or its agent launched is reaped by init, which may take seconds.  A zombie
# main thread is not enough: QEMU's other threads may still run, holding its
# descriptors (and so its leases), until the last of them has exited.
gone() {
	local stat threads
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
	stat=${stat##*) }
	[ "${stat%% *}" = Z ] || return 1
	threads=$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	[ "$threads" -le 1 ]
}

stop() { # PID: SIGTERM, at most 10 s, then SIGKILL and at most 10 s more
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 100); do
		gone "$1" && return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	for _ in $(seq 100); do
		gone "$1" && return 0
		sleep 0.1
	done
}
forget() { # PID: reaped; cleanup must not kill another process that gets its pid
	local i
	for i in "${!pids[@]}"; do [ "${pids[$i]}" != "$1" ] || unset 'pids[i]'; done
}
cleanup() {
	for pid in "${pids[@]}"; do stop "$pid"; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Sets accel to what QEMU gets here (scripts/accel), and says it once.
pick_accel() {
	accel=$("$top_srcdir/scripts/accel") || fail "scripts/accel found no accelerator"
	echo "tests: QEMU runs with accel=$accel${QMIGRATE_TEST_ACCEL:+, forced by QMIGRATE_TEST_ACCEL}" >&2
}

src_pid=
# A command that start() runs QEMU through, and that must exec it so that
# the pid is QEMU's: e.g. (ip netns exec NAMESPACE).  Empty: QEMU itself.
qemu_in=()
start() { # DIR ARGS...: starts QEMU with its QMP socket DIR/qmp.sock; sets src_pid
	local d=$1
	shift
	mkdir -m 0700 "$d"
	"${qemu_in[@]}" "$QEMU" "$@" </dev/null >"$d/qemu.log" 2>&1 &
	src_pid=$!
	pids+=("$src_pid")
	for _ in $(seq 200); do
		[ -S "$d/qmp.sock" ] && return 0
		kill -0 "$src_pid" 2>/dev/null || fail "QEMU exited before creating $d/qmp.sock"
		sleep 0.1
	done
	fail "QEMU did not create $d/qmp.sock within 20 s"
}

qmp() { # SOCKET COMMAND [ARGS]: the compact result
	"$QMIGRATE" qmp -c -t 10 "$@"
}

json_field() { # TEXT NAME: the value of a flat JSON object's member NAME
	sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" <<<"$1"
}
