# lib.sh — what the checks on a real GPU share (sourced by tests/gpu/*.sh): whether a GPU
# is there, the CUDA compiler, and software partitions of GPU 0 made by vmig itself, in a
# state directory of the check's own.  Soft partitions never touch the GPU's settings (no
# MIG mode change, no instance of the driver, no reset: docs/soft.md), so neither does
# anything here.  Expects B (the build directory); gpu_begin makes TMP.

# gpu_begin NAME: the start of every check: exit 0 with a skip line unless an NVIDIA GPU
# answers and nvcc is there; then TMP, a directory of the check's own, removed at exit
# with the software partitions made in it.
gpu_begin() {
	gpu_or_skip "$1"
	find_nvcc
	if [ -z "$NVCC" ]; then
		echo "skip - $1: no nvcc on this machine"
		exit 0
	fi
	TMP=$(mktemp -d)
	trap 'soft_end; rm -rf "$TMP"' EXIT
}

# gpu_or_skip NAME: exit 0 with a skip line unless an NVIDIA GPU answers.
gpu_or_skip() {
	if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
		echo "skip - $1: no NVIDIA GPU on this machine"
		exit 0
	fi
}

# NVCC: the CUDA compiler on PATH or in the toolkit's usual place; empty without one.
find_nvcc() {
	NVCC=$(command -v nvcc || true)
	[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
	return 0
}

# The sanitizer runtime a sanitized build's programs need first in LD_PRELOAD (else empty).
san_preload() {
	if ldd "$B/interpose/libvmig-cuda.so" 2>/dev/null | grep -q libasan; then
		"${CC:-cc}" -print-file-name=libasan.so
	fi
}

# v ARGS...: vmig on the real GPU (the driver's NVML, never the simulated one), private state.
v() {
	env -u LD_LIBRARY_PATH VMIG_STATE_DIR="$TMP/state" "$B/vmig" "$@"
}

# vr GI PROGRAM...: become PROGRAM inside GPU instance GI of GPU 0, as a user starts it
# (vmig run execs the program, so run this in a subshell, "(vr ...) &", and $! is the
# program's PID, the one NVML reports).
vr() {
	local gi=$1 san
	shift
	san=$(san_preload)
	exec env -u LD_LIBRARY_PATH ${san:+LD_PRELOAD="$san"} VMIG_STATE_DIR="$TMP/state" \
		"$B/vmig" run -d "0:$gi" -- "$@"
}

# soft_pair: software MIG mode on GPU 0 and two GPU instances of the largest profile that
# fits twice; their IDs in GI_A and GI_B.  Returns 1 (saying why) when that fails.
soft_pair() {
	v -i 0 -mig 1 --soft >"$TMP/soft.log" 2>&1 || {
		echo "# soft MIG mode on GPU 0 failed: $(head -c 300 "$TMP/soft.log")"
		return 1
	}
	local p out ids
	for p in $(v mig --soft -i 0 -lgip | sed -n 's/.*MIG \([0-9]g\.[0-9]*gb\).*/\1/p' | tac); do
		out=$(v mig --soft -i 0 -cgi "$p,$p" -C 2>&1)
		ids=$(sed -n 's/^Successfully created GPU instance ID *\([0-9]*\) .*/\1/p' <<<"$out")
		GI_A=$(sed -n 1p <<<"$ids")
		GI_B=$(sed -n 2p <<<"$ids")
		if [ -n "$GI_A" ] && [ -n "$GI_B" ]; then
			echo "# two software instances of $p on GPU 0: GI $GI_A and GI $GI_B"
			return 0
		fi
		v mig --soft -i 0 -dci >/dev/null 2>&1 # one of them may have been made
		v mig --soft -i 0 -dgi >/dev/null 2>&1
	done
	echo "# no profile of GPU 0 fits twice"
	return 1
}

# soft_end: the software partitions go (the GPU itself was never changed).
soft_end() {
	v mig --soft -i 0 -dci >/dev/null 2>&1
	v mig --soft -i 0 -dgi >/dev/null 2>&1
	v -i 0 -mig 0 --soft >/dev/null 2>&1
}
