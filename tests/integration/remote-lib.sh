# shellcheck shell=bash disable=SC2154 # the caller sets dir, image, mib...
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the integration scripts that migrate through the destination
# agent (test-remote-exec.sh over exec:, test-remote-netns.sh over ssh), and by
# test-launch-dest-argv.sh for its guest checks: the
# test guest, what a completed or a failed migration must have left, and the
# memory check on the destination.  Comes with qemu-lib.sh.
#
# The caller sets dir, QEMU, QMIGRATE, image, memcheck, accel, mib (the
# guest's RAM), rate (the MiB/s the guest dirties at most) and vm_prefix
# (the guests' -name is VM_PREFIX-NAME), and defines fail().  A migration
# leaves its --json result in $result; each guest's files are in $dir/NAME,
# its QMP socket $dir/NAME/qmp.sock, its pid src_pid.
#
# The guests boot one case ahead, so that no case waits for its own boot,
# and wait stopped, so that a guest waiting for its turn takes no CPU from
# the case that runs (the guest spins between its paced steps):
#
#   boot NAME                   starts the test guest dir/NAME, which stops
#                               once it made its first pass
#   guest_ready NAME [NEXT...]  continues it as the source (src_pid), and
#                               boots the NEXT ones meanwhile
#   boot_qemu NAME ARGS...      boot with another command line: QEMU with
#                               ARGS, its files in dir/NAME

declare -F stop >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/qemu-lib.sh"

result=
dst_pid='' dst_qmp=''

# shellcheck disable=SC2034 # the scripts read type
guest_setup() { # accel (pick_accel), type (the description's for it); the guest's files are there
	pick_accel
	case $accel in
	kvm) type=kvm ;;
	*) type=qemu ;;
	esac
	[ -r "$image" ] || fail "no guest image at $image"
	[ -x "$memcheck" ] || fail "no $memcheck"
}

passes() { # FILE: the passes the guest reported on its serial port
	if [ -f "$1" ]; then tr -cd '.' <"$1" | wc -c; else echo 0; fi
}

wait_pass() { # NAME: until the source's guest made one more pass (at most 60 s)
	local before
	before=$(passes "$dir/$1/serial.log")
	for _ in $(seq 600); do
		[ "$(passes "$dir/$1/serial.log")" -gt "$before" ] && return 0
		kill -0 "$src_pid" 2>/dev/null || fail "$1: QEMU (pid $src_pid) exited"
		sleep 0.1
	done
	fail "$1: the guest made no pass in 60 s"
}

declare -A guest_pid parked
boot_qemu() { # NAME ARGS...: QEMU with ARGS, its files in dir/NAME, stopped after its first pass
	start "$dir/$1" "${@:2}"
	guest_pid[$1]=$src_pid
	# Until the first pass ends, pages hold what the BIOS left: no migration before.
	(wait_pass "$1" && qmp "$dir/$1/qmp.sock" stop >/dev/null) &
	parked[$1]=$!
	pids+=("$!")
}

boot() { # NAME: the test guest, its dirty rate capped, named VM_PREFIX-NAME
	local d=$dir/$1
	boot_qemu "$1" -nodefaults -display none -machine "pc,accel=$accel" \
		-name "guest=$vm_prefix-$1" -qmp "unix:$d/qmp.sock,server=on,wait=off" \
		-serial "file:$d/serial.log" -m "$mib" -drive "file=$image,format=raw,if=ide,snapshot=on" \
		-fw_cfg "name=opt/org.qmigrate/dirty-rate,string=$rate"
}

guest_ready() { # NAME [NEXT...]: dir/NAME's guest runs as the source, past its first pass
	local rc=0 next
	for next in "${@:2}"; do boot "$next"; done
	src_pid=${guest_pid[$1]}
	wait "${parked[$1]}" || rc=$?
	forget "${parked[$1]}"
	[ "$rc" = 0 ] || fail "$1: the guest did not make its first pass and stop"
	qmp "$dir/$1/qmp.sock" cont >/dev/null || fail "$1: cont"
}

