#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Migrations through the destination agent, `qmigrate serve --stdio`, started
# with --dest exec: on this same host (so with --allow-same-host): the flows
# that the two-host tests run over ssh (test-remote-netns.sh), cheap enough
# for every run.  Each migration checks the guest's memory on the
# destination (qm-memcheck).
#
#   direct tcp, the agent launching the destination; the same, attached to a
#   destination QEMU the test started; tunnelled: one stream, multifd,
#   post-copy; the agent killed mid-migration (the source runs); refusals:
#   this same host without --allow-same-host, a QEMU of the VM's name
#   already running where the agent would launch it.
#
# Every QEMU and agent is started here or by qmigrate, tracked by pid and
# killed by it; every wait is bounded.  make check sets QMIGRATE, QEMU,
# top_srcdir and top_builddir.
set -euo pipefail
# shellcheck source=test-env.sh source-path=SCRIPTDIR
. "$(dirname "$0")/test-env.sh" qmigrate-remote-exec
# The guest dirties at most this many MiB/s (tests/helpers/pair.h, GENTLE).
rate=64
mib=64

fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/*/qemu.log "$dir"/*/migrate.err "$dir"/*/run/*/qemu.log; do
		[ ! -s "$log" ] || sed "s|^|  $log: |" "$log" | tail -n 40 >&2
	done
	exit 1
}
vm_prefix=remote
. "$top_srcdir/tests/integration/remote-lib.sh"

pick_accel
[ -r "$image" ] || fail "no guest image at $image"
[ -x "$memcheck" ] || fail "no $memcheck"

# The agent's wrapper writes its pid (which exec keeps) where the test finds it.
wrap=$dir/agent-wrap
cat >"$wrap" <<'EOF'
#!/bin/sh
echo $$ >"$AGENT_PIDFILE"
exec "$@"
EOF
chmod 0700 "$wrap"

agent() { # NAME: the exec: URI of an agent for dir/NAME
	echo "exec:$wrap $QMIGRATE serve --stdio --runtime-dir $dir/$1/run"
}

# migrate NAME EXPECTED-EXIT ARGS...: runs qmigrate migrate --json for dir/NAME
migrate() {
	local name=$1 want=$2 d=$dir/$1 rc=0
	shift 2
	mkdir -p -m 0700 "$d/run"
	AGENT_PIDFILE=$d/agent.pid timeout 300 "$QMIGRATE" migrate --json --src-qmp "$d/qmp.sock" \
		--dest "$(agent "$name")" "$@" >"$d/migrate.out" 2>"$d/migrate.err" || rc=$?
	[ "$rc" = "$want" ] || fail "$name: migrate exited $rc, not $want: $(tail -n 3 "$d/migrate.err")"
	result=$(tail -n 1 "$d/migrate.out")
	sanitizer_clean "$name"
}

# The agent's stderr is the command's: in a sanitizer build its reports land there.
sanitizer_clean() { # NAME
	! grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$dir/$1/migrate.err" ||
		fail "$1: a sanitizer report: $(grep -A12 -E 'Sanitizer|runtime error:' "$dir/$1/migrate.err")"
}

agent_gone() { # NAME: the agent exited (bounded) and left only the launched QEMU's directory
	local pid left
	pid=$(cat "$dir/$1/agent.pid")
	for _ in $(seq 100); do gone "$pid" && break; sleep 0.1; done
	gone "$pid" || fail "$1: the agent (pid $pid) still runs"
	left=$(find "$dir/$1/run" -mindepth 1 -maxdepth 1 ! -path "${dst_qmp%/*}")
	[ -z "$left" ] || fail "$1: the agent left $left"
}

# ---- direct tcp, the agent launches the destination ---------------------------------
boot tcp
guest_ready tcp attach
migrate tcp 0 --launch-dest --allow-same-host --transport tcp
arrived tcp
[[ $result == *'"dst_pid":'* ]] || fail "tcp: no dst_pid in $result"
[[ $dst_qmp == "$dir/tcp/run/"* ]] || fail "tcp: the agent's socket $dst_qmp is not under its runtime dir"
memory_check tcp
agent_gone tcp
stop "$dst_pid"
echo "ok: tcp: the agent launched the destination, direct tcp, memory checked"

