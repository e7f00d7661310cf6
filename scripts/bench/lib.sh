# Shared by the migration benchmarks: build, a private directory, a pair of
# QEMUs with the test guest (started by argv, killed by pid), JSON fields.
# Source it after setting top; it sets build, qm, image, accel and dir.

"$top/scripts/setup"
build=$("$top/scripts/build")
make -s -C "$build" tests/guest/guest.img scripts/bench/maxrss >&2
qm=$build/qmigrate
image=$build/tests/guest/guest.img
maxrss=$build/scripts/bench/maxrss
accel=$("$top/scripts/accel") # QMIGRATE_TEST_ACCEL=tcg|kvm forces one
echo "bench: QEMU accelerator: $accel${QMIGRATE_TEST_ACCEL:+ (QMIGRATE_TEST_ACCEL=$QMIGRATE_TEST_ACCEL)}" >&2

dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-bench.XXXXXX") # 0700
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT

start_pair() { # MIB: starts src (guest running) and dst (-incoming defer), waits for 2 passes
	local mem=$1 name
	rm -f "$dir"/*.qmp "$dir"/*.serial
	for name in src dst; do
		local extra=()
		[ $name = dst ] && extra=(-S -incoming defer)
		qemu-system-x86_64 -nodefaults -display none -machine pc,accel=$accel -m "$mem" \
			-drive "file=$image,format=raw,if=ide,snapshot=on" \
			-qmp "unix:$dir/$name.qmp,server=on,wait=off" -serial "file:$dir/$name.serial" \
			"${extra[@]}" 2>/dev/null &
		pids+=($!)
		eval "${name}_pid=$!"
	done
	local deadline=$((SECONDS + 120))
	until [ -S "$dir/src.qmp" ] && [ -S "$dir/dst.qmp" ] && [ -f "$dir/src.serial" ] &&
		[ "$(tr -cd . <"$dir/src.serial" | wc -c)" -ge 2 ]; do
		[ $SECONDS -lt $deadline ] || { echo "guest did not start" >&2; exit 1; }
		sleep 0.05
	done
}

stop_pair() {
	kill "$src_pid" "$dst_pid" 2>/dev/null || true
	wait "$src_pid" 2>/dev/null || true
	wait "$dst_pid" 2>/dev/null || true
}

pause_src() { "$qm" qmp "$dir/src.qmp" stop >/dev/null; }

json_field() { # JSON KEY: a number from a one-line JSON object
	sed -E "s/.*\"$2\":(-?[0-9.e+]+).*/\1/" <<<"$1"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# quantile P: the P-quantile (0 < P < 1, nearest rank) of the numbers on stdin, one a line
quantile() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i = int(NR * p); if (i < NR * p) i++; print a[i < 1 ? 1 : i]}'; }
