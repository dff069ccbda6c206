#!/usr/bin/env bash
# install.sh — `make install` into a scratch DESTDIR: the command and the
# two libraries other programs load (the simulated libnvidia-ml.so.1 and the
# interposer) land in <prefix>/bin and <prefix>/lib/vmig, nothing of libvmig
# itself (it is not a public library), and the installed command finds
# both: the soft backend sees the simulated GPUs through the installed NVML
# library, and `vmig run` preloads the installed interposer.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib/lib.sh
vmig_suite install

if ! make -s B="$B" SAN="${SAN:-0}" install DESTDIR="$T/root" PREFIX=/usr >"$T/log" 2>&1; then
	fail make "$(tail -3 "$T/log")"
	exit 1
fi
P=$T/root/usr
for f in bin/vmig bin/vmig-container-runtime bin/vmig-device-plugin lib/vmig/libnvidia-ml.so.1 lib/vmig/libnvidia-ml.so lib/vmig/libvmig-cuda.so; do
	[ -e "$P/$f" ] && ok "has-$f" || fail "has-$f" "$P/$f missing"
done
extra=$(cd "$T/root" && find . -name 'libvmig.*' -o -name '*.h' -o -name '*.pc' | head -3)
[ -z "$extra" ] && ok no-libvmig || fail no-libvmig "installed: $extra"

# The interposer itself may be built with ASan, which cannot load into an
# uninstrumented env(1): the do-nothing stand-in takes its place, since what
# is checked here is where `vmig run` looks, not what the interposer does.
cp "$B/tests/soft/libstub-interposer.so" "$P/lib/vmig/libvmig-cuda.so"
export VMIG_STATE_DIR=$T/state VMIG_SOFT_STATE_DIR=$T/soft LD_LIBRARY_PATH=$P/lib/vmig
unset VMIG_INTERPOSER VMIG_BACKEND VMIG_NVML_LIBRARY
V=$P/bin/vmig
if "$V" sim reset rtx-4090 >"$T/out" 2>&1 && "$V" -i 0 -mig 1 --soft >>"$T/out" 2>&1 &&
	"$V" mig --soft -i 0 -cgi 1g.6gb -C >>"$T/out" 2>&1; then
	ok soft-through-installed-nvml
else
	fail soft-through-installed-nvml "$(tail -2 "$T/out")"
fi
gi=$("$V" mig --soft -i 0 -lgi | awk '$3 == "MIG" { print $6; exit }')
pre=$("$V" run -d "0:${gi:-x}" -- sh -c 'echo "$LD_PRELOAD"' 2>&1)
[ "$(realpath -q "$pre")" = "$(realpath "$P/lib/vmig/libvmig-cuda.so")" ] && ok run-finds-interposer ||
	fail run-finds-interposer "LD_PRELOAD was '$pre'"
exit $failed
