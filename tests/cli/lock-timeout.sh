#!/usr/bin/env bash
# lock-timeout.sh — a process that stops while it holds the state's lock
# (here flock(1) holding it and sleeping, then the same stopped with
# SIGSTOP) never makes vmig hang: changes fail within VMIG_LOCK_TIMEOUT with
# nvidia-smi's "Timeout" line and one more line naming the holder's PID;
# reads take no lock and answer at once; once the holder is gone the same
# change works.  The time limits below only turn a hang into a failure.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
VMIG=$PWD/$B/vmig
. tests/lib/lib.sh
if ! command -v flock >/dev/null; then
	echo "skip - cli-lock: no flock(1) (util-linux) to hold the lock with"
	exit 0
fi
vmig_tmpdir T
export VMIG_STATE_DIR=$T/state VMIG_BACKEND=sim VMIG_LOCK_TIMEOUT=0.5
WRAP=()
[ "${VMIG_VALGRIND:-0}" = 1 ] && WRAP=("${VMIG_VALGRIND_CMD[@]}")
# python3 is not built with the sanitizers: an ASan build of the library needs its runtime first.
PY=(env "LD_PRELOAD=$(vmig_san_preload "$PWD/$B/libnvidia-ml.so.1")" ASAN_OPTIONS=detect_leaks=0 python3)
"$VMIG" sim reset h100-80gb >/dev/null || exit 1
"$VMIG" -mig 1 >/dev/null || exit 1

flock -x "$VMIG_STATE_DIR/lock" sleep 60 &
holder=$!
# flock(1) runs sleep with the locked descriptor: the lock lives until both are gone.
stop_holder() {
	kill -CONT $holder 2>/dev/null
	pkill -P $holder 2>/dev/null
	kill $holder 2>/dev/null
	wait $holder 2>/dev/null
}
trap stop_holder EXIT
# Wait until the holder has the lock (at most 10 s).
for _ in $(seq 100); do
	grep -q "FLOCK.* $holder " /proc/locks 2>/dev/null && break
	sleep 0.1
done

check() { # NAME CONDITION MESSAGE
	if eval "$2"; then echo "ok - cli-lock/$1"; else echo "FAIL - cli-lock/$1: $3"; fi
}

run() { # run a vmig command with a hard limit; sets out, err, rc
	out=$(timeout 60 "${WRAP[@]}" "$VMIG" "$@" 2>"$T/err")
	rc=$?
	err=$(cat "$T/err")
}

for phase in sleeping stopped; do
	[ $phase = stopped ] && kill -STOP $holder
	run mig -cgi 19 -C
	check "$phase-change-times-out" '[ $rc = 10 ]' "status $rc (want 10, NVML's Timeout); $out $err"
	check "$phase-nvidia-smi-words" \
		'[ "$out" = "$(printf "Unable to create a GPU instance on GPU  0 using profile 19: Timeout\nFailed to create GPU instances: Timeout")" ]' \
		"stdout: $out"
	check "$phase-names-the-holder" \
		'[[ "$err" == "vmig: the state in "*"stayed locked for 0.5 s (process $holder holds it for a change; VMIG_LOCK_TIMEOUT sets how long to wait)" ]]' \
		"stderr: $err"
	run -mig 0
	check "$phase-mode-times-out" '[ $rc = 10 ]' "status $rc: $out $err"
	run mig -lgi
	check "$phase-reads-do-not-wait" '[ $rc = 6 ] && [ "$out" = "No GPU instances found: Not Found" ]' \
		"status $rc: $out $err"
	run -L
	check "$phase-list-works" '[ $rc = 0 ] && [[ "$out" == "GPU 0: NVIDIA H100 80GB HBM3 "* ]]' \
		"status $rc: $out $err"
	# Through vmig's NVML library: reads answer, a change returns NVML_ERROR_TIMEOUT (10).
	if command -v python3 >/dev/null; then
		nv=$(timeout 60 "${PY[@]}" -c '
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
assert lib.nvmlInit_v2() == 0
d = ctypes.c_void_p(); gi = ctypes.c_void_p(); n = ctypes.c_uint(0)
print(lib.nvmlDeviceGetCount_v2(ctypes.byref(n)), n.value,
      lib.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(d)),
      lib.nvmlDeviceCreateGpuInstance(d, 19, ctypes.byref(gi)))
' "$PWD/$B/libnvidia-ml.so.1" 2>&1)
		check "$phase-nvml-change-times-out" '[ "$nv" = "0 1 0 10" ]' \
			"count, handle and create returned: $nv (want 0 1 0 10)"
	fi
done

stop_holder
run mig -cgi 19 -C
check after-the-holder-goes '[ $rc = 0 ]' "status $rc: $out $err"
run -L
check state-intact '[ $rc = 0 ] && [[ "$out" == *"MIG 1g.10gb"* ]]' "status $rc: $out $err"
