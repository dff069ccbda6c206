#!/usr/bin/env bash
# run.sh — the vmig command's test suite: every tests/cli/cases/*.case is a
# transcript, run in a fresh temporary state directory and compared byte for
# byte.  Usage: tests/cli/run.sh [CASE...]  (default: all cases).
#
# Case files (docs/cli.md, "Tests"):
#   # comment
#   @only sim            run this case only with these backends
#   % ARGS               a setup command: vmig ARGS must exit 0; output ignored
#   $ ARGS               a command under test (ARGS are split by the shell; the
#                        labels below, and LABEL~K for its first K characters, stand
#                        for the identities they replace in outputs)
#   LINE                 a line of its expected stdout
#   ! LINE               a line of its expected stderr
#   ~ LINE               a line its stdout must contain (then stdout is not compared whole)
#   ? N                  its expected exit status (default 0)
#
# GPU UUIDs, PCI bus ids and MIG device UUIDs of simulated GPUs are drawn at
# random, so the outputs are normalised before comparing: the UUID and bus id
# of the n-th GPU seen in the case (in index order) become GPU-<n> and
# <bus-n>, and the n-th MIG UUID seen in the outputs becomes MIG-<n>.  The
# same device keeps its name through the whole case, so a MIG UUID that
# changes between two listings is a failure.
#
# The suite runs several times per CI pass (sim, nvml, ASan, valgrind), so
# the bookkeeping around each command is kept to builtins: the case is parsed
# into arrays, outputs are read into variables and normalised with parameter
# expansion, and the only programs started per step are the command itself,
# the GPU listing after a `sim` command (the only commands that add, remove
# or replace GPUs), and one md5sum before and after a step that must leave
# the state untouched.  Anything else forks only to report a failure.
#
# Environment: B (build directory, default build), VMIG_TEST_BACKEND (sim by
# default; nvml runs every case through our libnvidia-ml.so.1), VMIG_VALGRIND=1
# (commands under test run under valgrind; errors exit 99).
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
VMIG=${VMIG_BIN:-$PWD/$B/vmig}
BACKEND=${VMIG_TEST_BACKEND:-sim}
CASES_DIR=tests/cli/cases
# The default table starts with the date; a fixed one makes it comparable
# (the reproducible-output convention, docs/layouts.md).
export SOURCE_DATE_EPOCH=1771347518 TZ=UTC
[ -x "$VMIG" ] || { echo "FAIL - cli: $VMIG not built"; exit 1; }
# shellcheck source=tests/lib/lib.sh
. tests/lib/lib.sh

# The state directory is walked by a glob (sorted, hidden files included).
shopt -s globstar dotglob nullglob

declare -A GPU_LABEL BUS_LABEL MIG_LABEL
NGPU_LABELS=0 NMIG_LABELS=0
MIG_RE='MIG-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
NL=$'\n'

# Learn the UUID and bus id of every GPU in the store (by index), once each.
learn_gpus() {
	local uuid bus
	VMIG_BACKEND=sim "$VMIG" --query-gpu=index,uuid,pci.bus_id \
		--format=csv,noheader >"$tmp/gpus" 2>/dev/null
	while IFS=', ' read -r _ uuid bus; do
		[[ $uuid == GPU-* ]] || continue
		if [ -z "${GPU_LABEL[$uuid]:-}" ]; then
			GPU_LABEL[$uuid]="GPU-<$NGPU_LABELS>"
			BUS_LABEL[$bus]="<bus-$NGPU_LABELS>"
			NGPU_LABELS=$((NGPU_LABELS + 1))
		fi
	done <"$tmp/gpus"
}

# Read a file whole into the variable named $1, byte for byte.  A NUL byte
# (which no expected output can hold) stops the read early: returns 1 then.
# shellcheck disable=SC2034 # into is a name reference: it sets the caller's variable
slurp() {
	local -n into=$1
	into=
	! IFS= read -r -d '' into <"$2"
}

