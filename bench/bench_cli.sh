#!/usr/bin/env bash
# bench_cli.sh — wall time of vmig commands on a state of 8 fully partitioned
# simulated H100s, each as a ratio to starting /bin/true in the same run
# (median of many repetitions, so a noisy machine moves both alike).
# Printed, not asserted.  REPS (default 200) sets the repetitions.
set -eu
cd "$(dirname "$0")/.."
VMIG=$PWD/${B:-build}/vmig
REPS=${REPS:-200}
. tests/lib/lib.sh
export VMIG_BACKEND=sim VMIG_STATE_DIR
vmig_tmpdir VMIG_STATE_DIR

# Median wall time in microseconds of running "$@" REPS times.
median_us() {
	local i t0 t1 times=()
	for ((i = 0; i < REPS; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	printf '%s\n' "${times[@]}" | sort -n | sed -n "$((REPS / 2 + 1))p"
}

# One create + destroy cycle on GPU 0 while the other seven stay full.
cycle() {
	"$VMIG" mig -i 0 -cgi 9,14,19,19 -C && "$VMIG" mig -i 0 -dci && "$VMIG" mig -i 0 -dgi
}

"$VMIG" sim reset h100-80gb h100-80gb h100-80gb h100-80gb h100-80gb h100-80gb h100-80gb \
	h100-80gb >/dev/null
"$VMIG" -mig 1 >/dev/null
"$VMIG" mig -cgi 19,19,19,19,19,19,19 -C >/dev/null
"$VMIG" mig -i 0 -dci >/dev/null
"$VMIG" mig -i 0 -dgi >/dev/null

true_us=$(median_us /bin/true)
lgi_us=$(median_us "$VMIG" mig -lgi)
cycle_us=$(median_us cycle)
awk -v t="$true_us" -v l="$lgi_us" -v c="$cycle_us" -v n="$REPS" 'BEGIN {
	printf "state: 8 simulated H100 80GB, 7 of them with 7 GIs and 7 CIs; %d runs each, medians\n", n
	printf "/bin/true                                     %8d us   1.0x\n", t
	printf "vmig mig -lgi                                 %8d us  %5.1fx /bin/true\n", l, l / t
	printf "vmig mig -i 0 -cgi 9,14,19,19 -C; -dci; -dgi  %8d us  %5.1fx /bin/true\n", c, c / t
}'
