#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Migrations between two hosts over real OpenSSH: the two network namespaces
# of netns-lib.sh, the source QEMU and `qmigrate migrate` in the source one
# (192.0.2.1), and `--dest ssh://192.0.2.2:2222`, whose sshd starts the agent
# (`qmigrate serve --stdio`, from the build tree) in the destination one,
# where the agent launches the destination QEMU.  The flows of
# test-remote-exec.sh, each migration checking the guest's memory on the
# destination (qm-memcheck):
#
#   direct tcp, to the address ssh reached (192.0.2.2); tunnelled: one
#   stream, multifd (2 channels), post-copy; the agent killed mid-migration
#   and ssh cut mid-stream (the source keeps the VM); a VM launched with
#   --lease, its lease (in the test's directory, which both namespaces see)
#   held by the destination afterwards; --copy-storage all while the guest
#   writes its disk, the agent creating and serving the images on its host,
#   a raw one directly and a qcow2 one tunnelled, the disk checked too; a QEMU of the VM's name
#   already running on the destination (refused).
#
# Both namespaces share this machine's /proc and /etc/machine-id, so both
# "hosts" have one host uuid: every migration passes --allow-same-host, with
# which the agent also leaves the source QEMU itself (its pid is in begin's
# cookie) out of its "a QEMU of this name already runs here" check.
#
# Over ssh the agent's --runtime-dir cannot be given: it makes the launched
# QEMU's directory under $XDG_RUNTIME_DIR, which sshd does not set without
# PAM, so under /tmp.  The test finds that QEMU by the dst_qmp and dst_pid of
# the --json result, stops it by pid and removes its directory.
#
# Skips (77) only where this machine allows no network namespaces.  Every
# QEMU, agent and ssh is started here or by qmigrate, tracked by pid and
# killed by it; every wait is bounded.  make check sets QMIGRATE, QEMU,
# top_srcdir and top_builddir.
set -euo pipefail
# shellcheck source=test-env.sh source-path=SCRIPTDIR
. "$(dirname "$0")/test-env.sh" qm-rnetns
# The guest dirties at most this many MiB/s (tests/helpers/pair.h, GENTLE),
# which also keeps TCG's migrations converging.
rate=64
mib=64
# The agent and ssh need absolute paths: they run elsewhere.
case $QMIGRATE in /*) ;; *) QMIGRATE=$PWD/$QMIGRATE ;; esac

# The machine's /proc is one for both namespaces: names of this run only, so
# that no other run's guest makes the agent refuse ours (VmExists).
vm_prefix=$(basename "$dir")
dst_dirs=() # the launched QEMUs' directories on the destination, removed at exit
fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/*/qemu.log "$dir"/*/migrate.err "${dst_dirs[@]/%//qemu.log}"; do
		[ ! -s "$log" ] || sed "s|^|  $log: |" "$log" | tail -n 40 >&2
	done
	[ -z "${netns_dir:-}" ] || [ ! -s "$netns_dir/sshd.log" ] ||
		sed 's/^/  sshd: /' "$netns_dir/sshd.log" | tail -n 20 >&2
	exit 1
}
. "$top_srcdir/tests/integration/netns-lib.sh"
. "$top_srcdir/tests/integration/remote-lib.sh"

pick_accel
[ -r "$image" ] || fail "no guest image at $image"
[ -x "$memcheck" ] || fail "no $memcheck"
netns_setup
remote_exit() {
	local d
	netns_exit # the QEMUs by pid (the launched ones too), then $dir
	for d in "${dst_dirs[@]}"; do rm -rf "$d"; done
}
trap remote_exit EXIT
echo "netns: $NETNS_SRC ($NETNS_SRC_ADDR) -> $NETNS_DST ($NETNS_DST_ADDR:$NETNS_SSH_PORT)" >&2

# The source's QEMUs run in the source namespace; ip execs QEMU, so that the
# pid start() records is QEMU's.
qemu_in=(ip netns exec "$NETNS_SRC")

# What every migration gives: the agent over ssh from the build tree, with
# the test's key and known host.  qmigrate sets BatchMode itself, and refuses
# it as an --ssh-option.
remote=(--dest "ssh://$NETNS_DST_ADDR:$NETNS_SSH_PORT" --remote-qmigrate "$QMIGRATE"
	--allow-same-host --json)
for o in "${netns_ssh_options[@]}"; do
	[[ $o == BatchMode=* ]] || remote+=(--ssh-option "$o")
done

# migrate NAME ARGS...: qmigrate migrate in the source namespace, in the
# background, for the guest dir/NAME; sets mig (its pid: ip execs it)
mig=
migrate() {
	local d=$dir/$1
	shift
	ip netns exec "$NETNS_SRC" "$QMIGRATE" migrate --src-qmp "$d/qmp.sock" "${remote[@]}" "$@" \
		</dev/null >"$d/migrate.out" 2>"$d/migrate.err" &
	mig=$!
	pids+=("$mig")
}

launched() { # NAME: what the result names is a QEMU of the destination namespace, in a dir of its own
	local d
	d=$(dirname "$dst_qmp")
	[[ $d == */qmigrate-vm-?????? && -d $d ]] || fail "$1: the destination's socket $dst_qmp is not in a runtime dir"
	[[ $d != "$dir"/* ]] || fail "$1: the agent put its QEMU in the test's own directory $d"
	dst_dirs+=("$d")
	[ -n "$dst_pid" ] || fail "$1: no dst_pid in $result"
	in_dst "$dst_pid" ||
		fail "$1: the destination QEMU (pid $dst_pid) does not run in $NETNS_DST"
}

finished() { # NAME: the launched QEMU stopped by pid, its directory removed
	stop "$dst_pid"
	rm -rf "$(dirname "$dst_qmp")"
}

in_dst() { # PID: runs in the destination namespace (-ef: the same nsfs inode, no readlink)
	[ "/proc/$1/ns/net" -ef "/run/netns/$NETNS_DST" ]
}

# agents [--stdio]: the pids of `qmigrate serve --stdio` in the destination
# namespace: the agents and the stream relays (--stream), or the agents alone
agents() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		if ! proc_read "$p" || ! in_dst "$p"; then continue; fi
		case $proc_argv in
		"$QMIGRATE serve --stdio") echo "$p" ;;
		"$QMIGRATE serve --stdio --stream "*) [ "${1:-}" = --stdio ] || echo "$p" ;;
		esac
	done
}

agent_gone() { # NAME: neither agent nor stream relay runs in the destination (bounded)
	local left
	for _ in $(seq 100); do
		left=$(agents)
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	fail "$1: the agent or its streams still run: pids $left"
}

stream_ssh() { # PID: the ssh child of PID that carries a tunnelled stream
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		if ! proc_read "$p" || [ "$proc_ppid" != "$1" ]; then continue; fi
		[[ $proc_argv == "ssh "*" serve --stdio --stream /"* ]] && echo "$p" && return 0
	done
	return 0
}

# during_perform NAME: the migration of NAME is in perform; sets
# launched_pid and run_dir to the destination QEMU that the agent launched
# for it and its directory, tracked and to be removed at exit
launched_pid='' run_dir=''
during_perform() {
	local p
	perform_started "$1" "$mig"
	launched_pid=''
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		proc_read "$p" && [[ " $proc_argv " == *" guest=$vm_prefix-$1 "* ]] && in_dst "$p" &&
			launched_pid=$p && break
	done
	[ -n "$launched_pid" ] || fail "$1: no destination QEMU runs in $NETNS_DST during perform"
	pids+=("$launched_pid")
	# Its QMP socket names its directory.
	run_dir=$(tr ' ' '\n' <<<"$proc_argv" | sed -n 's|^unix:\(.*\)/qmp\.sock,.*|\1|p')
	[[ $run_dir == */qmigrate-vm-?????? && -d $run_dir ]] ||
		fail "$1: the launched QEMU's directory is '$run_dir'"
	dst_dirs+=("$run_dir")
}

