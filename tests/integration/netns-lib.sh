# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the integration scripts that need two hosts: two network
# namespaces joined by a veth pair, with a real OpenSSH sshd in the
# destination one, run for the test with keys made for the test.
#
#   source  NETNS_SRC  192.0.2.1/24 --veth-- 192.0.2.2/24  NETNS_DST  sshd :2222
#
# The caller sets dir (a private 0700 directory from mktemp -d) and defines
# fail(); qemu-lib.sh comes with this library.  Then:
#
#   netns_setup               makes both hosts and starts sshd, or exits 77
#                             (SKIP) where this machine allows no namespaces
#   netns_src CMD...          runs CMD in the source namespace
#   netns_dst CMD...          runs CMD in the destination namespace
#   "${netns_ssh[@]}" CMD...  runs CMD on the destination over ssh, from the
#                             source, in BatchMode (the words are joined and
#                             read by the remote user's shell)
#   netns_ssh_options         the ssh options (Key=Value) that netns_ssh
#                             gives with -o, e.g. for --ssh-option
#   netns_track PID           kills PID at cleanup
#   netns_cleanup             kills the test's processes by pid, deletes both
#                             namespaces; idempotent; runs at exit
#
# Nothing here touches the host's own network or an sshd of the host: the
# veth pair is made inside the namespaces, sshd gets its own config, host
# key, authorized keys and privilege separation directory, and writes no pid
# file.  Every process is tracked by its pid and killed by it; every wait is
# bounded.

# stop, cleanup (QEMUs, then $dir) and the pids of QEMUs come from there.
declare -F stop >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/qemu-lib.sh"

NETNS_SRC_ADDR=192.0.2.1
NETNS_DST_ADDR=192.0.2.2
NETNS_SSH_PORT=2222
NETNS_SRC=''
NETNS_DST=''
netns_dir=
netns_sshd_pid=
netns_pids=()
netns_made=()
netns_ssh=()
netns_ssh_options=()

netns_skip() { # REASON: this machine allows no namespaces; automake counts 77 as SKIP
	echo "SKIP: $*" >&2
	exit 77
}

netns_track() { # PID
	netns_pids+=("$1")
}

netns_cleanup() {
	local pid ns
	for pid in "${netns_pids[@]}"; do stop "$pid"; done
	netns_pids=()
	# What the sessions of sshd left behind (a command run over ssh whose
	# client went away) still holds the namespace: those are the test's
	# processes too.
	for ns in "${netns_made[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do stop "$pid"; done
		ip netns delete "$ns" 2>/dev/null || echo "netns-lib: could not delete namespace $ns" >&2
	done
	netns_made=()
}

netns_exit() {
	netns_cleanup
	cleanup # qemu-lib.sh's: its QEMUs, then $dir
}
trap netns_exit EXIT
trap 'exit 130' INT TERM HUP

netns_src() {
	ip netns exec "$NETNS_SRC" "$@"
}
netns_dst() {
	ip netns exec "$NETNS_DST" "$@"
}

netns_make() { # NAME: adds the namespace, or skips where this machine cannot
	local err
	if ! err=$(ip netns add "$1" 2>&1); then
		netns_skip "cannot make network namespace $1 here: $err"
	fi
	netns_made+=("$1")
}

netns_hosts() { # the two namespaces and the veth pair between them
	local base
	[ "$(id -u)" -eq 0 ] || netns_skip "network namespaces need root (uid $(id -u))"
	command -v ip >/dev/null || netns_skip "no ip (iproute2): run scripts/setup"
	# The names come from the test's own mktemp directory, so that parallel
	# runs never collide.
	base=$(basename "$dir")
	NETNS_SRC=$base-src
	NETNS_DST=$base-dst
	netns_make "$NETNS_SRC"
	netns_make "$NETNS_DST"
	# Made inside the namespaces: the pair never appears on the host.
	ip -n "$NETNS_SRC" link add qm-src type veth peer name qm-dst netns "$NETNS_DST" ||
		fail "cannot make the veth pair between $NETNS_SRC and $NETNS_DST"
	ip -n "$NETNS_SRC" addr add "$NETNS_SRC_ADDR/24" dev qm-src
	ip -n "$NETNS_DST" addr add "$NETNS_DST_ADDR/24" dev qm-dst
	local ns
	for ns in "$NETNS_SRC" "$NETNS_DST"; do
		ip -n "$ns" link set lo up
	done
	ip -n "$NETNS_SRC" link set qm-src up
	ip -n "$NETNS_DST" link set qm-dst up
}

