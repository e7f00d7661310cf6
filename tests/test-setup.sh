#!/usr/bin/env bash
# scripts/setup runs apt-get only for what is missing, and not at all when
# nothing is: fake dpkg-query and apt-get on PATH record what it asks for.
set -euo pipefail
: "${top_srcdir:?}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-setup-XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bin"
cat >"$dir/bin/dpkg-query" <<'FAKE'
#!/usr/bin/env bash
# reports every package installed except those named in $MISSING
pkg=${!#}
case " ${MISSING:-} " in *" $pkg "*) exit 1 ;; esac
printf installed
FAKE
cat >"$dir/bin/apt-get" <<'FAKE'
#!/usr/bin/env bash
echo "$*" >>"$CALLS"
FAKE
cat >"$dir/bin/id" <<'FAKE'
#!/usr/bin/env bash
echo 0
FAKE
chmod +x "$dir/bin/"*
export CALLS=$dir/calls PATH="$dir/bin:$PATH"
failures=0

: >"$CALLS"
MISSING="" "$top_srcdir/scripts/setup"
if [ -s "$CALLS" ]; then
	echo "FAIL: with everything installed, setup called apt-get: $(cat "$CALLS")"
	failures=$((failures + 1))
else
	echo "PASS: with everything installed, setup calls no apt-get"
fi

: >"$CALLS"
MISSING="libev-dev qemu-utils" "$top_srcdir/scripts/setup" 2>/dev/null
install=$(grep '^install' "$CALLS" || true)
if grep -q '^update' "$CALLS" && [[ $install == *" libev-dev qemu-utils" ]] &&
	[[ $install != *jansson* ]]; then
	echo "PASS: setup installs exactly the missing packages"
else
	echo "FAIL: setup asked apt-get for: $(cat "$CALLS")"
	failures=$((failures + 1))
fi
: >"$CALLS"
MISSING="clang libclang-rt-dev" "$top_srcdir/scripts/setup" 2>/dev/null
MISSING="clang libclang-rt-dev" "$top_srcdir/scripts/setup" --fuzz 2>/dev/null
install=$(grep '^install' "$CALLS" || true)
if [[ $install == *" clang libclang-rt-dev" ]] && [ "$(grep -c '^install' "$CALLS")" -eq 1 ]; then
	echo "PASS: only setup --fuzz installs clang and libFuzzer"
else
	echo "FAIL: setup and setup --fuzz asked apt-get for: $(cat "$CALLS")"
	failures=$((failures + 1))
fi
echo "setup: $((3 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
