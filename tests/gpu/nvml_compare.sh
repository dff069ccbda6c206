#!/usr/bin/env bash
# nvml_compare.sh — vmig's nvml backend against the real driver, read-only:
# `vmig -L`, `vmig --query-gpu=...` and `vmig mig -lgip` through the driver's
# libnvidia-ml.so.1 must print what nvidia-smi prints.  Nothing here changes
# the GPU (no MIG mode change, no instance, no reset).  Skips, saying why,
# where there is no NVIDIA GPU or where the simulated library would be loaded.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
	echo "skip - gpu nvml: no NVIDIA GPU on this machine"
	exit 0
fi
case "${LD_LIBRARY_PATH:-}" in
*"$B"*)
	echo "skip - gpu nvml: LD_LIBRARY_PATH points at the simulated library"
	exit 0
	;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
same() { # name file-a file-b
	if cmp -s "$2" "$3"; then
		echo "ok - $1"
	else
		echo "FAIL - $1"
		diff "$2" "$3" | head -20
		fail=1
	fi
}
v() { VMIG_STATE_DIR="$tmp/state" "$B/vmig" --backend nvml "$@"; }
nvidia-smi -L >"$tmp/smi-L" 2>&1
v -L >"$tmp/vmig-L" 2>&1
same "gpu nvml: -L" "$tmp/smi-L" "$tmp/vmig-L"
q=index,name,uuid,pci.bus_id,mig.mode.current,mig.mode.pending
nvidia-smi --query-gpu=$q --format=csv >"$tmp/smi-q" 2>&1
v --query-gpu=$q --format=csv >"$tmp/vmig-q" 2>&1
same "gpu nvml: --query-gpu" "$tmp/smi-q" "$tmp/vmig-q"
nvidia-smi mig -lgip >"$tmp/smi-lgip" 2>&1
echo "nvidia-smi mig -lgip exit $?" >>"$tmp/smi-lgip"
v mig -lgip >"$tmp/vmig-lgip" 2>&1
echo "nvidia-smi mig -lgip exit $?" >>"$tmp/vmig-lgip"
same "gpu nvml: mig -lgip" "$tmp/smi-lgip" "$tmp/vmig-lgip"
# Keep the outputs for the record (docs/gpu.md) where the caller asks for them.
if [ -n "${VMIG_GPU_RECORD:-}" ]; then
	mkdir -p "$VMIG_GPU_RECORD" && cp "$tmp"/smi-* "$tmp"/vmig-* "$VMIG_GPU_RECORD"/
fi
exit $fail