netns_keys() { # the host key of sshd, the client key and known_hosts
	ssh-keygen -q -t ed25519 -N '' -C qmigrate-test-host -f "$netns_dir/host_key" ||
		fail "ssh-keygen could not make the test host key"
	ssh-keygen -q -t ed25519 -N '' -C qmigrate-test-client -f "$netns_dir/client_key" ||
		fail "ssh-keygen could not make the test client key"
	# restrict: no pty, no forwarding, no ~/.ssh/rc; a plain command on stdio.
	printf 'restrict %s\n' "$(cat "$netns_dir/client_key.pub")" >"$netns_dir/authorized_keys"
	printf '[%s]:%s %s\n' "$NETNS_DST_ADDR" "$NETNS_SSH_PORT" \
		"$(cut -d' ' -f1,2 "$netns_dir/host_key.pub")" >"$netns_dir/known_hosts"
	chmod 0600 "$netns_dir"/*
}

netns_sshd_config() {
	cat >"$netns_dir/sshd_config" <<EOF
# Made by tests/integration/netns-lib.sh for one test run.
ListenAddress $NETNS_DST_ADDR:$NETNS_SSH_PORT
AddressFamily inet
HostKey $netns_dir/host_key
PidFile none
UsePAM no
AllowUsers $(id -un)
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile $netns_dir/authorized_keys
AuthorizedPrincipalsFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
AllowAgentForwarding no
AllowTcpForwarding no
X11Forwarding no
PermitTunnel no
PermitUserEnvironment no
PrintMotd no
PrintLastLog no
UseDNS no
LoginGraceTime 10
# StrictModes refuses an authorized_keys file below any group- or
# world-writable directory, and the test directory lies under /tmp (1777).
# The test directory is 0700 and its files 0600, so that only this user can
# change them.
StrictModes no
EOF
	chmod 0600 "$netns_dir/sshd_config"
}

netns_sshd() { # starts sshd in the destination and waits until it listens (at most 10 s)
	local log=$netns_dir/sshd.log
	# sshd needs its privilege separation directory, /run/sshd, which only
	# the host's sshd service makes.  ip netns exec gives sshd a mount
	# namespace of its own (a slave of the host's): an empty tmpfs on /run
	# there holds it, and the host's /run is left as it is.  ip and the
	# shell exec, so that $! is sshd's pid (not through a shell function,
	# which would run in a subshell of its own).
	# sshd runs each command through the login user's shell, and bash reads
	# ~/.bashrc when sshd starts it: a test machine's (pyenv's init, say)
	# can cost half a second per command, which no host of a lab would
	# charge to a migration.  The namespace's view of it is empty (/dev/null
	# bound over it), as on a fresh host; the host's file is left as it is.
	local rc
	rc=$(getent passwd "$(id -un)" | cut -d: -f6)/.bashrc
	[ -f "$rc" ] || rc=
	# shellcheck disable=SC2016 # expanded by that shell, from its arguments
	ip netns exec "$NETNS_DST" sh -c 'mount -t tmpfs -o mode=0755,size=1m qmigrate-test "/run" &&
		mkdir -m 0755 /run/sshd &&
		{ [ -z "$3" ] || mount --bind /dev/null "$3"; } && exec "$1" -D -e -f "$2"' sh \
		/usr/sbin/sshd "$netns_dir/sshd_config" "$rc" </dev/null >"$log" 2>&1 &
	netns_sshd_pid=$!
	netns_track "$netns_sshd_pid"
	for _ in $(seq 100); do
		grep -q "^Server listening on $NETNS_DST_ADDR port $NETNS_SSH_PORT" "$log" && return 0
		kill -0 "$netns_sshd_pid" 2>/dev/null || {
			sed 's/^/  sshd: /' "$log" >&2
			fail "sshd exited before listening on $NETNS_DST_ADDR:$NETNS_SSH_PORT"
		}
		sleep 0.1
	done
	fail "sshd did not listen on $NETNS_DST_ADDR:$NETNS_SSH_PORT within 10 s"
}

netns_setup() {
	trap netns_exit EXIT # whichever library the caller sourced last
	[ -x /usr/sbin/sshd ] || fail "no /usr/sbin/sshd: run scripts/setup (openssh-server)"
	command -v ssh >/dev/null || fail "no ssh: run scripts/setup (openssh-client)"
	command -v ssh-keygen >/dev/null || fail "no ssh-keygen: run scripts/setup (openssh-client)"
	# Without PAM, sshd refuses an account whose password is locked ('!'
	# in /etc/shadow, as passwd -l leaves it) even to a key; say so
	# rather than let every ssh fail with "Permission denied".
	local user hash
	user=$(id -un)
	hash=$(getent shadow "$user" | cut -d: -f2) || hash=
	case $hash in
	'!'*) fail "sshd (UsePAM no) refuses the locked account $user ('!' in /etc/shadow): give it no password instead, with usermod -p '*' $user, which allows no password login either" ;;
	esac
	netns_dir=$dir/netns
	mkdir -m 0700 "$netns_dir"
	netns_hosts
	netns_keys
	netns_sshd_config
	netns_sshd
	# No ~/.ssh, no /etc/ssh/ssh_config, no agent: -F /dev/null and only the
	# test key, known host and options; a prompt fails instead of waiting.
	netns_ssh_options=(
		"IdentityFile=$netns_dir/client_key"
		IdentitiesOnly=yes
		IdentityAgent=none
		"UserKnownHostsFile=$netns_dir/known_hosts"
		GlobalKnownHostsFile=/dev/null
		StrictHostKeyChecking=yes
		UpdateHostKeys=no
		BatchMode=yes
		PasswordAuthentication=no
		KbdInteractiveAuthentication=no
		ConnectTimeout=10
		LogLevel=ERROR
	)
	netns_ssh=(ip netns exec "$NETNS_SRC" ssh -F /dev/null -T -p "$NETNS_SSH_PORT")
	local o
	for o in "${netns_ssh_options[@]}"; do netns_ssh+=(-o "$o"); done
	netns_ssh+=(-- "$NETNS_DST_ADDR")
}
