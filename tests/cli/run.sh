#!/usr/bin/env bash
# run.sh — the vmig command's test suite: every tests/cli/cases/*.case is a
# transcript, run in a fresh temporary state directory and compared byte for
# byte.  Usage: tests/cli/run.sh [CASE...]  (default: all cases).
#
# Case files (docs/cli.md, "Tests"):
#   # comment
#   @only sim            run this case only with these backends
#   % ARGS               a setup command: vmig ARGS must exit 0; output ignored
#   $ ARGS               a command under test (ARGS are split by the shell)
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
# Environment: B (build directory, default build), VMIG_TEST_BACKEND (sim by
# default; nvml runs every case through our libnvidia-ml.so.1), VMIG_VALGRIND=1
# (commands under test run under valgrind; errors exit 99).
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
VMIG=${VMIG_BIN:-$PWD/$B/vmig}
BACKEND=${VMIG_TEST_BACKEND:-sim}
CASES_DIR=tests/cli/cases
[ -x "$VMIG" ] || { echo "FAIL - cli: $VMIG not built"; exit 1; }

WRAP=()
if [ "${VMIG_VALGRIND:-0}" = 1 ]; then
	WRAP=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible
		--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99)
fi

declare -A GPU_LABEL BUS_LABEL MIG_LABEL
NGPU_LABELS=0 NMIG_LABELS=0

# Learn the UUID and bus id of every GPU in the store (by index), once each.
learn_gpus() {
	local idx uuid bus
	while IFS=', ' read -r idx uuid bus; do
		[[ $uuid == GPU-* ]] || continue
		if [ -z "${GPU_LABEL[$uuid]:-}" ]; then
			GPU_LABEL[$uuid]="GPU-<$NGPU_LABELS>"
			BUS_LABEL[$bus]="<bus-$NGPU_LABELS>"
			NGPU_LABELS=$((NGPU_LABELS + 1))
		fi
	done < <(VMIG_BACKEND=sim "$VMIG" --query-gpu=index,uuid,pci.bus_id \
		--format=csv,noheader 2>/dev/null)
}

