#!/usr/bin/env bash
# e2e.sh — software partitions end to end, without a GPU: simulated non-MIG
# and MIG GPUs stand in for the real ones, the soft backend partitions them
# (-mig 1 --soft, -lgip, -cgi -C, -lgi, -L, -rg, -dci, -dgi, -mig 0) and
# `vmig run` shows the environment a program and its children get.
#
# The vmig command runs with LD_LIBRARY_PATH=build, so the soft backend
# finds the simulated GPUs through our libnvidia-ml.so.1, as it finds real
# ones through NVIDIA's library on a GPU machine.  (The unit tests of
# tests/unit/test_soft.c layer the soft backend on the simulator directly.)
# Prints one "ok - " / "FAIL - " / "skip - " line per check.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
ROOT=$PWD

. tests/lib/lib.sh
skip() { echo "skip - soft/$MODE/$1: $2"; }

# run NAME WANT_STATUS ARGS...: runs vmig, keeps stdout/stderr in $OUT/$ERR.
run() {
	local name=$1 want=$2
	shift 2
	"${VMIG[@]}" "$@" >"$TMP/out" 2>"$TMP/err"
	local got=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
	if [ "$got" -ne "$want" ]; then
		fail "$name" "vmig $* exited $got, wanted $want; stderr: $ERR"
		return 1
	fi
	return 0
}

# has NAME TEXT PATTERN: TEXT contains a line matching the extended regex.
has() {
	if grep -Eq -- "$3" <<<"$2"; then
		return 0
	fi
	fail "$1" "no line matches '$3' in: $(head -c 600 <<<"$2")"
	return 1
}

