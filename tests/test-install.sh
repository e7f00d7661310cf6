#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make install DESTDIR=... puts the command, the library, the header, the
# .pc file, the man pages and the bash completion in place, and nothing
# else, and a program built against the installed library with nothing but
# `pkg-config --cflags --libs qmigrate` runs one QMP command through it,
# against a real QEMU (tests/install/consumer.c).
# make check sets QEMU, top_srcdir and top_builddir.
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
QEMU=$(command -v "${QEMU:-qemu-system-x86_64}")
dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-install-XXXXXX")
chmod 0700 "$dir"
# shellcheck source=integration/qemu-lib.sh
. "$top_srcdir/tests/integration/qemu-lib.sh"
fail() {
	echo "FAIL: $*" >&2
	[ ! -s "$dir/log" ] || tail -n 30 "$dir/log" >&2
	exit 1
}

if [ ! -e "$top_builddir/.libs/libqmigrate.so" ]; then
	echo "SKIP: no shared library (configured with --disable-shared?)"
	exit 77
fi
make -s -C "$top_builddir" install DESTDIR="$dir/root" >"$dir/log" 2>&1 ||
	fail "make install DESTDIR=$dir/root failed"
prefix=$(sed -n 's/^prefix=//p' "$top_builddir/qmigrate.pc")
root=$dir/root$prefix
libdir=$dir/root$(sed -n 's/^libdir=//p' "$top_builddir/qmigrate.pc" | sed "s|\${exec_prefix}|$prefix|")
for f in "$root/bin/qmigrate" "$root/include/qmigrate.h" "$libdir/libqmigrate.so" \
	"$libdir/pkgconfig/qmigrate.pc" "$root/share/bash-completion/completions/qmigrate" \
	"$root/share/man/man1/qmigrate.1" "$root/share/man/man3/libqmigrate.3"; do
	[ -e "$f" ] || fail "make install did not install $f"
done
# Nothing of the tests or of the internal library is installed.
extra=$(find "$dir/root" -type f | grep -v -e '/bin/qmigrate$' -e '/include/qmigrate\.h$' \
	-e '/libqmigrate\.\(so[.0-9]*\|la\|a\)$' -e '/pkgconfig/qmigrate\.pc$' \
	-e '/bash-completion/completions/qmigrate$' \
	-e '/share/man/man1/qmigrate\.1$' -e '/share/man/man3/libqmigrate\.3$' || true)
[ -z "$extra" ] || fail "make install installed more than it should: $extra"

# The .pc file as installed, its prefix moved under DESTDIR.
export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=
flags=$(pkg-config --define-variable=prefix="$root" --cflags --libs qmigrate) ||
	fail "pkg-config --cflags --libs qmigrate failed"
# The build's compiler, and its sanitizers: an ASan library needs an ASan program.
make_var() {
	sed -n "s/^$1 = //p" "$top_builddir/Makefile"
}
cc=$(make_var CC)
sanitizers="$(make_var SANITIZER_CFLAGS) $(make_var SANITIZER_LDFLAGS)"
# shellcheck disable=SC2086 # the flags are words
${cc:-cc} $sanitizers -o "$dir/consumer" "$top_srcdir/tests/install/consumer.c" $flags \
	-Wl,-rpath,"$libdir" 2>"$dir/log" ||
	fail "the consumer does not build with: $flags"
# It runs against the installed library, not the build tree's.
grep -q "$libdir/libqmigrate.so" <<<"$(ldd "$dir/consumer")" ||
	fail "the consumer does not load $libdir/libqmigrate.so: $(ldd "$dir/consumer")"

"$QEMU" -nodefaults -display none -machine none -S \
	-qmp "unix:$dir/qmp.sock,server=on,wait=off" >"$dir/qemu.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
	[ -S "$dir/qmp.sock" ] && break
	sleep 0.1
done
out=$(timeout 30 "$dir/consumer" "$dir/qmp.sock" 2>"$dir/log") ||
	fail "the consumer exited $?"
[ "$out" = "status=prelaunch" ] || fail "the consumer printed '$out'"
echo "PASS: installed under DESTDIR; a program built with pkg-config's flags ran query-status ($out)"
