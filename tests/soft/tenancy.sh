#!/usr/bin/env bash
# tenancy.sh — who may change software partitions and who may use them
# (docs/tenancy.md), as users do it: the simulated NVML library is the
# hardware (an RTX 4090), `vmig run` starts the interposer's probe against
# the stand-in libcuda.  As root, other users are played by setpriv (user
# nobody, 65534); without root or setpriv the script skips, saying why.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
ROOT=$PWD
. tests/lib/lib.sh
vmig_suite tenancy
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "skip - tenancy: needs root and setpriv(1) to run commands as another user"
	exit 0
fi
PROBE=$ROOT/$B/tests/interpose/probe
vmig_need_built "$B/vmig" "$B/libnvidia-ml.so.1" "$PROBE" "$B/interpose/libvmig-cuda.so"
TMP=$(mktemp -d /tmp/vmig-ten-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
export VMIG_STATE_DIR=$TMP/state
unset VMIG_SOFT_STATE_DIR VMIG_BACKEND VMIG_COMPUTE_MODE VMIG_INTERPOSER LD_PRELOAD \
	VMIG_MEM_LIMIT VMIG_COMPUTE_PCT
export VMIG_NVML_LIBRARY=$ROOT/$B/libnvidia-ml.so.1
export CUDA_MPS_PIPE_DIRECTORY=$TMP/no-mps
export LD_LIBRARY_PATH=$ROOT/$B:$ROOT/$B/tests/interpose/stub
export ASAN_OPTIONS=detect_leaks=0
VMIG=$ROOT/$B/vmig
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
SAN=$(ldd "$PROBE" 2>/dev/null | awk '/libasan/ { print $3; exit }')
PRE=()
[ -n "$SAN" ] && PRE=("LD_PRELOAD=$SAN")

"$VMIG" sim reset rtx-4090 >/dev/null && "$VMIG" -i 0 -mig 1 --soft >/dev/null &&
	"$VMIG" mig --soft -i 0 -cgi 1g.6gb -C >/dev/null &&
	"$VMIG" mig --soft -i 0 -cgi 1g.6gb -C --owner nobody:nogroup >/dev/null ||
	{
		fail setup "cannot create the instances"
		exit 1
	}
ok setup
A=$TMP/state/soft/acct
files=$(ls "$A" | tr '\n' ' ')
[ "$(echo "$files" | wc -w)" = 4 ] && ok files || fail files "$files"
sum() { find "$TMP/state" -type f ! -name lock -exec md5sum {} + | sort; }
before=$(sum)

# check NAME WANT_STATUS PATTERN -- ARGS: vmig as nobody; the state and files unchanged.
check() {
	local name=$1 want=$2 pat=$3 out rc
	shift 4
	out=$(env "${PRE[@]}" "${NOBODY[@]}" "$VMIG" "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ] || ! grep -Eq -- "$pat" <<<"$out"; then
		fail "$name" "status $rc (want $want): $out"
	elif [ "$(sum)" != "$before" ]; then
		fail "$name" "the state or the instance files changed"
	else
		ok "$name"
	fi
}
check cgi-refused 4 "^Failed to create GPU instances: Insufficient Permissions$" -- \
	mig --soft -i 0 -cgi 1g.6gb
check dgi-refused 4 "Insufficient Permissions" -- mig --soft -i 0 -gi 3 -dgi
check rg-refused 4 "Insufficient Permissions" -- mig --soft -i 0 -gi 3 -rg 10
# GI 3 is root's (group 0): nobody cannot attach, one line, status 4, the program not run.
check run-outside-group 4 "admits only group 0, and user 65534 is not in it" -- \
	run -d 0:3 -- "$PROBE" quota
# Slurm's TaskProlog makes the same check for a job of nobody's on GI 3: refused, no exports.
u3=$("$VMIG" --soft -L | grep -o 'MIG-[0-9a-f-]*' | head -n 1)
PRE+=("CUDA_VISIBLE_DEVICES=$u3")
check prolog-outside-group 4 "^vmig: slurm task-prolog: GPU instance 3 on GPU 0 admits only group 0" \
	-- slurm task-prolog
unset 'PRE[${#PRE[@]}-1]'
# The other GI is nobody's: nobody runs in it with its quota, a forged limit changes nothing.
gi=$("$VMIG" mig --soft -i 0 -lgi --owners | awk '/nobody/ { print $6 }')
q=$(awk '/^mem_limit/ { print $2 }' "$A"/*-gi"$gi".limits)
out=$(env "${PRE[@]}" VMIG_MEM_LIMIT=999999999999 VMIGSTUB_TOTAL_MEM=68719476736 \
	"${NOBODY[@]}" "$VMIG" run -d 0:"$gi" -- "$PROBE" room 2>&1)
rc=$?
[ "$rc" = 0 ] && [ "$out" = "room $q" ] && ok run-in-own-group ||
	fail run-in-own-group "status $rc (want the room of the quota, $q): $out"
# The probe run directly by nobody, with the environment vmig run sets but GI 3's files: closed.
a3=$(ls "$A"/*-gi3)
out=$(env "${PRE[@]}" LD_PRELOAD="${SAN:+$SAN }$ROOT/$B/interpose/libvmig-cuda.so" \
	VMIG_PARTITION="$(awk '/^partition/ { print $2 }' "$a3.limits")" VMIG_ACCOUNTING="$a3" \
	"${NOBODY[@]}" "$PROBE" closed 2>&1)
[ "$out" = closed ] && ok interposer-closed || fail interposer-closed "$out"
# A GI of an older vmig has no files: vmig run says how to give it them, and -rg does.
mv "$a3.limits" "$TMP/saved.limits"
mv "$a3" "$TMP/saved.acct"
out=$("$VMIG" run -d 0:3 -- true 2>&1)
rc=$?
[ "$rc" = 6 ] && grep -q "has no limits file .*-rg PERCENT" <<<"$out" && ok run-legacy-gi ||
	fail run-legacy-gi "status $rc: $out"
"$VMIG" mig --soft -i 0 -gi 3 -rg 25 >/dev/null
[ "$(stat -c %a:%g "$a3")" = 660:0 ] && grep -q "^compute_pct 25$" "$a3.limits" &&
	env "${PRE[@]}" "$VMIG" run -d 0:3 -- true && ok rg-gives-files || fail rg-gives-files "$(ls -l "$A")"
# -lgi keeps nvidia-smi's layout; --owners adds the column.
out=$("$VMIG" mig --soft -i 0 -lgi)
grep -q Owner <<<"$out" && fail lgi-layout "an Owner column without --owners" || ok lgi-layout
out=$("$VMIG" mig --soft -i 0 -lgi --owners)
grep -q "root:root" <<<"$out" && grep -q "nobody:nogroup" <<<"$out" && ok lgi-owners ||
	fail lgi-owners "$out"
out=$("$VMIG" mig --soft -i 0 -cgi 1g.6gb --owner no-such-user-x 2>&1)
rc=$?
[ "$rc" = 2 ] && grep -q "no user 'no-such-user-x'" <<<"$out" && ok owner-unknown ||
	fail owner-unknown "status $rc: $out"
exit $failed
