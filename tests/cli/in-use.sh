#!/usr/bin/env bash
# in-use.sh — "In use by another client", end to end: while another process
# holds the simulated GPUs (an NVML client: a Python process with vmig's
# libnvidia-ml.so.1 initialised; or a program started by `vmig run` in an
# instance), an Ampere MIG mode change stays pending with nvidia-smi's
# two-line warning, and a Hopper one is refused with "Terminating early"
# (exit 19); once the holder is gone the same changes take effect.  The
# holder is recorded in the state directory's registry of users
# (docs/backends.md, "Processes"); nothing here is faked.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
VMIG=$PWD/$B/vmig
LIB=$PWD/$B/libnvidia-ml.so.1
. tests/lib/lib.sh
if ! command -v python3 >/dev/null; then
	echo "skip - cli-in-use: no python3 to hold the GPUs through NVML"
	exit 0
fi
vmig_tmpdir T
export VMIG_STATE_DIR=$T/state VMIG_BACKEND=sim
WRAP=()
[ "${VMIG_VALGRIND:-0}" = 1 ] && WRAP=("${VMIG_VALGRIND_CMD[@]}")
# python3 is not built with the sanitizers: an ASan build of the library needs its runtime first.
PY=(env "LD_PRELOAD=$(vmig_san_preload "$PWD/$B/libnvidia-ml.so.1")" ASAN_OPTIONS=detect_leaks=0 python3)
"$VMIG" sim reset a100-40gb h100-80gb >/dev/null || exit 1
bus0=$("$VMIG" --query-gpu=pci.bus_id --format=csv,noheader -i 0)
bus1=$("$VMIG" --query-gpu=pci.bus_id --format=csv,noheader -i 1)

check() { # NAME CONDITION MESSAGE
	if eval "$2"; then echo "ok - cli-in-use/$1"; else echo "FAIL - cli-in-use/$1: $3"; fi
}
run() {
	out=$(timeout 60 "${WRAP[@]}" "$VMIG" "$@" 2>&1)
	rc=$?
}

# An NVML client holding every simulated GPU until its stdin closes.
coproc HOLDER { exec "${PY[@]}" -c '
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
assert lib.nvmlInit_v2() == 0
print("holding", flush=True)
sys.stdin.read()
lib.nvmlShutdown()
' "$LIB"; }
read -r -t 30 line <&"${HOLDER[0]}"
check nvml-client-started '[ "${line:-}" = holding ]' "the NVML client did not start: ${line:-}"

run -i 0 -mig 1
check ampere-pending-while-held \
	'[ $rc = 0 ] && [ "$out" = "$(printf "Warning: MIG mode is in pending enable state for GPU %s:In use by another client\n%s is currently being used by one or more other processes (e.g. CUDA application or a monitoring application such as another instance of nvidia-smi). Please first kill all processes using the device and retry the command or reboot the system to make MIG mode effective.\nAll done." "$bus0" "$bus0")" ]' \
	"status $rc: $out"
run --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader -i 0
check ampere-stays-pending '[ "$out" = "Disabled, Enabled" ]' "$out"
run -i 1 -mig 1
check hopper-refused-while-held \
	'[ $rc = 19 ] && [ "$out" = "$(printf "Unable to enable MIG Mode for GPU %s: In use by another client\nTerminating early due to previous errors." "$bus1")" ]' \
	"status $rc: $out"
run --query-gpu=mig.mode.current --format=csv,noheader -i 1
check hopper-unchanged '[ "$out" = Disabled ]' "$out"

# The holder goes: the registry forgets it at once (its lock died with it).
exec {HOLDER[1]}>&-
wait "$HOLDER_PID" 2>/dev/null
run -i 1 -mig 1
check hopper-once-free '[ $rc = 0 ] && [ "$out" = "$(printf "Enabled MIG Mode for GPU %s\nAll done." "$bus1")" ]' \
	"status $rc: $out"
run -i 0 -r
check ampere-reset-makes-it-effective '[ $rc = 0 ]' "status $rc: $out"
run --query-gpu=mig.mode.current --format=csv,noheader -i 0
check ampere-enabled '[ "$out" = Enabled ]' "$out"

# A program started by vmig run in an instance holds its GPU too.
run mig -i 1 -cgi 19 -C
check instance-made '[ $rc = 0 ]' "status $rc: $out"
mig=$("$VMIG" -L | sed -n 's/.*MIG 1g.10gb .*(UUID: \(MIG-[0-9a-f-]*\)).*/\1/p' | head -1)
check mig-uuid '[ -n "$mig" ]' "no MIG device in: $("$VMIG" -L)"
fifo=$T/fifo
mkfifo "$fifo"
exec {ff}<>"$fifo" # read-write: opening never blocks, and read -t bounds the wait
"$VMIG" run -d "$mig" -- sh -c "echo started > '$fifo'; exec sleep 60" &
runner=$!
line=
read -r -t 30 line <&$ff
check run-started '[ "${line:-}" = started ]' "vmig run did not start: ${line:-}"
run mig -i 1 -dci
check busy-ci-not-destroyed \
	'[ $rc = 19 ] && [ "$(head -1 <<<"$out")" = "Unable to destroy compute instance ID  0 from GPU  1 GPU instance ID 13: In use by another client" ]' \
	"status $rc: $out"
run mig -i 1 -dgi
check busy-gi-not-destroyed \
	'[ $rc = 19 ] && [ "$(head -1 <<<"$out")" = "Unable to destroy GPU instance ID 13 from GPU  1: In use by another client" ]' \
	"status $rc: $out"
run -i 1 -mig 2
check busy-gi-kept-by-the-split '[ $rc != 0 ] && [[ "$out" == *"process"* ]]' "status $rc: $out"
kill "$runner"
wait "$runner" 2>/dev/null
run mig -i 1 -dci
run mig -i 1 -dgi
run -i 1 -mig 0
check mig-off-once-idle '[ $rc = 0 ]' "status $rc: $out"
