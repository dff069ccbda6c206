#!/usr/bin/env bash
# gpu.sh — libvmig-cuda.so on a real GPU: a 3g.71gb soft instance (71168 MiB)
# seen from CUDA C and from PyTorch, and two instances at 30 % / 70 %
# running matrix multiplies.  Skips, saying why, without a GPU or nvcc.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
	echo "skip - gpu: no NVIDIA GPU on this machine"
	exit 0
fi
if ! command -v nvcc >/dev/null 2>&1; then
	echo "skip - gpu: no nvcc on this machine"
	exit 0
fi
lib=$(realpath "$B/interpose/libvmig-cuda.so")
pre=$lib
if ldd "$lib" | grep -q libasan; then
	pre="$(${CC:-cc} -print-file-name=libasan.so) $lib"
fi
limit=$((71168 * 1048576))
phys=$(nvidia-smi -i 0 --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
verdict() { # name status
	if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "FAIL - $1"; fail=1; fi
}
inst() { # instance pct command...
	local name=$1 pct=$2
	shift 2
	env LD_PRELOAD="$pre" CUDA_VISIBLE_DEVICES=0 VMIG_PARTITION="$name" \
		VMIG_MEM_LIMIT=$limit VMIG_COMPUTE_PCT="$pct" VMIG_ACCOUNTING="$tmp/acct-$name" "$@"
}
nvcc -O2 -o "$tmp/quota" tests/gpu/quota.cu -lcuda || verdict "gpu: build quota.cu" 1
nvcc -O2 -o "$tmp/mm" tests/gpu/mm.cu || verdict "gpu: build mm.cu" 1
if [ "${phys:-0}" -lt 71168 ]; then
	echo "skip - gpu quota: GPU 0 has ${phys} MiB, less than a 3g.71gb instance"
else
	inst gpu0-3g 100 "$tmp/quota" $limit
	verdict "gpu: CUDA C inside 3g.71gb" $?
	if python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
		inst gpu0-3g-torch 100 python3 tests/gpu/torch_check.py memory $limit
		verdict "gpu: PyTorch inside 3g.71gb" $?
	else
		echo "skip - gpu torch: no PyTorch with CUDA"
	fi
fi
share() { # tool label
	inst gpu0-a 30 "$@" >"$tmp/a" &
	inst gpu0-b 70 "$@" >"$tmp/b" &
	wait
	local a b
	a=$(sed -n 's/^iters //p' "$tmp/a")
	b=$(sed -n 's/^iters //p' "$tmp/b")
	python3 - "$a" "$b" <<'PY'
import sys
a, b = (float(x or 0) for x in sys.argv[1:3])
s = 100 * a / (a + b) if a + b else -1
print(f"# 30/70 split: {a:.0f} vs {b:.0f} iterations, first instance {s:.1f} %")
sys.exit(0 if 25 <= s <= 35 else 1)
PY
}
share "$tmp/mm" 10
verdict "gpu: -rg 30/70 CUDA matrix multiplies within 5 points" $?
if python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
	share python3 tests/gpu/torch_check.py mm 10
	verdict "gpu: -rg 30/70 PyTorch matrix multiplies within 5 points" $?
fi
exit $fail