rolled_back() { # NAME: the migration failed, the source runs the VM, no QEMU runs from run_dir
	ended "$1" "$mig" 1
	[[ $result == *'"status":"failed"'* ]] || fail "$1: $result"
	source_runs "$1"
	no_qemu_under "$1" "$run_dir"
}

# ---- direct tcp: the destination listens where ssh arrived ----------------------------
boot tcp
guest_ready tcp tunnel
# The QMP trace (on stderr) shows the URI the source QEMU is given.
QMIGRATE_QMP_TRACE=1 migrate tcp --launch-dest --transport tcp
ended tcp "$mig" 0
arrived tcp
launched tcp
# Prepare's cookie named where the destination QEMU listened: the address of
# SSH_CONNECTION there, not loopback (which the source namespace does not
# reach anyway).
grep -qE '"execute":"migrate",.*"uri":"tcp:'"${NETNS_DST_ADDR//./\\.}"':[0-9]+"' "$dir/tcp/migrate.err" ||
	fail "tcp: the source QEMU was not sent to $NETNS_DST_ADDR: $(grep '"execute":"migrate"' "$dir/tcp/migrate.err")"
memory_check tcp
agent_gone tcp
finished tcp
echo "ok: tcp: direct to $NETNS_DST_ADDR, where ssh arrived; memory checked"

