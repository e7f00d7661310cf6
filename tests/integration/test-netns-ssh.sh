#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The two-host test bed of tests/integration/netns-lib.sh works: from the
# source namespace, ssh in BatchMode with the test's key reaches the sshd of
# the destination namespace and runs qmigrate from the build tree there;
# bytes go both ways through ssh intact; a key that is not the test's is
# refused; the namespaces do not reach the host's loopback; and cleanup
# leaves no namespace and no sshd of the test, and no /run/sshd it did not
# find.
#
# Skips (77) only where this machine allows no network namespaces.  make
# check sets QMIGRATE.
set -euo pipefail

: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}

dir=$(mktemp -d "${TMPDIR:-/tmp}/qm-netns-XXXXXX")
chmod 0700 "$dir"
fail() {
	echo "FAIL: $*" >&2
	[ -z "${netns_dir:-}" ] || [ ! -s "$netns_dir/sshd.log" ] ||
		sed 's/^/  sshd: /' "$netns_dir/sshd.log" | tail -n 40 >&2
	exit 1
}
. "$top_srcdir/tests/integration/netns-lib.sh"

had_run_sshd=no
[ ! -e /run/sshd ] || had_run_sshd=yes

netns_setup
echo "netns: $NETNS_SRC ($NETNS_SRC_ADDR) -> $NETNS_DST ($NETNS_DST_ADDR:$NETNS_SSH_PORT)" >&2
# The pid that cleanup kills is sshd's own, not that of a shell or of ip.
case $(tr '\0' ' ' <"/proc/$netns_sshd_pid/cmdline") in
*"/usr/sbin/sshd -D -e -f $netns_dir/sshd_config"*) ;;
*) fail "pid $netns_sshd_pid is not the test's sshd: $(tr '\0' ' ' <"/proc/$netns_sshd_pid/cmdline")" ;;
esac

remote() { # CMD...: runs CMD on the destination over ssh, at most 30 s
	timeout 30 "${netns_ssh[@]}" "$@"
}

# (a) qmigrate from the build tree runs on the destination, in its namespace.
want=$("$QMIGRATE" --version) || fail "$QMIGRATE --version failed here"
[ -n "$want" ] || fail "$QMIGRATE --version printed nothing"
got=$(remote "$QMIGRATE" --version) || fail "ssh could not run $QMIGRATE --version on the destination"
[ "$got" = "$want" ] || fail "over ssh, qmigrate --version printed '$got', not '$want'"
dst_net=$(netns_dst readlink /proc/self/ns/net)
src_net=$(netns_src readlink /proc/self/ns/net)
got=$(remote readlink /proc/self/ns/net) || fail "ssh could not read the remote namespace"
[ "$got" = "$dst_net" ] || fail "the ssh session runs in $got, not in the destination's $dst_net"
[ "$src_net" != "$dst_net" ] || fail "source and destination share the namespace $src_net"
[ "$src_net" != "$(readlink /proc/self/ns/net)" ] || fail "the source namespace is the host's"
echo "netns: (a) $got" >&2

# (b) A few MiB through ssh cat, there and back, are the same bytes.
head -c $((4 << 20)) /dev/urandom >"$dir/sent"
remote cat <"$dir/sent" >"$dir/received" || fail "ssh cat failed"
sent=$(sha256sum <"$dir/sent")
received=$(sha256sum <"$dir/received")
[ "$sent" = "$received" ] ||
	fail "ssh cat returned $(stat -c %s "$dir/received") bytes that differ from the 4 MiB sent"
echo "netns: (b) 4 MiB round trip, sha256 ${sent%% *}" >&2

# A key that is not in authorized_keys is refused, without a prompt.
ssh-keygen -q -t ed25519 -N '' -f "$dir/other_key" || fail "ssh-keygen failed"
other=("${netns_ssh[@]}")
for i in "${!other[@]}"; do
	[ "${other[$i]}" != "IdentityFile=$netns_dir/client_key" ] || other[i]="IdentityFile=$dir/other_key"
