#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# qmigrate launch boots the test guest from a domain description: the guest
# prints its banner and makes passes, the image is not written, a serial
# port listening on tcp port 0 (what the destination rewrite gives) gets a
# free port from QEMU, and the QEMU left running is then killed here by its
# pid.
#
# The guest image is raw and IDE cannot attach a read-only drive, so the
# description's disk is a qcow2 overlay made in this test's directory with
# the image as its backing file: QEMU opens a backing file read-only, and
# the guest's writes land in the overlay.  (-snapshot would do it for -drive
# only; the launched command line uses -blockdev.)
#
# Then SPICE over TLS: a description with a tlsPort is refused without
# --spice-x509-dir and, with a directory of certificates openssl makes here,
# QEMU listens on that TLS port (query-spice) with that directory.
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
# shellcheck source=test-env.sh source-path=SCRIPTDIR
. "$(dirname "$0")/test-env.sh" qmigrate-launch
vmdir=

# Stops the QEMU $pid by its pid; it must go within 10 s of SIGTERM.
stop_qemu() {
	kill -TERM "$pid"
	for _ in $(seq 100); do
		gone "$pid" && break
		sleep 0.1
	done
	gone "$pid" || fail "QEMU $pid survived SIGTERM for 10 s"
	forget "$pid"
	pid=
}

fail() {
	echo "FAIL: $*" >&2
	[ -z "$vmdir" ] || sed 's/^/  qemu.log: /' "$vmdir/qemu.log" >&2 || true
	[ ! -e "$dir/serial.log" ] || sed 's/^/  serial: /' "$dir/serial.log" >&2
	exit 1
}

pick_accel
case $accel in
kvm) type=kvm ;;
*) type=qemu ;;
esac

[ -r "$image" ] || fail "no guest image at $image"
before=$(sha256sum <"$image")
qemu-img create -q -f qcow2 -F raw -b "$image" "$dir/overlay.qcow2"

cat >"$dir/vm.xml" <<XML
<domain type="$type">
  <name>launch-test</name>
  <uuid>5d3c1f0e-7a2b-4c7d-9e1f-0a1b2c3d4e5f</uuid>
  <memory unit="MiB">64</memory>
  <os>
    <type arch="x86_64" machine="pc">hvm</type>
    <boot dev="hd"/>
  </os>
  <devices>
    <emulator>$QEMU</emulator>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2"/>
      <source file="$dir/overlay.qcow2"/>
      <target dev="hda" bus="ide"/>
    </disk>
    <serial type="file">
      <source path="$dir/serial.log"/>
      <target port="0"/>
    </serial>
    <serial type="tcp">
      <source mode="bind" host="127.0.0.1" service="0"/>
      <target port="1"/>
    </serial>
  </devices>
</domain>
XML

"$QMIGRATE" launch --json --runtime-dir "$dir" "$dir/vm.xml" >"$dir/out" 2>"$dir/err" ||
	fail "launch exited $?: $(cat "$dir/err")"
out=$(cat "$dir/out")
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$out")
vmdir=$(sed -n 's/.*"dir":"\([^"]*\)".*/\1/p' <<<"$out")
qmp=$(sed -n 's/.*"qmp":"\([^"]*\)".*/\1/p' <<<"$out")
[ -n "$pid" ] && [ -n "$vmdir" ] && [ -n "$qmp" ] || fail "launch printed '$out'"
pids+=("$pid")
[ "$qmp" = "$vmdir/qmp.sock" ] || fail "the QMP socket $qmp is not in $vmdir"
[ -S "$qmp" ] || fail "$qmp is not a socket"
[ "$(stat -c %a "$vmdir")" = 700 ] || fail "$vmdir is not 0700"
kill -0 "$pid" || fail "QEMU $pid is not running after launch returned"

# One banner line, then a '.' a pass: wait (bounded) for three passes.
passes=0
for _ in $(seq 600); do
	if [ -s "$dir/serial.log" ]; then
		passes=$(sed -n '2,$p' "$dir/serial.log" | tr -d '\n' | tr -cd . | wc -c)
		[ "$passes" -lt 3 ] || break
	fi
	kill -0 "$pid" 2>/dev/null || fail "QEMU exited before the guest made 3 passes"
	sleep 0.1