# ---- tunnelled over ssh: one stream, multifd, post-copy ------------------------------------
for t in "tunnel multifd" "multifd postcopy --multifd 2" \
	"postcopy killed --postcopy --postcopy-after-passes 1"; do
	read -r name next extra <<<"$t"
	guest_ready "$name" "$next"
	# shellcheck disable=SC2086 # the extra options are words
	migrate "$name" --launch-dest --transport tunnel $extra
	ended "$name" "$mig" 0
	arrived "$name"
	launched "$name"
	memory_check "$name"
	agent_gone "$name"
	finished "$name"
	echo "ok: $name: tunnelled over ssh, memory checked"
done

# ---- the agent killed mid-migration: the source keeps the VM --------------------------------
# The two short cases after it boot meanwhile.
guest_ready killed cut name
migrate killed --launch-dest --transport tcp --bandwidth 2
during_perform killed
agent=$(agents --stdio)
[[ $agent =~ ^[0-9]+$ ]] || fail "killed: not one agent in $NETNS_DST during perform, but: '$agent'"
# SIGKILL: the agent cannot stop its QEMU, which exits once its incoming
# stream breaks (docs/remote.md), and leaves its directory.
kill -KILL "$agent"
rolled_back killed
stop "$src_pid"
echo "ok: killed: the agent (pid $agent) died mid-migration, the source runs the VM"

# ---- ssh cut mid-stream: the source keeps the VM, the agent rolls back -------------------------
guest_ready cut
migrate cut --launch-dest --transport tunnel --bandwidth 2
during_perform cut
cut=$(stream_ssh "$mig")
[ -n "$cut" ] || fail "cut: qmigrate (pid $mig) has no ssh child carrying the stream"
kill -KILL "$cut"
rolled_back cut
# The agent's own ssh still stood: it heard cleanup, stopped its QEMU and
# removed the QEMU's directory.
for _ in $(seq 100); do [ -e "$run_dir" ] || break; sleep 0.1; done
[ ! -e "$run_dir" ] || fail "cut: the agent left $run_dir"
agent_gone cut
stop "$src_pid"
echo "ok: cut: ssh (pid $cut) cut mid-stream, the source runs the VM"