# guest_xml NAME UUID [DISKS [XML-ARGS]]: the test guest's description, for `qmigrate
# launch` and --domain, named VM_PREFIX-NAME: its boot disk the qcow2 overlay
# dir/NAME/boot.qcow2 (the caller makes it), DISKS (guest_disk's) after it,
# its serial port dir/NAME/serial.log, the <qemu:arg> elements XML-ARGS
# after the dirty rate's; type is guest_setup's
guest_xml() {
	cat <<XML
<domain type="$type">
  <name>$vm_prefix-$1</name>
  <uuid>$2</uuid>
  <memory unit="MiB">$mib</memory>
  <os>
    <type arch="x86_64" machine="pc">hvm</type>
    <boot dev="hd"/>
  </os>
  <devices>
    <emulator>$QEMU</emulator>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2"/>
      <source file="$dir/$1/boot.qcow2"/>
      <target dev="hda" bus="ide"/>
    </disk>${3:-}
    <serial type="file">
      <source path="$dir/$1/serial.log"/>
      <target port="0"/>
    </serial>
  </devices>
  <qemu:commandline xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">
    <qemu:arg value="-fw_cfg"/>
    <qemu:arg value="name=opt/org.qmigrate/dirty-rate,string=$rate"/>${4:-}
  </qemu:commandline>
</domain>
XML
}
guest_disk() { # FORMAT FILE DEV: a virtio disk for guest_xml
	printf '\n    <disk type="file" device="disk">\n      <driver name="qemu" type="%s"/>\n      <source file="%s"/>\n      <target dev="%s" bus="virtio"/>\n    </disk>' "$1" "$2" "$3"
}
# guest_launch NAME: starts dir/NAME/vm.xml with `qmigrate launch`; sets src_pid, src_qmp;
# with a second argument, does not wait for the guest's first pass
guest_launch() {
	"$QMIGRATE" launch --json --runtime-dir "$dir/$1" "$dir/$1/vm.xml" \
		>"$dir/$1/launch.out" 2>"$dir/$1.err" || fail "$1: launch exited $?"
	src_pid=$(json_field "$(cat "$dir/$1/launch.out")" pid)
	src_qmp=$(json_field "$(cat "$dir/$1/launch.out")" qmp)
	[ -n "$src_pid" ] && [ -S "$src_qmp" ] || fail "$1: launch printed $(cat "$dir/$1/launch.out")"
	pids+=("$src_pid")
	ln -s "$src_qmp" "$dir/$1/qmp.sock" # where remote-lib looks
	[ $# -gt 1 ] || wait_pass "$1"
}
arrived() { # NAME: the result says the destination runs the VM there; sets dst_pid, dst_qmp
	local name=$1
	[[ $result == *'"status":"completed"'* && $result == *'"vm":"destination"'* ]] ||
		fail "$name: $result"
	dst_qmp=$(sed -n 's/.*"dst_qmp":"\([^"]*\)".*/\1/p' <<<"$result")
	[ -S "$dst_qmp" ] || fail "$name: no destination QMP socket in '$result'"
	dst_pid=$(sed -n 's/.*"dst_pid":\([0-9]*\).*/\1/p' <<<"$result")
	if [ -n "$dst_pid" ]; then
		pids+=("$dst_pid")
		kill -0 "$dst_pid" || fail "$name: the destination (pid $dst_pid) is not running"
	fi
	for _ in $(seq 100); do kill -0 "$src_pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$src_pid" 2>/dev/null || fail "$name: the source QEMU still runs"
	qmp "$dst_qmp" query-status | grep -q '"running"' || fail "$name: not running there"
}

memory_check() { # NAME: the guest's RAM on the destination holds the one-edge pattern
	local name=$1 d=$dir/$1
	qmp "$dst_qmp" stop >/dev/null || fail "$name: cannot stop the destination"
	qmp "$dst_qmp" pmemsave "{\"val\": 0, \"size\": $((mib * 1024 * 1024)), \"filename\": \"$d/dst.mem\"}" \
		>/dev/null || fail "$name: pmemsave"
	"$memcheck" --ram-mib "$mib" "$d/dst.mem" >"$d/memcheck" 2>&1 ||
		fail "$name: the memory check failed: $(cat "$d/memcheck")"
	rm -f "$d/dst.mem"
}

# ---- the disk mode (tests/guest/README): a guest that writes its disk ----------------------
# disk_mode_xml NAME UUID FORMAT FILE: guest_xml's description of the guest
# in the disk mode, FILE (of FORMAT, at least 7.5 MiB) its IDE data disk hdb
disk_mode_xml() {
	guest_xml "$1" "$2" "
    <disk type=\"file\" device=\"disk\">
      <driver name=\"qemu\" type=\"$3\"/>
      <source file=\"$4\"/>
      <target dev=\"hdb\" bus=\"ide\"/>
    </disk>" '
    <qemu:arg value="-fw_cfg"/>
    <qemu:arg value="name=opt/org.qmigrate/mode,string=8"/>'
}

# dots FILE N: until the guest whose serial log is FILE made N more passes (at most
# 60 s); fails at once when it says anything (a lost write, a disk error)
dots() {
	local want=$(($(passes "$1") + $2))
	for _ in $(seq 600); do
		! grep -q "qm-guest: " "$1" || fail "the guest says: $(grep "qm-guest: " "$1")"
		[ "$(passes "$1")" -ge "$want" ] && return 0
		sleep 0.1
	done
	fail "$1: fewer than $want passes in 60 s: $(head -c 300 "$1")"
}

# disk_check NAME FORMAT IMAGE SERIAL: after arrived, for a guest of
# disk_mode_xml whose copied data disk is IMAGE (of FORMAT) and whose serial
# log on the destination is SERIAL.  The guest makes two more passes there
# (so at least one whole disk round read back, on the copied disk, every
# record the source wrote); the memory check on a dump; then, the
# destination QEMU stopped (SIGTERM: it closes its images cleanly),
# qm-diskcheck checks IMAGE (a qcow2 one converted to raw) against the dump:
# every record whole, each holding the rounds the memory says were done, or
# the round in progress up to one boundary.  Prints what both checks said.
disk_check() {
	local name=$1 d=$dir/$1 diskcheck=$top_builddir/tests/guest/qm-diskcheck
	[ -f "$4" ] || fail "$name: no serial log of the destination at $4"
	dots "$4" 2
	qmp "$dst_qmp" stop >/dev/null || fail "$name: cannot stop the destination"
	qmp "$dst_qmp" pmemsave "{\"val\": 0, \"size\": $((mib << 20)), \"filename\": \"$d/dst.mem\"}" \
		>/dev/null || fail "$name: pmemsave"
	"$memcheck" --ram-mib "$mib" "$d/dst.mem" >"$d/memcheck" 2>&1 ||
		fail "$name: the memory check failed: $(cat "$d/memcheck")"
	grep -q "mode disk" "$d/memcheck" || fail "$name: the guest runs without its disk mode: $(cat "$d/memcheck")"
	stop "$dst_pid"
	gone "$dst_pid" || fail "$name: the destination QEMU does not end"
	forget "$dst_pid"
	if [ "$2" = qcow2 ]; then
		qemu-img info "$3" | grep -q "file format: qcow2" || fail "$name: $3 is not qcow2"
		qemu-img convert -O raw "$3" "$d/dst-data.raw"
	else
		cp "$3" "$d/dst-data.raw"
	fi
	"$diskcheck" --ram-mib "$mib" "$d/dst-data.raw" "$d/dst.mem" >"$d/diskcheck" 2>&1 ||
		fail "$name: the disk check failed: $(cat "$d/diskcheck")"
	echo "$name: $(cat "$d/memcheck"); $(cat "$d/diskcheck")"
	rm -f "$d/dst.mem" "$d/dst-data.raw"
}

source_runs() { # NAME: the VM runs on the source, as it did
	[[ $result == *'"vm":"source"'* ]] || fail "$1: the result does not say the source has it: $result"
	kill -0 "$src_pid" 2>/dev/null || fail "$1: the source QEMU is gone"
	qmp "$dir/$1/qmp.sock" query-status | grep -q '"running"' || fail "$1: the source is not running"
}

# proc_read PID: sets proc_argv to the argv of PID joined by spaces, and
# proc_ppid to its parent; fails when PID is gone.  Builtins only: a scan
# of /proc on a busy machine would otherwise start hundreds of processes.
proc_argv='' proc_ppid=''
proc_read() {
	local -a a
	local stat
	mapfile -d '' a 2>/dev/null <"/proc/$1/cmdline" || return 1
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	proc_argv=${a[*]}
	# "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	stat=${stat##*) }
	stat=${stat#* }
	# shellcheck disable=SC2034 # the caller reads it
	proc_ppid=${stat%% *}
}

no_qemu_under() { # NAME DIR: no process runs with DIR/ in its command line (bounded)
	local p found
	for _ in $(seq 100); do
		found=
		for p in /proc/[0-9]*; do
			proc_read "${p#/proc/}" && [[ $proc_argv == *"$2/"* ]] && found=${p#/proc/}
		done
		[ -z "$found" ] && return 0
		sleep 0.1
	done
	pids+=("$found")
	fail "$1: a QEMU (pid $found) still runs from the agent's directory $2"
}

# perform_started NAME PID: until the migration PID writes a progress line
# to $dir/NAME/migrate.out, which is perform under way (at most 60 s)
perform_started() {
	local out=$dir/$1/migrate.out
	for _ in $(seq 600); do
		grep -q '"event":"progress"' "$out" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || fail "$1: migrate ended before perform"
		sleep 0.1
	done
	fail "$1: perform did not start in 60 s"
}

# ended NAME PID EXPECTED-EXIT: the migration PID (a child of this shell)
# exits within 300 s with EXPECTED-EXIT; its last line goes to $result
ended() {
	local rc=0
	for _ in $(seq 3000); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$2" 2>/dev/null && fail "$1: migrate (pid $2) still runs 300 s on"
	wait "$2" || rc=$?
	forget "$2"
	[ "$rc" = "$3" ] || fail "$1: migrate exited $rc, not $3: $(tail -n 3 "$dir/$1/migrate.err")"
	result=$(tail -n 1 "$dir/$1/migrate.out")
}
