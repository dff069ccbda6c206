#!/usr/bin/env bash
# inside.sh — programs inside software partitions, end to end, without a GPU.
#
# "The hardware" is our simulated NVML (build/libnvidia-ml.so.1 over a
# temporary VMIG_STATE_DIR holding an RTX 4090 and an H200); the CUDA
# driver is the stand-in libcuda of tests/interpose; the program is that
# suite's probe, started with `vmig run` exactly as a user would, so the
# real interposer is found next to vmig and preloaded.  Checked from inside
# the program: the capacity it is shown, its quota to the byte, a child
# (fork + exec) sharing the quota; from outside: -dgi refused while a
# process runs in the GI and allowed once it is dead, -rg changing the
# share of a running program, MPS chosen when a control daemon answers, and
# an instance of a derived-geometry GPU.  Every wait is bounded.
# It checks times on the wall clock: no other suite runs beside it.
# run.sh: alone
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
ROOT=$PWD
. tests/lib/lib.sh
vmig_suite inside

PROBE=$ROOT/$B/tests/interpose/probe
FAKE_MPS=$ROOT/$B/tests/soft/fake_mps
vmig_need_built "$B/vmig" "$B/libnvidia-ml.so.1" "$PROBE" "$B/interpose/libvmig-cuda.so" "$FAKE_MPS"

# A short path: the stand-in MPS socket lives under it.
TMP=$(mktemp -d /tmp/vmig-in-XXXXXX)
BG=()
cleanup() {
	for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

export VMIG_STATE_DIR=$TMP/state
unset VMIG_SOFT_STATE_DIR VMIG_BACKEND VMIG_COMPUTE_MODE VMIG_INTERPOSER \
	CUDA_MPS_ACTIVE_THREAD_PERCENTAGE LD_PRELOAD
export CUDA_MPS_PIPE_DIRECTORY=$TMP/no-mps # no MPS daemon unless a test starts one
export LD_LIBRARY_PATH=$ROOT/$B:$ROOT/$B/tests/interpose/stub
export ASAN_OPTIONS=detect_leaks=0
VMIG=("$ROOT/$B/vmig")
# Under the sanitizers the probe needs the ASan runtime loaded first;
# `vmig run` keeps a sanitizer runtime at the head of LD_PRELOAD.
SAN=$(ldd "$PROBE" 2>/dev/null | awk '/libasan/ { print $3; exit }')
RUN=(env)
[ -n "$SAN" ] && RUN+=("LD_PRELOAD=$SAN")
RUN+=("${VMIG[@]}" run -d)
# Programs in the foreground are killed after a minute, should one ever hang
# (those in the background bound themselves or are killed by this script).
FG=(timeout -s KILL 60)

# vm NAME WANT ARGS...: run vmig; stdout+stderr in $OUT; fail NAME unless it exits WANT.
vm() {
	local name=$1 want=$2
	shift 2
	OUT=$("${FG[@]}" "${VMIG[@]}" "$@" 2>&1)
	local got=$?
	[ "$got" -eq "$want" ] && return 0
	fail "$name" "vmig $* exited $got, wanted $want: $(head -c 400 <<<"$OUT")"
	return 1
}

# vr NAME WANT DEVICE PROGRAM [ARGS...]: vm for `vmig run -d DEVICE -- PROGRAM`,
# with the ASan runtime preloaded first in a sanitizer build.
vr() {
	local name=$1 want=$2 dev=$3
	shift 3
	OUT=$("${FG[@]}" "${RUN[@]}" "$dev" -- "$@" 2>&1)
	local got=$?
	[ "$got" -eq "$want" ] && return 0
	fail "$name" "vmig run -d $dev -- $* exited $got, wanted $want: $(head -c 400 <<<"$OUT")"
	return 1
}

# has NAME PATTERN: $OUT has a line matching the extended regex.
has() {
	grep -Eq -- "$2" <<<"$OUT" && return 0
	fail "$1" "no line matches '$2' in: $(head -c 600 <<<"$OUT")"
	return 1
}

# new_gi GPU PROFILE: create a GI with its default CI; prints its ID.
new_gi() {
	"${VMIG[@]}" mig --soft -i "$1" -cgi "$2" -C 2>&1 |
		sed -n 's/^Successfully created GPU instance ID *\([0-9]*\) .*/\1/p'
}

# in_range NAME VALUE LO HI
in_range() {
	awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v != "" && v >= lo && v <= hi) }' &&
		return 0
	fail "$1" "${2:-nothing} is not within $3..$4"
	return 1
}