# Replace the identities in the variable named $1 by their labels: GPU UUIDs,
# then bus ids, then MIG UUIDs, each new MIG UUID getting the next label in
# the order it appears.
normalise() {
	local -n text=$1
	local key m
	for key in "${!GPU_LABEL[@]}"; do text=${text//"$key"/"${GPU_LABEL[$key]}"}; done
	for key in "${!BUS_LABEL[@]}"; do text=${text//"$key"/"${BUS_LABEL[$key]}"}; done
	while [[ $text =~ $MIG_RE ]]; do
		m=${BASH_REMATCH[0]}
		if [ -z "${MIG_LABEL[$m]:-}" ]; then
			MIG_LABEL[$m]="MIG-<$NMIG_LABELS>"
			NMIG_LABELS=$((NMIG_LABELS + 1))
		fi
		text=${text//"$m"/"${MIG_LABEL[$m]}"}
	done
}

# Split a command line written with labels into argv, with the real identities:
# GPU-<n>, <bus-n> and the MIG-<n> seen so far; LABEL~K is the first K
# characters of the identity (a UUID prefix).
split_args() {
	local s=$1 key id pre
	for key in "${!GPU_LABEL[@]}"; do s=${s//"${GPU_LABEL[$key]}"/$key}; done
	for key in "${!BUS_LABEL[@]}"; do s=${s//"${BUS_LABEL[$key]}"/$key}; done
	for key in "${!MIG_LABEL[@]}"; do s=${s//"${MIG_LABEL[$key]}"/$key}; done
	while [[ $s =~ ((GPU|MIG)-[0-9a-f-]{36})~([0-9]+) ]]; do
		id=${BASH_REMATCH[1]} pre=${BASH_REMATCH[3]}
		s=${s//"${BASH_REMATCH[0]}"/${id:0:pre}}
	done
	eval "argv=($s)"
}

# Checksums of the state directory's files (not the lock files) into $sum.
state_sum() {
	local f files=()
	for f in "$VMIG_STATE_DIR"/**; do
		[[ -f $f && ${f##*/} != lock && $f != *.lock ]] && files+=("$f")
	done
	sum=
	[ ${#files[@]} -eq 0 ] || sum=$(md5sum -- "${files[@]}" 2>/dev/null)
}

# A difference between what a step wanted and what it got, as diff lines.
report_diff() {
	local what=$1 want=$2 got=$3
	echo "# step $n (\$ $args): $what differs (-want +got)"
	printf '%s' "$want" >"$tmp/want"
	printf '%s' "$got" >"$tmp/got"
	diff "$tmp/want" "$tmp/got" | sed 's/^/#   /'
}

# Run step $n; report a mismatch on stdout (as diff lines) and return 1.
run_step() {
	local n=$1 args=$2 want_rc=$3 argv rc out err sum before='' after='' line
	local refused=0 ok=0 whole
	split_args "$args"
	# A refused command line (only a message on stderr) must not change the state.
	if [ "$want_rc" != 0 ] && [ -z "${WANT_OUT[$n]}" ]; then
		refused=1
		state_sum
		before=$sum
	fi
	VMIG_BACKEND=$BACKEND "${WRAP[@]}" "$VMIG" "${argv[@]}" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $refused = 1 ]; then
		state_sum
		after=$sum
	fi
	[[ " ${argv[*]} " == *" sim "* ]] && learn_gpus
	if ! slurp out "$tmp/out"; then
		echo "# step $n (\$ $args): stdout holds a NUL byte"
		ok=1
	fi
	if ! slurp err "$tmp/err"; then
		echo "# step $n (\$ $args): stderr holds a NUL byte"
		ok=1
	fi
	normalise out
	normalise err
	if [ -n "${HAS_MODE[$n]:-}" ]; then
		# Only these lines are required (listings of data that grows, such as the catalogue).
		whole=$NL$out
		[[ $whole == *"$NL" ]] || whole+=$NL
		while IFS= read -r line; do
			if [[ $whole != *"$NL$line$NL"* ]]; then
				echo "# step $n (\$ $args): stdout lacks the line: $line"
				ok=1
			fi
		done <<<"${WANT_HAS[$n]%"$NL"}"
	elif [[ $out != "${WANT_OUT[$n]}" ]]; then
		report_diff stdout "${WANT_OUT[$n]}" "$out"
		ok=1
	fi
	if [[ $err != "${WANT_ERR[$n]}" ]]; then
		report_diff stderr "${WANT_ERR[$n]}" "$err"
		ok=1
	fi
	if [ "$rc" != "$want_rc" ]; then
		echo "# step $n (\$ $args): exit status $rc, want $want_rc"
		ok=1
	fi
	if [ $refused = 1 ] && [ "$before" != "$after" ]; then
		echo "# step $n (\$ $args): refused, but the state changed"
		ok=1
	fi
	return $ok
}

run_setup() {
	local args=$1 argv
	split_args "$args"
	if ! VMIG_BACKEND=$BACKEND "$VMIG" "${argv[@]}" >/dev/null 2>"$tmp/err"; then
		echo "# setup % $args failed: $(head -c 300 "$tmp/err")"
		return 1
	fi
	[[ " ${argv[*]} " == *" sim "* ]] && learn_gpus
	return 0
}

# Parse a case into the step list and WANT_OUT, WANT_ERR, WANT_HAS (by step); run it.
run_case() {
	local file=$1 line n=0 kinds=() args=() rcs=() only=""
	WANT_OUT=() WANT_ERR=() WANT_HAS=() HAS_MODE=()
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in
		'#'*) ;;
		'@only '*) only=${line#@only } ;;
		'% '*) kinds+=(setup) args+=("${line#% }") rcs+=(0) ;;
		'$ '*)
			kinds+=(cmd) args+=("${line#\$ }") rcs+=(0)
			n=$((${#kinds[@]} - 1))
			WANT_OUT[n]='' WANT_ERR[n]=''
			;;
		'? '*) rcs[n]=${line#? } ;;
		'~ '*) WANT_HAS[n]+=${line#\~ }$NL HAS_MODE[n]=1 ;;
		'! '*) WANT_ERR[n]+=${line#! }$NL ;;
		'!') WANT_ERR[n]+=$NL ;;
		*) WANT_OUT[n]+=$line$NL ;;
		esac
	done <"$file"
	if [ -n "$only" ] && [[ " $only " != *" $BACKEND "* ]]; then
		return 2
	fi
	local k status=0
	for k in "${!kinds[@]}"; do
		if [ "${kinds[$k]}" = setup ]; then
			run_setup "${args[$k]}" || return 1
		else
			run_step "$k" "${args[$k]}" "${rcs[$k]}" || status=1
		fi
	done
	return $status
}

WRAP=()
[ "${VMIG_VALGRIND:-0}" = 1 ] && WRAP=("${VMIG_VALGRIND_CMD[@]}")

# Run case $1 in directory $2: its verdict, and the report of a failure,
# into $2/result.
run_one() {
	local c=$1 name report=
	tmp=$2
	name=${c##*/}
	name=${name%.case}
	export VMIG_STATE_DIR=$tmp/state
	GPU_LABEL=() BUS_LABEL=() MIG_LABEL=()
	NGPU_LABELS=0 NMIG_LABELS=0
	run_case "$c" >"$tmp/report"
	case $? in
	0) echo "ok - cli/$name" ;;
	2) echo "skip - cli/$name: not for the $BACKEND backend" ;;
	*)
		echo "FAIL - cli/$name"
		slurp report "$tmp/report"
		printf '%s' "$report"
		;;
	esac >"$tmp/result"
}

cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=("$CASES_DIR"/*.case)
# The cases are independent, so they run JOBS at a time (one per CPU by
# default, VMIG_TEST_JOBS to choose): worker w takes cases w, w + JOBS, ...
# Under valgrind, where each command costs a CPU-second, this halves the
# suite's time on two cores.  Results are printed in case order.
JOBS=${VMIG_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || JOBS=1
# Every case gets a directory of its own (its state, outputs and report),
# all made by one mkdir and removed together at the end.
vmig_tmpdir top
dirs=()
for i in "${!cases[@]}"; do dirs+=("$top/$i/state"); done
mkdir -p "${dirs[@]}" || exit 2
for ((w = 0; w < JOBS; w++)); do
	(
		for ((i = w; i < ${#cases[@]}; i += JOBS)); do
			run_one "${cases[i]}" "$top/$i"
		done
	) &
done
wait
failed=0
for i in "${!cases[@]}"; do
	if ! slurp result "$top/$i/result" || [ -z "$result" ]; then
		result="FAIL - cli/${cases[i]}: no result"$NL
	fi
	printf '%s' "$result"
	[[ $result == FAIL* ]] && failed=1
done
exit $failed
