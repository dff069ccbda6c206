#!/usr/bin/env bash
# share.sh — compute shares of software partitions on a real GPU, in under 8 minutes.
#
# Two software instances of GPU 0 (made by vmig in a private state: the GPU's settings are
# never changed, docs/soft.md), each program started with `vmig run` as a user would:
#
#   1. 30 % and 70 % (share mode), both running continuous matrix multiplies (CUDA C, then
#      PyTorch if it is installed): each one's share of the GPU's busy time (NVML's
#      per-process utilisation), the split of the work done, and the GPU's idle time;
#   2. the 30 % instance running the same work on 4 streams against the 70 %;
#   3. a host-synchronising loop (one multiply, wait, 1 ms on the host) alone in the 30 %
#      instance, against the same loop outside any instance;
#   4. the 30 % instance in cap mode, alone: its share of the time;
#   5. a launch-bound loop (empty kernels): ns per launch outside any instance, at 100 %
#      (the gate armed, uncapped) and at 30 % (measured), and what the interposer adds.
#
# NVML is only read (tests/gpu/nvwatch.c).  Prints every figure, and ok/FAIL lines with
# tolerances for a real GPU (5 points).  Skips, saying why, without a GPU or nvcc.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
. tests/gpu/lib.sh
gpu_begin "gpu share"
WARM=${SHARE_WARMUP:-5}
SECS=${SHARE_SECONDS:-20}
fail=0
verdict() { # name status
	if [ "$2" -eq 0 ]; then echo "ok - gpu share: $1"; else
		echo "FAIL - gpu share: $1"
		fail=1
	fi
}
# within VALUE LO HI
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v >= lo && v <= hi) }'; }
field() { sed -n "s/^$2 \\([-0-9.]*\\).*/\\1/p" "$1" | head -1; }

"$NVCC" -O2 -o "$TMP/work" tests/gpu/work.cu || {
	verdict "build work.cu" 1
	exit 1
}
"${CC:-cc}" -std=gnu11 -O2 -Iiface -o "$TMP/nvwatch" tests/gpu/nvwatch.c -ldl || {
	verdict "build nvwatch.c" 1
	exit 1
}
if ! soft_pair; then
	echo "skip - gpu share: GPU 0 cannot hold two software instances (its hardware MIG mode on?)"
	exit 0
fi
v mig --soft -i 0 -gi "$GI_A" -rg 30 --share-policy share >/dev/null &&
	v mig --soft -i 0 -gi "$GI_B" -rg 70 --share-policy share >/dev/null
verdict "shares 30 % and 70 %" $?

# pair NAME KIND_A CMD...: KIND_A in the 30 % instance, CMD's kind mm in the 70 % one, both
# with NVML watching; figures in $TMP/NAME.{a,b,watch}.
pair() {
	local name=$1 kind=$2
	shift 2
	(vr "$GI_A" "$@" "$kind" "$WARM" "$SECS") >"$TMP/$name.a" 2>&1 &
	local pa=$!
	(vr "$GI_B" "$@" mm "$WARM" "$SECS") >"$TMP/$name.b" 2>&1 &
	local pb=$!
	"$TMP/nvwatch" 0 "$WARM" "$SECS" "$pa" "$pb" >"$TMP/$name.watch" 2>&1
	wait "$pa" "$pb"
	A_BUSY=$(sed -n "s/^pid $pa busy //p" "$TMP/$name.watch")
	B_BUSY=$(sed -n "s/^pid $pb busy //p" "$TMP/$name.watch")
	GPU=$(field "$TMP/$name.watch" "gpu busy")
	read -r A_OF B_OF IDLE < <(awk -v a="${A_BUSY:-0}" -v b="${B_BUSY:-0}" -v g="${GPU:-0}" 'BEGIN {
		s = a + b; x = (s > 0) ? 100 * a / s : -1; y = (s > 0) ? 100 * b / s : -1
		printf "%.1f %.1f %.1f\n", x, y, 100 - g }')
	echo "# $name: 30% instance ${A_BUSY:-?}% of the time (${A_OF}% of the busy time)," \
		"70% instance ${B_BUSY:-?}% (${B_OF}%), GPU idle ${IDLE}%"
}