vm sim-reset 0 sim reset rtx-4090 h200 || exit 1
vm soft-mig-on 0 -i 1 -mig 1 --soft || exit 1
GI=$(new_gi 1 3g.71gb)
[ -n "$GI" ] || {
	fail create-3g.71gb "no GPU instance created"
	exit 1
}
ok setup

# ---- What vmig run sets up ------------------------------------------------
if vr env 0 "1:$GI" env; then
	has env '^VMIG_COMPUTE_MODE=timeslice$' && has env '^VMIG_COMPUTE_PCT=45$' &&
		has env "^LD_PRELOAD=(${SAN:-}:)?$ROOT/$B/interpose/libvmig-cuda.so\$" &&
		has env '^CUDA_VISIBLE_DEVICES=GPU-' && ok env
fi

# ---- The instance from inside: capacity, quota, a child ---------------------
OUT=$("${FG[@]}" "${RUN[@]}" "1:$GI" -- "$PROBE" instance 71168 2>&1)
if [ $? -eq 0 ]; then
	has capacity '^total 71168 MiB, free 71168 MiB, device total 71168 MiB$' && ok capacity
	has quota-with-child 'exact, shared with a child' && ok quota-with-child
else
	fail instance "probe failed: $(head -c 800 <<<"$OUT")"
fi

# ---- A GI with a process in it cannot be destroyed --------------------------
"${RUN[@]}" "1:$GI" -- "$PROBE" hold 1048576 >"$TMP/hold" 2>&1 &
HOLD=$!
BG+=("$HOLD")
if ! vmig_wait_for "$TMP/hold" '^holding' 10; then
	fail dgi-in-use "the holder did not start: $(head -c 400 "$TMP/hold")"
else
	vm dci 0 mig --soft -i 1 -gi "$GI" -dci
	if vm dgi-in-use 19 mig --soft -i 1 -gi "$GI" -dgi; then
		has dgi-in-use "Unable to destroy GPU instance ID +$GI from GPU +1: In use by another client" &&
			ok dgi-in-use
	fi
	vm dgi-in-use-kept 0 mig --soft -i 1 -lgi && has dgi-in-use-kept "MIG 3g\.71gb +9 +$GI " &&
		ok dgi-in-use-kept
	kill -9 "$HOLD"
	wait "$HOLD" 2>/dev/null
	# The dead process's slot is still in the region, but does not count.
	vm dgi-after-death 0 mig --soft -i 1 -gi "$GI" -dgi && ok dgi-after-death
fi
GI=$(new_gi 1 3g.71gb)

# ---- -rg while a program runs kernels ---------------------------------------
# follow NAME PROBE_ENV... : start rg-follow in GI $GI at the share set
# before, set -rg $NEW_SHARE once it has run a window; prints the settled share.
follow() {
	local name=$1
	shift
	env VMIGSTUB_REALTIME=1 "$@" "${RUN[@]}" "1:$GI" -- "$PROBE" rg-follow >"$TMP/$name" 2>&1 &
	local pid=$!
	BG+=("$pid")
	if ! vmig_wait_for "$TMP/$name" '^window 0 ' 15; then
		fail "$name" "no first window: $(head -c 400 "$TMP/$name")"
		return 1
	fi
	vm "$name-rg" 0 mig --soft -i 1 -gi "$GI" -rg "$NEW_SHARE" || return 1
	wait "$pid"
	local st=$?
	FIRST=$(awk '$1 == "window" && $2 == 0 { print $4 }' "$TMP/$name")
	SETTLED=$(awk '$1 == "settled" { print $2 }' "$TMP/$name")
	echo "# $name: $(tr '\n' ' ' <"$TMP/$name")"
	[ "$st" -eq 0 ] && return 0
	fail "$name" "probe exited $st: $(head -c 600 "$TMP/$name")"
	return 1
}

