#!/usr/bin/env bash
# gpu.sh — libvmig-cuda.so's memory quota on a real GPU: a 3g.71gb software instance of
# GPU 0 (71168 MiB, made by vmig in a private state; the GPU's settings are never changed)
# seen from CUDA C and from PyTorch, started with `vmig run`.  The compute shares are
# share.sh's.  Skips, saying why, without a GPU, nvcc or the profile.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
. tests/gpu/lib.sh
gpu_begin "gpu quota"
fail=0
verdict() { # name status
	if [ "$2" -eq 0 ]; then echo "ok - $1"; else
		echo "FAIL - $1"
		fail=1
	fi
}
limit=$((71168 * 1048576))
"$NVCC" -O2 -o "$TMP/quota" tests/gpu/quota.cu -lcuda || {
	verdict "gpu: build quota.cu" 1
	exit 1
}
v -i 0 -mig 1 --soft >/dev/null 2>&1
gi=$(v mig --soft -i 0 -cgi 3g.71gb -C 2>/dev/null |
	sed -n 's/^Successfully created GPU instance ID *\([0-9]*\) .*/\1/p')
if [ -z "$gi" ]; then
	echo "skip - gpu quota: GPU 0 has no 3g.71gb software profile (an H200's)"
	exit 0
fi
(vr "$gi" "$TMP/quota" $limit)
verdict "gpu: CUDA C inside 3g.71gb" $?
if python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
	(vr "$gi" python3 tests/gpu/torch_check.py memory $limit)
	verdict "gpu: PyTorch inside 3g.71gb" $?
else
	echo "skip - gpu torch: no PyTorch with CUDA"
fi
exit $fail
