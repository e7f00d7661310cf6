# shellcheck shell=bash disable=SC2034 # the scripts read what this sets
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced first by the integration scripts that run QEMU, after their
# set -euo pipefail:
#
#   . "$(dirname "$0")/test-env.sh" PREFIX
#
# QMIGRATE, QEMU, top_srcdir and top_builddir as make check sets them (run
# by hand from the build directory, QMIGRATE alone is needed); image and
# memcheck, the test guest and its checker; dir, a private directory
# PREFIX-XXXXXX under $TMPDIR; and qemu-lib.sh, whose cleanup stops the
# script's QEMUs and removes dir at exit.  The script then defines fail().

: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
QEMU=$(command -v "${QEMU:-qemu-system-x86_64}")
top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
image=$top_builddir/tests/guest/guest.img
memcheck=$top_builddir/tests/guest/qm-memcheck

dir=$(mktemp -d "${TMPDIR:-/tmp}/${1:?test-env.sh needs a prefix}-XXXXXX")
chmod 0700 "$dir"
# shellcheck source=qemu-lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/qemu-lib.sh"