vm rg-100 0 mig --soft -i 1 -gi "$GI" -rg 100
NEW_SHARE=30
if follow rg-live; then
	in_range rg-live-before "$FIRST" 90 101 && in_range rg-live-after "$SETTLED" 25 35 &&
		ok rg-live
fi

# ---- MPS when a control daemon answers ---------------------------------------
mkdir -p "$TMP/mps"
"$FAKE_MPS" "$TMP/mps" >"$TMP/mps.out" 2>&1 &
MPS=$!
BG+=("$MPS")
if vmig_wait_for "$TMP/mps.out" '^ready' 10; then
	CUDA_MPS_PIPE_DIRECTORY=$TMP/mps vr mps-chosen 0 "1:$GI" env &&
		has mps-chosen '^VMIG_COMPUTE_MODE=mps$' &&
		has mps-chosen '^CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=30$' && ok mps-chosen
	CUDA_MPS_PIPE_DIRECTORY=$TMP/mps VMIG_COMPUTE_MODE=timeslice vr mps-overridden 0 "1:$GI" env && has mps-overridden '^VMIG_COMPUTE_MODE=timeslice$' &&
		ok mps-overridden
	# Under MPS the server holds the program to 60 % of the threads; a share
	# lowered to 30 % is reached by time-slicing to half of the time.
	vm mps-rg-60 0 mig --soft -i 1 -gi "$GI" -rg 60
	NEW_SHARE=30
	if follow mps-rg CUDA_MPS_PIPE_DIRECTORY="$TMP/mps"; then
		grep -q '^share of the region at start 60$' "$TMP/mps-rg" &&
			in_range mps-rg-before "$FIRST" 90 101 &&
			in_range mps-rg-after "$SETTLED" 45 55 && ok mps-rg
	fi
	kill -9 "$MPS"
	wait "$MPS" 2>/dev/null
	# A socket left by a dead daemon is no MPS.
	CUDA_MPS_PIPE_DIRECTORY=$TMP/mps vr mps-stale 0 "1:$GI" env &&
		has mps-stale '^VMIG_COMPUTE_MODE=timeslice$' && ok mps-stale
else
	fail mps "the stand-in MPS daemon did not start: $(cat "$TMP/mps.out")"
fi
VMIG_COMPUTE_MODE=mps vr mps-forced-absent 3 "1:$GI" env &&
	has mps-forced-absent 'no MPS control daemon answers' && ok mps-forced-absent
VMIG_COMPUTE_MODE=fast vr mode-invalid 2 "1:$GI" env &&
	has mode-invalid "VMIG_COMPUTE_MODE='fast'" && ok mode-invalid

# ---- A GPU without MIG: the derived geometry -------------------------------
vm rtx-mig-on 0 -i 0 -mig 1 --soft
Q=$(new_gi 0 1g.6gb)
if [ -z "$Q" ]; then
	fail rtx-gi "no 1g.6gb instance created"
else
	export VMIGSTUB_TOTAL_MEM=$((24564 << 20)) # the stand-in shows a 4090's memory
	OUT=$("${FG[@]}" "${RUN[@]}" "0:$Q" -- "$PROBE" instance 6016 2>&1)
	if [ $? -eq 0 ]; then
		has rtx-capacity '^total 6016 MiB, free 6016 MiB, device total 6016 MiB$' &&
			ok rtx-capacity
	else
		fail rtx-instance "probe failed: $(head -c 800 <<<"$OUT")"
	fi
	OUT=$("${FG[@]}" "${RUN[@]}" "0:$Q" -- "$PROBE" share kernel 1.5 2>&1)
	S=$(sed -n 's/^share \([0-9.]*\)$/\1/p' <<<"$OUT")
	echo "# rtx 1g.6gb share: $S"
	in_range rtx-share "$S" 20 30 && ok rtx-share
	unset VMIGSTUB_TOTAL_MEM
fi

# ---- Clean up as a user would -------------------------------------------------
vm dci-all 0 mig --soft -dci && vm dgi-all 0 mig --soft -dgi && vm mig-off 0 -mig 0 --soft &&
	ok teardown
exit $failed