done
[ "$passes" -ge 3 ] || fail "the guest made $passes passes in 60 s"
head -n1 "$dir/serial.log" | grep -q '^qm-guest: ' || fail "no banner line"
rest=$(sed -n '2,$p' "$dir/serial.log" | tr -d '\n.')
[ -z "$rest" ] || fail "the guest printed more than dots: '$rest'"

"$QMIGRATE" qmp -c "$qmp" query-status | grep -q '"running"' || fail "the VM is not running"

# service="0": QEMU bound a free port, and query-chardev tells which.
chardevs=$("$QMIGRATE" qmp -c "$qmp" query-chardev)
port=$(grep -o 'tcp:127\.0\.0\.1:[0-9]*,server=on' <<<"$chardevs" | sed 's/.*:\([0-9]*\),.*/\1/')
[ -n "$port" ] && [ "$port" -gt 0 ] || fail "no listening port in query-chardev: $chardevs"

stop_qemu
[ "$(sha256sum <"$image")" = "$before" ] || fail "the guest image was written"

# ---- SPICE over TLS: a VM without a disk is enough ----
x509=$dir/x509
mkdir -m 0700 "$x509"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$x509/server-key.pem" -out "$x509/server-cert.pem" \
	-subj "/O=qmigrate/CN=127.0.0.1" 2>/dev/null || fail "openssl req failed"
cp "$x509/server-cert.pem" "$x509/ca-cert.pem"
spice_xml() { # PORT TLSPORT
	cat <<XML
<domain type="$type">
  <name>launch-tls</name>
  <uuid>5d3c1f0e-7a2b-4c7d-9e1f-0a1b2c3d4e60</uuid>
  <memory unit="MiB">32</memory>
  <os><type arch="x86_64" machine="pc">hvm</type></os>
  <devices>
    <emulator>$QEMU</emulator>
    <graphics type="spice" port="$1" tlsPort="$2" autoport="no" listen="127.0.0.1"/>
  </devices>
</domain>
XML
}
spice_xml 5930 5931 >"$dir/tls.xml"
if "$QMIGRATE" launch --runtime-dir "$dir" "$dir/tls.xml" >"$dir/out" 2>"$dir/err"; then
	fail "a tlsPort without --spice-x509-dir was launched"
fi
grep -q -- '--spice-x509-dir' "$dir/err" || fail "the refusal does not name --spice-x509-dir: $(cat "$dir/err")"
# QEMU cannot pick SPICE ports: try a few pairs, a QEMU that cannot bind exits.
for _ in 1 2 3 4 5; do
	plain=$((20000 + RANDOM % 20000))
	tls=$((plain + 1))
	spice_xml "$plain" "$tls" >"$dir/tls.xml"
	if "$QMIGRATE" launch --json --runtime-dir "$dir" --spice-x509-dir "$x509" "$dir/tls.xml" \
		>"$dir/out" 2>"$dir/err"; then
		break
	fi
	grep -q LaunchExited "$dir/err" || fail "launch with --spice-x509-dir: $(cat "$dir/err")"
done
out=$(cat "$dir/out")
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$out")
vmdir=$(sed -n 's/.*"dir":"\([^"]*\)".*/\1/p' <<<"$out")
qmp=$(sed -n 's/.*"qmp":"\([^"]*\)".*/\1/p' <<<"$out")
[ -n "$pid" ] && [ -S "$qmp" ] || fail "launch with --spice-x509-dir printed '$out' ($(cat "$dir/err"))"
pids+=("$pid")
spice=$("$QMIGRATE" qmp -c "$qmp" query-spice)
grep -q "\"tls-port\": *$tls" <<<"$spice" || fail "query-spice has no tls-port $tls: $spice"
tr '\0' '\n' <"/proc/$pid/cmdline" | grep -q -- "x509-dir=$x509" ||
	fail "QEMU's command line has no x509-dir=$x509"
stop_qemu
echo "PASS: launched, $passes passes, serial 1 on port $port, killed by pid;" \
	"SPICE over TLS on port $tls"