# ---- a lease on the shared filesystem moves with the VM between the hosts --------------------
# The VM runs from `qmigrate launch --lease` in the source namespace; the
# lease file is in the test's directory, which both "hosts" see.
lease_dir=$dir/lease
lease=$lease_dir/vm.lease
mkdir -m 0700 "$lease_dir"
cat >"$lease_dir/vm.xml" <<XML
<domain type="$([ "$accel" = kvm ] && echo kvm || echo qemu)" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">
  <name>$vm_prefix-lease</name>
  <uuid>7a1b2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e</uuid>
  <memory unit="MiB">$mib</memory>
  <os><type arch="x86_64" machine="pc">hvm</type><boot dev="hd"/></os>
  <devices>
    <emulator>$QEMU</emulator>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2"/>
      <source file="$lease_dir/overlay.qcow2"/>
      <target dev="hda" bus="ide"/>
    </disk>
    <serial type="file"><source path="$lease_dir/serial.log"/><target port="0"/></serial>
  </devices>
  <qemu:commandline>
    <qemu:arg value="-fw_cfg"/>
    <qemu:arg value="name=opt/org.qmigrate/dirty-rate,string=$rate"/>
  </qemu:commandline>
</domain>
XML
qemu-img create -q -f qcow2 -F raw -b "$image" "$lease_dir/overlay.qcow2"
ip netns exec "$NETNS_SRC" "$QMIGRATE" launch --json --runtime-dir "$lease_dir" \
	--lease "$lease" "$lease_dir/vm.xml" >"$lease_dir/launch.out" 2>"$lease_dir/launch.err" ||
	fail "lease: launch --lease exited $?: $(cat "$lease_dir/launch.err")"
src_pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$lease_dir/launch.out")
lease_qmp=$(sed -n 's/.*"qmp":"\([^"]*\)".*/\1/p' "$lease_dir/launch.out")
[ -n "$src_pid" ] && [ -S "$lease_qmp" ] || fail "lease: launch printed '$(cat "$lease_dir/launch.out")'"
pids+=("$src_pid")
ln -s "$lease_qmp" "$lease_dir/qmp.sock"
wait_pass lease
grep -q '^generation=1$' "$lease" || fail "lease: $lease holds '$(cat "$lease")'"
migrate lease --launch-dest --domain "$lease_dir/vm.xml" --transport tcp --lease "$lease"
ended lease "$mig" 0
arrived lease
forget "$src_pid"
launched lease
[ "$(stat -c '%a %F' "$lease")" = "600 regular file" ] || fail "lease: $lease is not a 0600 file"
grep -q '^generation=2$' "$lease" || fail "lease: $lease holds '$(cat "$lease")' after the migration"
qmp "$dst_qmp" query-fdsets | grep -qF "\"opaque\":\"qmigrate-lease:$lease\"" ||
	fail "lease: the destination QEMU's fd sets lack the lease"
# The agent exited: a second start of the VM on the source host is refused.
if ip netns exec "$NETNS_SRC" "$QMIGRATE" launch --json --runtime-dir "$lease_dir" \
	--lease "$lease" "$lease_dir/vm.xml" >"$lease_dir/again.out" 2>"$lease_dir/again.err"; then
	again=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$lease_dir/again.out")
	[ -z "$again" ] || pids+=("$again")
	fail "lease: a second launch started while the destination held the lease"
fi
grep -qF "the lease $lease is held" "$lease_dir/again.err" ||
	fail "lease: the second launch: $(cat "$lease_dir/again.err")"
memory_check lease
agent_gone lease
finished lease
echo "ok: lease: the lease moved with the VM over ssh; a second start is refused LeaseHeld"