done
if out=$(timeout 30 "${other[@]}" echo reached </dev/null 2>&1); then
	fail "ssh with a key that is not the test's ran a command: $out"
fi
case $out in
*"Permission denied (publickey)"*) ;;
*) fail "ssh with another key failed, but not for its key: $out" ;;
esac
echo "netns: refused another key: $out" >&2

# (c) A port listened on in the root namespace's loopback is reached from
# there, and from neither namespace, which have no route off their /24.
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
		Listen => 8, ReuseAddr => 1) or die "listen: $!\n";
	open(my $f, ">", "$ARGV[0].tmp") or die "$ARGV[0]: $!\n";
	print $f $s->sockport, "\n";
	close($f);
	rename("$ARGV[0].tmp", $ARGV[0]) or die "$ARGV[0]: $!\n";
	while (my $c = $s->accept) { close($c); }' "$dir/port" </dev/null 2>"$dir/listener.log" &
listener=$!
netns_track "$listener"
for _ in $(seq 100); do
	[ -s "$dir/port" ] && break
	kill -0 "$listener" 2>/dev/null || fail "the listener exited: $(cat "$dir/listener.log")"
	sleep 0.1
done
[ -s "$dir/port" ] || fail "the listener did not report its port within 10 s"
port=$(cat "$dir/port")
# shellcheck disable=SC2016 # expanded by that bash, from its arguments
connect='exec 3<>"/dev/tcp/$1/$2"'
timeout 10 bash -c "$connect" bash 127.0.0.1 "$port" 2>/dev/null ||
	fail "the root namespace cannot reach its own listener on 127.0.0.1:$port"
for ns in "$NETNS_SRC" "$NETNS_DST"; do
	if timeout 10 ip netns exec "$ns" bash -c "$connect" bash 127.0.0.1 "$port" 2>/dev/null; then
		fail "$ns reaches the host's 127.0.0.1:$port"
	fi
	routes=$(ip -n "$ns" -4 route show | sed 's/ *$//')
	case $routes in
	"192.0.2.0/24 dev qm-"???" proto kernel scope link src 192.0.2."[12]) ;;
	*) fail "$ns has routes other than its /24: $routes" ;;
	esac
	[ -z "$(ip -n "$ns" -6 route show | grep -v '^fe80::/64 \|^::1 ' || true)" ] ||
		fail "$ns has IPv6 routes off its link: $(ip -n "$ns" -6 route show)"
done
echo "netns: (c) 127.0.0.1:$port is not reached from either namespace" >&2

# (d) Cleanup kills what the test started and deletes both namespaces.
sshd_pid=$netns_sshd_pid
sshd_config=$netns_dir/sshd_config
src=$NETNS_SRC dst=$NETNS_DST
netns_cleanup
for ns in "$src" "$dst"; do
	! ip netns list | grep -q "^$ns\b" || fail "namespace $ns is left after cleanup"
	[ ! -e "/run/netns/$ns" ] || fail "/run/netns/$ns is left after cleanup"
done
! kill -0 "$sshd_pid" 2>/dev/null || fail "sshd (pid $sshd_pid) runs after cleanup"
! kill -0 "$listener" 2>/dev/null || fail "the listener (pid $listener) runs after cleanup"
for f in /proc/[0-9]*/cmdline; do
	cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue # gone meanwhile
	case $cmd in
	*"$sshd_config"*) fail "a process of the test's sshd is left after cleanup: ${f%/cmdline}: $cmd" ;;
	esac
done
now_run_sshd=no
[ ! -e /run/sshd ] || now_run_sshd=yes
[ "$now_run_sshd" = "$had_run_sshd" ] ||
	fail "the host's /run/sshd was '$had_run_sshd' before the test and is '$now_run_sshd' now"
echo "netns: (d) nothing of the test is left" >&2
