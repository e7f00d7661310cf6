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
phases=(begin prepare perform finish confirm)
# Cells that cannot happen, and why.
declare -A na=(
	[kill-dst.confirm]="the VM lives only in the destination QEMU once finish resumed it: killing it kills the VM, whatever qmigrate does"
	[cancel.confirm]="qmigrate refuses a cancel from finish on (the state is on the destination): as cancel.finish"
)
# Cells this harness cannot make yet, and why (not counted as passed).
declare -A open=(
	[stop-dst.finish]="the trigger is the destination's command, so its QMP goes through the proxy; qmigrate kills a destination that ignores quit by its QMP peer's pid, which would be the proxy's"
)
# Rows whose cells a script of their own runs (SCRIPT FAULT PHASE, exit 0
# pass), one entry each: "FAULT SCRIPT PHASES...".  The phases not named
# are '-' (the fault does not apply there; not counted).
script_rows=(
	"tunnel-cut fault-stream.sh perform"
	"tunnel-deaf fault-stream.sh perform"
	"rundir fault-stream.sh prepare"
	"enospc fault-stream.sh prepare perform"
)
declare -A res
logs=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-faultlog-XXXXXX")
trap 'rm -rf "$logs"' EXIT
accel=$("$top_srcdir/scripts/accel") || { echo "fault matrix: no accelerator" >&2; exit 1; }
echo "fault matrix: QEMU runs with accel=$accel"
started=$SECONDS
failed=0 passed=0
run_cell() { # SCRIPT FAULT PHASE: runs the cell, records pass or FAIL
	local f=$2 p=$3 t=$SECONDS
	if "$1" "$f" "$p" >"$logs/$f.$p" 2>&1; then
		res[$f.$p]=pass
		passed=$((passed + 1))
	else
		res[$f.$p]=FAIL
		failed=$((failed + 1))
		sed 's/^/    /' "$logs/$f.$p"
	fi
	echo "[${res[$f.$p]}] $f/$p ($((SECONDS - t)) s)"
}
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
		run_cell "$cell" "$f" "$p"
	done
done

row_faults=()
for row in "${script_rows[@]}"; do
	read -r f script row_phases <<<"$row"
	row_faults+=("$f")
	for p in "${phases[@]}"; do
		res[$f.$p]=-
		[[ " $row_phases " == *" $p "* ]] || continue
		[ -z "${FAULT_CELLS:-}" ] || [[ " $FAULT_CELLS " == *" $f.$p "* ]] || continue
		run_cell "$top_srcdir/tests/integration/$script" "$f" "$p"
	done
done

printf '\n%-11s' fault
printf ' %-8s' "${phases[@]}"
echo
for f in "${faults[@]}" "${row_faults[@]}"; do
	printf '%-11s' "$f"
	for p in "${phases[@]}"; do printf ' %-8s' "${res[$f.$p]}"; done
	echo
done
for k in "${!na[@]}"; do echo "n/a $k: ${na[$k]}"; done | sort
for k in "${!open[@]}"; do echo "open $k: ${open[$k]}"; done | sort
echo "fault matrix: $passed passed, $failed failed, ${#na[@]} n/a, ${#open[@]} open, accel=$accel, $((SECONDS - started)) s"
[ "$failed" = 0 ]