# ---- disks copied to the other host: the agent there creates and serves them ---------------
# A VM of `qmigrate launch` in the source namespace (its disks' node names
# say their <target dev>): the test guest in its disk mode, which rewrites
# records on its IDE data disk after every pass (tests/guest/README), its
# boot overlay and that disk copied with --copy-storage all to paths of the
# destination's (the test's directory, which both see) while it writes.
# Direct: the source's mirrors reach the agent's NBD server at the address
# ssh reached.  Tunnelled: the agent serves at a UNIX socket there, and each
# NBD connection rides an ssh of its own.  Then the disk check (remote-lib's
# disk_check: the guest reads every record back there, the memory and disk
# checks agree).
type=$([ "$accel" = kvm ] && echo kvm || echo qemu) # guest_xml's
# storage NAME UUID TRANSPORT FORMAT: that VM's disks copied with it, over TRANSPORT
storage() {
	local name=$1 sd=$dir/$1 qmp_path
	mkdir -m 0700 "$sd" "$dir/$name-dst"
	qemu-img create -q -f qcow2 -F raw -b "$image" "$sd/boot.qcow2"
	qemu-img create -q -f "$4" "$sd/data.$4" 8M
	disk_mode_xml "$name" "$2" "$4" "$sd/data.$4" >"$sd/vm.xml"
	ip netns exec "$NETNS_SRC" "$QMIGRATE" launch --json --runtime-dir "$sd" "$sd/vm.xml" \
		>"$sd/launch.out" 2>"$sd/launch.err" || fail "$name: launch exited $?: $(cat "$sd/launch.err")"
	src_pid=$(json_field "$(cat "$sd/launch.out")" pid)
	qmp_path=$(json_field "$(cat "$sd/launch.out")" qmp)
	[ -n "$src_pid" ] && [ -S "$qmp_path" ] || fail "$name: launch printed '$(cat "$sd/launch.out")'"
	pids+=("$src_pid")
	ln -s "$qmp_path" "$sd/qmp.sock"
	wait_pass "$name"
	QMIGRATE_LOG=info migrate "$name" --launch-dest --domain "$sd/vm.xml" --transport "$3" --copy-storage all \
		--disk-map "$sd/boot.qcow2=$dir/$name-dst/boot.qcow2" \
		--disk-map "$sd/data.$4=$dir/$name-dst/data.$4"
	ended "$name" "$mig" 0
	arrived "$name"
	forget "$src_pid"
	launched "$name"
	[[ $result == *'"storage_disks":2'* ]] || fail "$name: the result does not count 2 disks: $result"
	if [ "$3" = tunnel ]; then
		grep -q "mirroring 2 disk(s) to .*/nbd-tunnel.sock$" "$sd/migrate.err" &&
			grep -q "tunnel: 2 NBD connection(s) carried [1-9][0-9]* bytes" "$sd/migrate.err" ||
			fail "$name: the disks did not go through the tunnel: $(grep -i "nbd\|mirror" "$sd/migrate.err")"
	fi
	for f in boot.qcow2 "data.$4"; do
		[ "$(stat -c %a "$dir/$name-dst/$f")" = 600 ] || fail "$name: $f is not 0600 there"
	done
	disk_check "$name" "$4" "$dir/$name-dst/data.$4" "$(dirname "$dst_qmp")/serial0.log"
	agent_gone "$name"
	rm -rf "$(dirname "$dst_qmp")" # disk_check stopped its QEMU
}
storage stor 1e5f6a7b-8c9d-4e0f-9a1b-3c4d5e6f7a8b tcp raw
echo "ok: stor: a raw disk copied over NBD to the other host while the guest wrote it (memory and disk checked)"
storage stort 2f6a7b8c-9d0e-4f1a-8b2c-4d5e6f7a8b9c tunnel qcow2
echo "ok: stort: a qcow2 disk copied through the tunnel while the guest wrote it, each NBD connection in an ssh of its own (memory and disk checked)"

# ---- refused: a QEMU of the VM's name already runs on the destination ----------------------------
guest_ready name
name_src=$src_pid
qemu_in=(ip netns exec "$NETNS_DST")
start "$dir/name-other" -nodefaults -display none -machine "none,accel=$accel" \
	-name "guest=$vm_prefix-name" -qmp "unix:$dir/name-other/qmp.sock,server=on,wait=off"
other=$src_pid
qemu_in=(ip netns exec "$NETNS_SRC")
src_pid=$name_src
migrate name --launch-dest --transport tcp
ended name "$mig" 1
[[ $result == *'"class":"VmExists"'* && $result == *"pid $other"* ]] ||
	fail "name: not refused for the QEMU of the same name: $result"
[[ $result == *'"changed":false'* ]] || fail "name: the refusal changed something: $result"
source_runs name
agent_gone name
stop "$other"
stop "$src_pid"
echo "ok: name: a VM of the same name on the destination is refused"
echo "PASS: migrations between two hosts over ssh"