# 1. 30/70, CUDA C and PyTorch.
pair mm mm "$TMP/work"
ia=$(field "$TMP/mm.a" iters) ib=$(field "$TMP/mm.b" iters)
echo "# mm: work done ${ia:-?} vs ${ib:-?} iterations" \
	"($(awk -v a="${ia:-0}" -v b="${ib:-0}" 'BEGIN { x = (a + b > 0) ? 100 * a / (a + b) : -1; printf "%.1f", x }')% for the 30% instance)"
within "$A_OF" 25 35 && within "$B_OF" 65 75
verdict "30/70 CUDA C matrix multiplies: busy time within 5 points" $?
within "$IDLE" -1 10
verdict "30/70 CUDA C: GPU idle under 10%" $?
if python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
	pair torch mm python3 tests/gpu/torch_check.py
	within "$A_OF" 25 35 && within "$B_OF" 65 75
	verdict "30/70 PyTorch matrix multiplies: busy time within 5 points" $?
else
	echo "skip - gpu share: PyTorch with CUDA is not installed"
fi

# 2. Four streams in the 30 % instance.
pair streams4 streams4 "$TMP/work"
within "$A_OF" 25 35
verdict "4 streams get the share of 1 (30 +- 5 of the busy time)" $?

# 3. A host-synchronising loop alone in the 30 % instance, share mode.
env -u LD_LIBRARY_PATH "$TMP/work" sync "$WARM" "$SECS" >"$TMP/sync.plain" 2>&1
(vr "$GI_A" "$TMP/work" sync "$WARM" "$SECS") >"$TMP/sync.inst" 2>&1
rp=$(sed -n 's/.*rate \([0-9.]*\).*/\1/p' "$TMP/sync.plain") ri=$(sed -n 's/.*rate \([0-9.]*\).*/\1/p' "$TMP/sync.inst")
ratio=$(awk -v a="${ri:-0}" -v b="${rp:-0}" 'BEGIN { x = (b > 0) ? a / b : 0; printf "%.2f", x }')
echo "# sync loop: ${ri:-?} iterations/s in the 30% instance, ${rp:-?} outside (${ratio}x)"
within "$ratio" 0.9 10
verdict "host-synchronising loop alone at 30 %: at least 90 % of its speed" $?

# 4. Cap mode alone.
v mig --soft -i 0 -gi "$GI_A" --share-policy cap >/dev/null
(vr "$GI_A" "$TMP/work" mm "$WARM" "$SECS") >"$TMP/cap.a" 2>&1 &
pa=$!
"$TMP/nvwatch" 0 "$WARM" "$SECS" "$pa" >"$TMP/cap.watch" 2>&1
wait "$pa"
cap=$(sed -n "s/^pid $pa busy //p" "$TMP/cap.watch")
echo "# cap 30% alone: ${cap:-?}% of the time, GPU busy $(field "$TMP/cap.watch" "gpu busy")%"
within "$cap" 25 35
verdict "cap mode holds 30 +- 5 alone" $?
v mig --soft -i 0 -gi "$GI_A" --share-policy share >/dev/null

# 5. Launch-bound: what the interposer adds per launch.
N=${SHARE_LAUNCHES:-200000}
env -u LD_LIBRARY_PATH "$TMP/work" launch "$N" >"$TMP/launch.plain" 2>&1
v mig --soft -i 0 -gi "$GI_B" -rg 100 >/dev/null
(vr "$GI_B" "$TMP/work" launch "$N") >"$TMP/launch.armed" 2>&1
(vr "$GI_A" "$TMP/work" launch "$N") >"$TMP/launch.capped" 2>&1
lp=$(field "$TMP/launch.plain" ns_per_launch) la=$(field "$TMP/launch.armed" ns_per_launch)
lc=$(field "$TMP/launch.capped" ns_per_launch)
echo "# launch-bound: ${lp:-?} ns per launch outside, ${la:-?} at 100% (gate armed)," \
	"${lc:-?} at 30% (measured): +$(awk -v a="${la:-0}" -v p="${lp:-0}" 'BEGIN { printf "%.0f", a - p }') ns," \
	"+$(awk -v c="${lc:-0}" -v p="${lp:-0}" 'BEGIN { printf "%.0f", c - p }') ns"
[ -n "$lp" ] && [ -n "$la" ] && [ -n "$lc" ]
verdict "launch-bound loop ran in and out of instances" $?
exit $fail