# Replace the identities in a file by their labels.
normalise() {
	local f=$1 key m script=""
	for key in "${!GPU_LABEL[@]}"; do script+="s/$key/${GPU_LABEL[$key]}/g;"; done
	for key in "${!BUS_LABEL[@]}"; do script+="s/${key//./\\.}/${BUS_LABEL[$key]}/g;"; done
	for m in $(grep -oE 'MIG-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$f"); do
		if [ -z "${MIG_LABEL[$m]:-}" ]; then
			MIG_LABEL[$m]="MIG-<$NMIG_LABELS>"
			NMIG_LABELS=$((NMIG_LABELS + 1))
		fi
	done
	for key in "${!MIG_LABEL[@]}"; do script+="s/$key/${MIG_LABEL[$key]}/g;"; done
	[ -n "$script" ] && sed -i "$script" "$f"
	return 0
}

# Put the real identities back into a command line written with labels.
denormalise() {
	local s=$1 key
	for key in "${!GPU_LABEL[@]}"; do s=${s//"${GPU_LABEL[$key]}"/$key}; done
	for key in "${!BUS_LABEL[@]}"; do s=${s//"${BUS_LABEL[$key]}"/$key}; done
	printf '%s' "$s"
}

state_sum() {
	find "$VMIG_STATE_DIR" -type f ! -name '*.lock' ! -name 'lock' -print0 | sort -z |
		xargs -0 -r md5sum 2>/dev/null
}

# Run one step; report a mismatch on stdout (as diff lines) and return 1.
run_step() {
	local tmp=$1 n=$2 args=$3 want_rc=$4 argv rc before after
	eval "argv=($(denormalise "$args"))"
	before=$(state_sum)
	VMIG_BACKEND=$BACKEND "${WRAP[@]}" "$VMIG" "${argv[@]}" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	after=$(state_sum)
	learn_gpus
	normalise "$tmp/out"
	normalise "$tmp/err"
	local ok=0 line
	if [ -e "$tmp/want_has.$n" ]; then
		# Only these lines are required (listings of data that grows, such as the catalogue).
		while IFS= read -r line; do
			if ! grep -qxF -- "$line" "$tmp/out"; then
				echo "# step $n (\$ $args): stdout lacks the line: $line"
				ok=1
			fi
		done <"$tmp/want_has.$n"
	elif ! cmp -s "$tmp/out" "$tmp/want_out.$n"; then
		echo "# step $n (\$ $args): stdout differs (-want +got)"
		diff "$tmp/want_out.$n" "$tmp/out" | sed 's/^/#   /'
		ok=1
	fi
	if ! cmp -s "$tmp/err" "$tmp/want_err.$n"; then
		echo "# step $n (\$ $args): stderr differs (-want +got)"
		diff "$tmp/want_err.$n" "$tmp/err" | sed 's/^/#   /'
		ok=1
	fi
	if [ "$rc" != "$want_rc" ]; then
		echo "# step $n (\$ $args): exit status $rc, want $want_rc"
		ok=1
	fi
	# A refused command line (only a message on stderr) must not change the state.
	if [ "$want_rc" != 0 ] && [ ! -s "$tmp/want_out.$n" ] && [ "$before" != "$after" ]; then
		echo "# step $n (\$ $args): refused, but the state changed"
		ok=1
	fi
	return $ok
}

run_setup() {
	local args=$1 argv
	eval "argv=($(denormalise "$args"))"
	if ! VMIG_BACKEND=$BACKEND "$VMIG" "${argv[@]}" >/dev/null 2>"$VMIG_STATE_DIR.err"; then
		echo "# setup % $args failed: $(head -c 300 "$VMIG_STATE_DIR.err")"
		return 1
	fi
	learn_gpus
}

# Parse a case into $tmp/want_out.N, want_err.N and the step list; run it.
run_case() {
	local file=$1 tmp=$2 line n=0 kinds=() args=() rcs=() only=""
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in
		'#'*) ;;
		'@only '*) only=${line#@only } ;;
		'% '*) kinds+=(setup) args+=("${line#% }") rcs+=(0) ;;
		'$ '*)
			kinds+=(cmd) args+=("${line#\$ }") rcs+=(0)
			n=$((${#kinds[@]} - 1))
			: >"$tmp/want_out.$n"
			: >"$tmp/want_err.$n"
			;;
		'? '*) rcs[$n]=${line#? } ;;
		'~ '*) printf '%s\n' "${line#\~ }" >>"$tmp/want_has.$n" ;;
		'! '*) printf '%s\n' "${line#! }" >>"$tmp/want_err.$n" ;;
		'!') printf '\n' >>"$tmp/want_err.$n" ;;
		*) printf '%s\n' "$line" >>"$tmp/want_out.$n" ;;
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
			run_step "$tmp" "$k" "${args[$k]}" "${rcs[$k]}" || status=1
		fi
	done
	return $status
}

failed=0
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=("$CASES_DIR"/*.case)
for c in "${cases[@]}"; do
	name=$(basename "$c" .case)
	tmp=$(mktemp -d)
	export VMIG_STATE_DIR=$tmp/state
	mkdir -p "$VMIG_STATE_DIR"
	GPU_LABEL=() BUS_LABEL=() MIG_LABEL=()
	NGPU_LABELS=0 NMIG_LABELS=0
	run_case "$c" "$tmp" >"$tmp/report"
	rc=$?
	if [ $rc = 0 ]; then
		echo "ok - cli/$name"
	elif [ $rc = 2 ]; then
		echo "skip - cli/$name: not for the $BACKEND backend"
	else
		echo "FAIL - cli/$name"
		cat "$tmp/report"
		failed=1
	fi
	rm -rf "$tmp"
done
exit $failed