# ---- direct tcp, attached to a destination QEMU started here --------------------------
guest_ready attach tunnel
attach_src=$src_pid
d=$dir/attach-dst
start "$d" -nodefaults -display none -machine "pc,accel=$accel" -name "guest=remote-attach" \
	-qmp "unix:$d/qmp.sock,server=on,wait=off" -serial "file:$d/serial.log" -m "$mib" \
	-drive "file=$image,format=raw,if=ide,snapshot=on" \
	-fw_cfg "name=opt/org.qmigrate/dirty-rate,string=$rate" -S -incoming defer
attach_pid=$src_pid
src_pid=$attach_src
# Another host uuid stands for another host: no --allow-same-host needed.
migrate attach 0 --dst-qmp "$d/qmp.sock" --host-uuid 0b5e6f1c-9d1e-4c59-8a53-1f2e3d4c5b6a
arrived attach
[ "$dst_qmp" = "$d/qmp.sock" ] || fail "attach: the result names $dst_qmp"
memory_check attach
stop "$attach_pid"
echo "ok: attach: the agent attached to a waiting QEMU, direct tcp, memory checked"

# ---- tunnelled: one stream, multifd, post-copy -------------------------------------------
for t in "tunnel multifd" "multifd postcopy --multifd 2" \
	"postcopy killed --postcopy --postcopy-after-passes 1"; do
	read -r name next extra <<<"$t"
	guest_ready "$name" "$next"
	# shellcheck disable=SC2086 # the extra options are words
	migrate "$name" 0 --launch-dest --allow-same-host --transport tunnel $extra
	arrived "$name"
	memory_check "$name"
	agent_gone "$name"
	stop "$dst_pid"
	echo "ok: $name: tunnelled through the agent's streams, memory checked"
done

# ---- the agent killed mid-migration: the source keeps the VM ------------------------------
# The two short cases after it boot meanwhile.
guest_ready killed same name
d=$dir/killed
mkdir -p -m 0700 "$d/run"
AGENT_PIDFILE=$d/agent.pid timeout 300 "$QMIGRATE" migrate --json --src-qmp "$d/qmp.sock" \
	--dest "$(agent killed)" --launch-dest --allow-same-host --transport tcp --bandwidth 2 \
	>"$d/migrate.out" 2>"$d/migrate.err" &
mig=$!
pids+=("$mig")
perform_started killed "$mig"
kill -KILL "$(cat "$d/agent.pid")"
ended killed "$mig" 1
[[ $result == *'"status":"failed"'* ]] || fail "killed: $result"
sanitizer_clean killed
source_runs killed
no_qemu_under killed "$dir/killed/run"
stop "$src_pid"
echo "ok: killed: the agent died mid-migration, the source runs the VM"

# ---- refused: this same host, without --allow-same-host -------------------------------------
guest_ready same
migrate same 1 --launch-dest
[[ $result == *'"class":"CookieSameHost"'* && $result == *'--allow-same-host'* ]] ||
	fail "same: not refused as the same host: $result"
[[ $result == *'"changed":false'* ]] || fail "same: the refusal changed something: $result"
source_runs same
agent_gone same
[ -z "$(ls -A "$dir/same/run")" ] || fail "same: the agent left $(ls "$dir/same/run")"
stop "$src_pid"
echo "ok: same: the same host is refused, with how to override it"

# ---- refused: a QEMU of the VM's name runs where the agent would launch it ----------------
guest_ready name
name_src=$src_pid
d=$dir/name-other
start "$d" -nodefaults -display none -machine "none,accel=$accel" -name "guest=remote-name" \
	-qmp "unix:$d/qmp.sock,server=on,wait=off"
other=$src_pid
src_pid=$name_src
migrate name 1 --launch-dest --allow-same-host
[[ $result == *'"class":"VmExists"'* && $result == *"pid $other"* ]] ||
	fail "name: not refused for the QEMU of the same name: $result"
[[ $result == *'"changed":false'* ]] || fail "name: the refusal changed something: $result"
source_runs name
stop "$other"
stop "$src_pid"
echo "ok: name: a VM of the same name on the destination is refused"
echo "PASS: migrations through the agent over exec:"