check() { # check NAME STATUS ARGS... then patterns on stdout: run and match
	local name=$1 want=$2
	shift 2
	local args=() pats=()
	while [ $# -gt 0 ] && [ "$1" != "::" ]; do
		args+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	pats=("$@")
	run "$name" "$want" "${args[@]}" || return 1
	for p in "${pats[@]}"; do
		has "$name" "$OUT$ERR" "$p" || return 1
	done
	ok "$name"
}

# The instance of a profile on GPU 1 (the H200), from -lgi: its GI ID.
gi_of() {
	"${VMIG[@]}" mig --soft -i "$1" -lgi | awk -v p="$2" '$3 == "MIG" && $4 == p { print $6; exit }'
}

scenario() {
	TMP=$(mktemp -d)
	export VMIG_STATE_DIR=$TMP/state
	unset VMIG_SOFT_STATE_DIR VMIG_BACKEND
	export VMIG_INTERPOSER=$ROOT/$B/tests/soft/libstub-interposer.so
	SOFT=$VMIG_STATE_DIR/soft

	check sim-reset 0 sim reset rtx-4090 h200 || return
	check soft-listing 0 --soft --summary :: 'Backend: soft' 'GPU 1: NVIDIA H200 .*\[soft\]' \
		'MIG: Disabled' || return
	check mig-on 0 -i 1 -mig 1 --soft :: '^Enabled MIG Mode for GPU' || return
	check hardware-untouched 0 --backend sim --summary :: 'GPU 1: NVIDIA H200' 'MIG: Disabled' || return
	check lgip-h200 0 mig --soft -i 1 -lgip :: 'MIG 3g\.71gb +9 +2/2 +69\.50' || return
	check cgi 0 mig --soft -i 1 -cgi 3g.71gb,1g.18gb -C :: \
		'Successfully created GPU instance ID +[0-9]+ on GPU +1 using profile MIG 3g\.71gb' \
		'Successfully created compute instance ID +0 on GPU +1 GPU instance ID +[0-9]+ using profile MIG 1g\.18gb' ||
		return
	check lgi 0 mig --soft -lgi :: 'MIG 3g\.71gb +9 ' 'MIG 1g\.18gb +19 ' || return
	check list-L 0 --soft -L :: '^  MIG 3g\.71gb +Device +0: \(UUID: MIG-' || return
	local big small mig_small
	big=$(gi_of 1 3g.71gb)
	small=$(gi_of 1 1g.18gb)
	mig_small=$("${VMIG[@]}" --soft -L | sed -n 's/^  MIG 1g\.18gb .*(UUID: \(MIG-[^)]*\))/\1/p')
	[ -n "$big" ] && [ -n "$small" ] && [ -n "$mig_small" ] || {
		fail instance-ids "could not read GI IDs or MIG UUID"
		return
	}

	# The top-level form finds the software partition first (docs/cli.md).
	check rg-top 0 -i 1 -gi "$big" -rg 60 :: \
		"Successfully set the compute share of GPU instance ID +$big on GPU +1 to 60%" || return
	check rg 0 mig --soft -i 1 -gi "$big" -rg 70 :: \
		"Successfully set the compute share of GPU instance ID +$big on GPU +1 to 70%" || return
	check rg-bad-value 2 mig --soft -i 1 -gi "$big" -rg 0 :: 'invalid compute share' || return
	check rg-needs-gi 2 mig --soft -i 1 -rg 50 :: 'needs -gi' || return
	check rg-unknown-gi 6 mig --soft -i 1 -gi 12 -rg 50 || return
	check soft-vs-backend 2 --soft --backend sim -L || return
	# The share policy (docs/soft.md): with -rg, alone (keeping the share), refused otherwise.
	check rg-policy 0 mig --soft -i 1 -gi "$big" -rg 70 --share-policy share :: \
		"Successfully set the compute share of GPU instance ID +$big on GPU +1 to 70% \\(share\\)" ||
		return
	check policy-alone 0 mig --soft -i 1 -gi "$big" --share-policy cap :: \
		"Successfully set the share policy of GPU instance ID +$big on GPU +1 to cap" || return
	check policy-top 0 -i 1 -gi "$big" --share-policy cap :: \
		"Successfully set the share policy of GPU instance ID +$big on GPU +1 to cap" || return
	check policy-bad 2 mig --soft -i 1 -gi "$big" --share-policy fair :: \
		"invalid share policy 'fair' \\(share or cap\\)" || return
	check policy-needs-rg 2 mig --soft -i 1 -lgi --share-policy cap :: \
		'option --share-policy is only used with -rg' || return
	check policy-twice 2 mig --soft -i 1 -gi "$big" --share-policy cap --share-policy share :: \
		'given twice' || return

	local uuid
	uuid=$("${VMIG[@]}" --soft -L | sed -n 's/^GPU 1: .*(UUID: \(GPU-[^)]*\)).*/\1/p')
	# Kept with the GI (the state's policy=), in its limits file and in its region (layout 3:
	# busy.policy at byte 24904, 1 = cap), where running programs read it.
	local region_policy
	region_policy=$(od -An -tu4 -j 24904 -N4 "$SOFT/acct/$uuid-gi$big" 2>/dev/null | tr -d ' ')
	if grep -q "^compute_policy cap\$" "$SOFT/acct/$uuid-gi$big.limits" &&
		grep -Eq "^gi .* id=$big .*policy=cap" "$SOFT/state" && [ "$region_policy" = 1 ]; then
		ok policy-stored
	else
		fail policy-stored "cap is not in the limits file, the state and the region ($region_policy)"
	fi
	check policy-back 0 mig --soft -i 1 -gi "$big" --share-policy share || return
	if grep -q "^compute_policy share\$" "$SOFT/acct/$uuid-gi$big.limits" &&
		! grep -Eq "^gi .* id=$big .*policy=" "$SOFT/state"; then
		ok policy-default-not-written
	else
		fail policy-default-not-written "share should be the limits file's and not in the state"
	fi
	check run-env 0 run -d "1:$big" -- env :: \
		"^VMIG_PARTITION=$uuid/gi$big\$" '^VMIG_MEM_LIMIT=74625056768$' \
		'^VMIG_COMPUTE_PCT=70$' "^VMIG_ACCOUNTING=$SOFT/acct/$uuid-gi$big\$" \
		"^CUDA_VISIBLE_DEVICES=$uuid\$" "^LD_PRELOAD=$VMIG_INTERPOSER\$" || return
	[ -f "$SOFT/acct/$uuid-gi$big" ] && [ -f "$SOFT/acct/$uuid-gi$big.limits" ] &&
		ok acct-files || fail acct-files "the GI's files are not in $SOFT/acct"
	# An accounting file the program could not use (here a FIFO in its place): the
	# interposer would fail closed, so vmig run refuses up front, saying why.
	mv "$SOFT/acct/$uuid-gi$big" "$TMP/acct.saved"
	if mkfifo "$SOFT/acct/$uuid-gi$big"; then
		check run-unusable-accounting 255 run -d "1:$big" -- env :: \
			"cannot use the instance's accounting file .*not a regular file" || return
		rm -f "$SOFT/acct/$uuid-gi$big"
	fi
	mv "$TMP/acct.saved" "$SOFT/acct/$uuid-gi$big"
	check run-children 0 run -d "$mig_small" -- sh -c 'sh -c env' :: \
		"^VMIG_PARTITION=$uuid/gi$small\$" '^VMIG_MEM_LIMIT=17179869184$' \
		'^VMIG_COMPUTE_PCT=12$' "^CUDA_VISIBLE_DEVICES=$uuid\$" || return
	# An LD_PRELOAD already set is kept after the interposer (not under ASan,
	# whose runtime must come first in every instrumented program).
	if ldd "${VMIG[-1]}" 2>/dev/null | grep -q libasan; then
		skip run-keeps-preload "vmig is built with ASan"
	else
		cp "$VMIG_INTERPOSER" "$TMP/other.so"
		LD_PRELOAD=$TMP/other.so check run-keeps-preload 0 run -d "1:$small:0" -- env :: \
			"^LD_PRELOAD=$VMIG_INTERPOSER:$TMP/other.so\$" || return
	fi
	check run-unknown 6 run -d 1:13 -- env :: "device '1:13': no such GPU instance" || return
	check run-unknown-mig 6 run -d MIG-00000000-0000-5000-8000-000000000000 -- env :: \
		'no MIG device has this UUID' || return
	check run-mig-prefix 0 run -d "${mig_small:0:12}" -- env :: \
		"^VMIG_PARTITION=$uuid/gi$small\$" || return
	check run-legacy 0 run -d "MIG-${uuid:0:12}/$small/0" -- env :: \
		"^VMIG_PARTITION=$uuid/gi$small\$" || return
	check run-whole-gpu 2 run -d 1 -- env :: "device '1' is a whole GPU" || return
	check run-bad-device 2 run -d 1:x -- env :: 'invalid device' || return
	check run-no-program 2 run -d "1:$big" :: 'no program given' || return
	check run-no-device 2 run -- env :: 'no device given' || return
	check run-missing-program 127 run -d "1:$big" -- /nonexistent/program :: 'cannot run' ||
		return
	VMIG_INTERPOSER=/nonexistent.so check run-no-interposer 6 run -d "1:$big" -- env :: \
		'VMIG_INTERPOSER' || return

	check mig-off-in-use 19 -i 1 -mig 0 --soft || return
	# One owner per GPU: hardware MIG is refused while software partitions are there.
	check hw-refused-under-soft 19 --backend sim -i 1 -mig 1 :: \
		'Unable to enable MIG Mode for GPU .*: In use by another client' \
		'has software partitions .*vmig -i 1 -mig 0 --soft' || return
	check dci 0 mig --soft -i 1 -dci :: 'Successfully destroyed compute instance' || return
	check dgi 0 mig --soft -i 1 -dgi :: "Successfully destroyed GPU instance ID +$big" || return
	check mig-off 0 -i 1 -mig 0 --soft :: '^Disabled MIG Mode for GPU' || return
	check run-after-destroy 6 run -d "1:$big" -- env || return

	# With the soft partitions gone, hardware MIG (the simulator's mode, which NVML
	# reports) may take the GPU; then soft MIG is refused there, saying why, and
	# `vmig run` on a real MIG instance only names the MIG device.
	check hw-mig-on 0 --backend sim -i 1 -mig 1 || return
	check hw-cgi 0 mig --backend sim -i 1 -cgi 1g.18gb -C || return
	check soft-refused-on-hw-mig 19 -i 1 -mig 1 --soft :: \
		'Unable to enable MIG Mode for GPU .*: In use by another client' \
		'MIG enabled in hardware.*vmig -i 1 -mig 0' || return
	check soft-off-on-hw-mig 0 --soft --summary :: 'GPU 1: NVIDIA H200' 'MIG: Disabled' || return
	local hw_gi
	hw_gi=$("${VMIG[@]}" mig --backend sim -i 1 -lgi | awk '$3 == "MIG" { print $6; exit }')
	check rg-top-hardware 3 -i 1 -gi "$hw_gi" -rg 50 :: 'is a hardware MIG instance' \
		'fixed by its profile' || return
	if [ "$MODE" = nvml ]; then
		check run-real-mig 0 run -d "1:$hw_gi" -- env :: \
			"^CUDA_VISIBLE_DEVICES=MIG-$uuid/$hw_gi/0\$" || return
		grep -q '^VMIG_PARTITION=' <<<"$OUT" && fail run-real-mig-no-limits "$OUT" ||
			ok run-real-mig-no-limits
	else
		# A simulated MIG instance: the MIG device's UUID, and a user record.
		check run-sim-mig 0 run -d "1:$hw_gi" -- env :: '^CUDA_VISIBLE_DEVICES=MIG-' || return
		grep -q '^VMIG_PARTITION=' <<<"$OUT" && fail run-sim-mig-no-limits "$OUT" ||
			ok run-sim-mig-no-limits
	fi
	check hw-dci 0 mig --backend sim -i 1 -dci || return
	check hw-dgi 0 mig --backend sim -i 1 -dgi || return

	# A GPU without MIG gets the derived geometry (docs/soft.md).
	if ! "${VMIG[@]}" -i 0 -mig 1 --soft >"$TMP/out" 2>"$TMP/err"; then
		if grep -q 'not in the catalogue\|unknown GPU model' "$TMP/err"; then
			skip derived-geometry "the state store does not resolve soft model keys yet"
		else
			fail mig-on-rtx "$(cat "$TMP/err")"
		fi
		return
	fi
	ok mig-on-rtx
	check lgip-rtx 0 mig --soft -i 0 -lgip :: 'MIG 1g\.6gb +14 +4/4' 'MIG 2g\.12gb +5 +2/2' \
		'MIG 4g\.24gb +0 +1/1' || return
	check cgi-rtx 0 mig --soft -i 0 -cgi 1g.6gb,1g.6gb,2g.12gb -C || return
	check cgi-rtx-full 23 mig --soft -i 0 -cgi 1g.6gb || return
	local q
	q=$(gi_of 0 1g.6gb)
	check run-rtx 0 run -d "0:$q" -- env :: '^VMIG_MEM_LIMIT=6308233216$' \
		'^VMIG_COMPUTE_PCT=25$' || return
	# -mig N on software partitions, through the planner: 1g + 1g + 2g is already the
	# split into 3; the split into 2 keeps the 2g GI and replaces the two 1g ones.
	check mig-split-soft 0 -i 0 -mig 3 --soft :: '^All done\.$' || return
	check mig-split-soft-2 0 -i 0 --mig 2 --soft :: \
		'Successfully destroyed GPU instance ID +[0-9]+ from GPU +0' \
		'Successfully created GPU instance ID +[0-9]+ on GPU +0 using profile MIG 2g\.12gb' ||
		return
	rm -rf "$TMP"
}

MODE=nvml
vmig_suite "soft/$MODE"
if [ -e "$B/libnvidia-ml.so.1" ] && [ -x "$B/vmig" ]; then
	VMIG=(env "LD_LIBRARY_PATH=$ROOT/$B" "$ROOT/$B/vmig")
	scenario
else
	fail build "$B/vmig or $B/libnvidia-ml.so.1 is not built"
fi
exit $failed
