#!/usr/bin/env bash
# clients.sh — real NVML clients on the simulated libnvidia-ml.so.1: a fresh
# state with an H100 (MIG on, a 3g and a 1g instance) and an A100 40GB (MIG
# off), one program started with `vmig run` in the 3g instance, then
#  - gpustat's and nvitop's call sequences through ctypes (clients_seq.py),
#  - gpustat itself (--json), which must list both GPUs and the program,
#  - nvtop, on a pseudo-terminal for a moment: both GPUs shown, the program
#    in its process list, no abort,
#  - hwloc's NVML plugin (lstopo): an NVML OS device per GPU, with its model.
# Debian packages gpustat, python3-pynvml and libhwloc-contrib-plugins in
# contrib, and they depend on NVIDIA's driver packages (non-free), so .ci/run
# unpacks them into $VMIG_CLIENTS_ROOT (default /opt/vmig-nvml-clients)
# instead of installing them; nvtop and hwloc-nox install normally.  A client
# that is not there is skipped, saying why.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
ROOT=${VMIG_CLIENTS_ROOT:-/opt/vmig-nvml-clients}
. tests/lib/lib.sh
vmig_suite clients
skip() { echo "skip - clients/$1: $2"; }

vmig_tmpdir dir
export VMIG_STATE_DIR=$dir VMIG_BACKEND=sim
V=$B/vmig
{ $V sim reset h100-80gb a100-40gb && $V -i 0 -mig 1 && $V mig -i 0 -cgi 9,19 -C; } >/dev/null ||
	{ echo "FAIL - clients/setup"; exit 1; }
gi=$($V mig -i 0 -lgi | awk '$3 == "MIG" && $4 == "3g.40gb" { print $6 }')

# The program holds its instance until its input (a FIFO we keep open) closes.
mkfifo "$dir/hold"
$V run -d "0:$gi" -- cat <"$dir/hold" &
run=$!
exec 9>"$dir/hold"
cleanup() {
	exec 9>&-
	wait "$run" 2>/dev/null
}
trap cleanup EXIT

pre=$(vmig_san_preload "$B/libnvidia-ml.so.1")
[ -z "$pre" ] || export ASAN_OPTIONS=detect_leaks=0:${ASAN_OPTIONS:-}
export LD_LIBRARY_PATH=$PWD/$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# Wait (bounded) until the program is recorded: vmig run records it before it execs.
for _ in $(seq 1 300); do
	ls "$dir/users"/run-* >/dev/null 2>&1 && break
	sleep 0.01
done

if command -v python3 >/dev/null; then
	LD_PRELOAD=$pre python3 tests/abi/clients_seq.py "$B/libnvidia-ml.so.1" "$run" "$gi" ||
		failed=1
else
	skip seq "no python3"
fi

# The Debian programs use Debian's python3 and its modules.
PY=/usr/bin/python3
PYPATH=$ROOT/usr/lib/python3/dist-packages
if [ -x "$PY" ] && PYTHONPATH=$PYPATH $PY -c 'import pynvml, gpustat, psutil' 2>/dev/null; then
	if out=$(PYTHONPATH=$PYPATH LD_PRELOAD=$pre $PY -m gpustat --json 2>&1); then
		check='
import json, sys
d = json.load(sys.stdin)
names = [g["name"] for g in d["gpus"]]
assert names == ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB"], names
pids = [p["pid"] for p in d["gpus"][0]["processes"]]
assert pids == [int(sys.argv[1])], pids
assert d["gpus"][0]["processes"][0]["command"] == "cat"
assert d["gpus"][1]["processes"] == []
assert d["driver_version"]
'
		PYTHONPATH= $PY -c "$check" "$run" <<<"$out" && ok gpustat || fail gpustat "$out"
	else
		fail gpustat "$out"
	fi
else
	skip gpustat "gpustat, pynvml or psutil not installed (python3-psutil, and gpustat and python3-pynvml unpacked in $ROOT)"
fi

if command -v nvtop >/dev/null && command -v script >/dev/null; then
	# nvtop has no batch mode: run it on a pseudo-terminal, interrupt it once the screen
	# shows what is checked (or after 30 s: a loaded machine may take seconds to draw), read it.
	: >"$dir/nvtop.out"
	TERM=xterm LD_PRELOAD=$pre timeout -s INT 30 \
		script -q -e -f -c "stty cols 160 rows 40; nvtop -C" "$dir/nvtop.out" >/dev/null 2>&1 &
	nvtop_pid=$!
	for _ in $(seq 150); do
		screen=$(sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' "$dir/nvtop.out" | tr -d '\r')
		grep -aq "H100 80GB HBM3" <<<"$screen" && grep -aq "A100-SXM4-40GB" <<<"$screen" &&
			grep -aqw "cat" <<<"$screen" && break
		kill -0 $nvtop_pid 2>/dev/null || break
		sleep 0.2
	done
	sleep 0.5 # one more refresh, so an abort right after drawing shows too
	pkill -INT -P $nvtop_pid 2>/dev/null
	kill -INT $nvtop_pid 2>/dev/null
	wait $nvtop_pid 2>/dev/null
	screen=$(sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' "$dir/nvtop.out" | tr -d '\r')
	if grep -q "Assertion\|Aborted\|COMMAND_EXIT_CODE=\"13[0-9]\"" <<<"$screen"; then
		fail nvtop "nvtop aborted: $(grep -a -m1 'Assertion\|EXIT_CODE' <<<"$screen")"
	elif grep -aq "H100 80GB HBM3" <<<"$screen" && grep -aq "A100-SXM4-40GB" <<<"$screen" &&
		grep -aqw "cat" <<<"$screen"; then
		ok nvtop
	else
		fail nvtop "GPUs or the process missing from the screen: $(head -c 400 <<<"$screen")"
	fi
else
	skip nvtop "nvtop or script not installed"
fi

plugins=
for p in /usr/lib/x86_64-linux-gnu/hwloc "$ROOT/usr/lib/x86_64-linux-gnu/hwloc"; do
	[ -f "$p/hwloc_nvml.so" ] && plugins=$p && break
done
if command -v lstopo-no-graphics >/dev/null && [ -n "$plugins" ]; then
	out=$(HWLOC_PLUGINS_PATH=$plugins HWLOC_COMPONENTS=nvml,-cuda LD_PRELOAD=$pre \
		lstopo-no-graphics -v --whole-io 2>&1)
	if grep -q 'GPU(NVML).*GPUModel="NVIDIA H100 80GB HBM3".*"nvml0"' <<<"$out" &&
		grep -q 'GPU(NVML).*GPUModel="NVIDIA A100-SXM4-40GB".*"nvml1"' <<<"$out"; then
		ok hwloc-nvml
	else
		fail hwloc-nvml "$(grep -i nvml <<<"$out" | head -5)"
	fi
else
	skip hwloc-nvml "lstopo-no-graphics (hwloc-nox) or hwloc_nvml.so (libhwloc-contrib-plugins, unpacked in $ROOT) missing"
fi
exit $failed
