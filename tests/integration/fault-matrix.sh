#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The fault matrix (make faultcheck): every cell of fault x phase, each one
# run with real QEMUs by fault-cell.sh (the QMP faults) or by its row's
# script (script_rows: the stream and filesystem faults), then the table.  A cell that cannot
# happen says n/a and why (docs/fault-matrix.md).  Exit 1 when a cell failed.
# FAULT_CELLS="FAULT.PHASE ..." runs only those cells.
set -uo pipefail

: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export QMIGRATE top_srcdir top_builddir=${top_builddir:-$PWD}
cell=$top_srcdir/tests/integration/fault-cell.sh

faults=(kill-src kill-dst stop-dst close-src close-dst error cancel)
# Rows run by a script of their own, FAULT -> "SCRIPT PHASE...": the phases
# not named do not apply to that fault ('-', not counted).
declare -A rows=(
	[agent-kill]="fault-remote.sh prepare perform finish"
	[ssh-cut]="fault-remote.sh perform"
	[tunnel-cut]="fault-stream.sh perform"
	[tunnel-deaf]="fault-stream.sh perform"
	[rundir]="fault-stream.sh prepare"
	[enospc]="fault-stream.sh prepare perform"
)
faults+=(agent-kill ssh-cut tunnel-cut tunnel-deaf rundir enospc)
phases=(begin prepare perform finish confirm)
# Cells that cannot happen, and why.
declare -A na=(
	[kill-dst.confirm]="the VM lives only in the destination QEMU once finish resumed it: killing it kills the VM, whatever qmigrate does"
	[cancel.confirm]="qmigrate refuses a cancel from finish on (the state is on the destination): as cancel.finish"
)
# Cells this harness cannot make yet, and why (not counted as passed).
declare -A open=()
declare -A res
logs=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-faultlog-XXXXXX")
trap 'rm -rf "$logs"' EXIT
accel=$("$top_srcdir/scripts/accel") || { echo "fault matrix: no accelerator" >&2; exit 1; }
echo "fault matrix: QEMU runs with accel=$accel"
started=$SECONDS
failed=0 passed=0 skipped=0
for p in "${phases[@]}"; do
	for f in "${faults[@]}"; do
		if [ -n "${FAULT_CELLS:-}" ] && [[ " $FAULT_CELLS " != *" $f.$p "* ]]; then
			res[$f.$p]=-
			continue
		fi
		if [ -n "${na[$f.$p]:-}" ]; then
			res[$f.$p]=n/a
			continue
		fi
		if [ -n "${open[$f.$p]:-}" ]; then
			res[$f.$p]=open
			continue
		fi
		run=$cell
		if [ -n "${rows[$f]:-}" ]; then
			read -r run only <<<"${rows[$f]}"
			run=$top_srcdir/tests/integration/$run
			[[ " $only " == *" $p "* ]] || { res[$f.$p]=- && continue; }
		fi
		t=$SECONDS rc=0
		"$run" "$f" "$p" >"$logs/$f.$p" 2>&1 || rc=$?
		if [ "$rc" = 0 ]; then
			res[$f.$p]=pass
			passed=$((passed + 1))
		elif [ "$rc" = 77 ]; then # no network namespaces here (netns-lib.sh)
			res[$f.$p]=skip
			skipped=$((skipped + 1))
			tail -n 1 "$logs/$f.$p" | sed 's/^/    /'
		else
			res[$f.$p]=FAIL
			failed=$((failed + 1))
			sed 's/^/    /' "$logs/$f.$p"
		fi
		echo "[${res[$f.$p]}] $f/$p ($((SECONDS - t)) s)"
	done
done

printf '\n%-11s' fault
printf ' %-8s' "${phases[@]}"
echo
for f in "${faults[@]}"; do
	printf '%-11s' "$f"
	for p in "${phases[@]}"; do printf ' %-8s' "${res[$f.$p]}"; done
	echo
done
for k in "${!na[@]}"; do echo "n/a $k: ${na[$k]}"; done | sort
for k in "${!open[@]}"; do echo "open $k: ${open[$k]}"; done | sort
echo "fault matrix: $passed passed, $failed failed, $skipped skipped, ${#na[@]} n/a, ${#open[@]} open, accel=$accel, $((SECONDS - started)) s"
[ "$failed" = 0 ]
