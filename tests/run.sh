#!/usr/bin/env bash
# run.sh — runs test suites (programs or .sh scripts) given as arguments and
# adds up their "ok - ", "FAIL - " and "skip - " lines.  A suite that exits
# non-zero without printing a FAIL line counts as one failure.  Each suite's
# summary line gives its wall time, so a slow one shows in any CI log.  The
# last line is the total: "total: N passed, N failed, N skipped".
#
# VMIG_VALGRIND=1 runs compiled suites under valgrind (leaks are errors);
# scripts see it too and wrap the programs they start with the same command
# line (VMIG_VALGRIND_CMD of tests/lib/lib.sh).
#
# VMIG_TEST_JOBS suites run at once (default: the CPUs online, at most 4).
# Every suite keeps to a directory of its own, so they may overlap; a suite's
# lines are printed whole when it ends, in the order suites end.  A script
# with the line "# run.sh: alone" (one that checks times on the wall clock,
# or runs daemons and jobs of its own) runs with no other suite beside it.
set -u
cd "$(dirname "$0")/.." || exit 2
export B="${B:-build}"
# Changes wait at most VMIG_LOCK_TIMEOUT for the state's lock (docs/state.md): 5 s by
# default, which suites of many writers under valgrind or on a loaded machine can pass
# without anything being wrong.  Suites that test the bound set their own.
export VMIG_LOCK_TIMEOUT="${VMIG_LOCK_TIMEOUT:-300}"
. tests/lib/lib.sh
passed=0 failed=0 skipped=0

# Seconds since $1 (an $EPOCHREALTIME), to a tenth, without starting a program.
elapsed() {
	local a=${1/[.,]/} b=${EPOCHREALTIME/[.,]/}
	local d=$(((b - a) / 100000))
	echo "$((d / 10)).$((d % 10))"
}
jobs=${VMIG_TEST_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
case "$jobs" in
'' | *[!0-9]*) echo "run.sh: VMIG_TEST_JOBS='$jobs' is not a number" >&2 && exit 2 ;;
esac
[ "$jobs" -ge 1 ] || jobs=1
[ "$jobs" -le 4 ] || jobs=4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_one N SUITE: the suite, its output in $work/N.log, its status and time in $work/N.end.
run_one() {
	local n=$1 t=$2 start=$EPOCHREALTIME rc
	case "$t" in
	*.sh) bash "$t" >"$work/$n.log" 2>&1 ;;
	*)
		if [ "${VMIG_VALGRIND:-0}" = 1 ]; then
			"${VMIG_VALGRIND_CMD[@]}" --trace-children=no "$t" >"$work/$n.log" 2>&1
		else
			"$t" >"$work/$n.log" 2>&1
		fi
		;;
	esac
	rc=$?
	echo "$rc $(elapsed "$start")" >"$work/$n.tmp" && mv "$work/$n.tmp" "$work/$n.end"
}

# report N SUITE: add up a finished suite's lines and print them.
failed_names=()
report() {
	local n=$1 t=$2 log=$work/$1.log rc took p f s
	read -r rc took <"$work/$n.end"
	p=$(grep -c '^ok - ' "$log")
	f=$(grep -c '^FAIL - ' "$log")
	s=$(grep -c '^skip - ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL - $t: exited with status $rc" >>"$log"
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	if [ "$f" -ne 0 ]; then
		failed_names+=("$t")
		echo "=== $t: $p passed, $f failed, $s skipped ($took s)"
		cat "$log"
	else
		echo "=== $t: $p passed, $s skipped ($took s)"
		grep '^skip - ' "$log" || true
	fi
}

# alone SUITE: true for a script that must not share the machine with another suite.
alone() { [[ $1 == *.sh ]] && grep -qx '# run.sh: alone' "$1"; }

suites=("$@")
declare -A running=() # suite number -> PID
next=0 solo=0
while [ "$next" -lt "${#suites[@]}" ] || [ "${#running[@]}" -gt 0 ]; do
	while [ "$next" -lt "${#suites[@]}" ] && [ "${#running[@]}" -lt "$jobs" ] && [ "$solo" = 0 ]; do
		if alone "${suites[$next]}"; then
			[ "${#running[@]}" -eq 0 ] || break # it starts once the others end
			solo=1
		fi
		run_one "$next" "${suites[$next]}" &
		running[$next]=$!
		next=$((next + 1))
	done
	wait -n 2>/dev/null || :
	for n in "${!running[@]}"; do
		if [ -e "$work/$n.end" ]; then
			wait "${running[$n]}" 2>/dev/null
			unset "running[$n]"
			report "$n" "${suites[$n]}"
			[ "${#running[@]}" -gt 0 ] || solo=0
		elif ! kill -0 "${running[$n]}" 2>/dev/null; then
			[ -e "$work/$n.end" ] || echo "1 0.0" >"$work/$n.end" # the runner died
			unset "running[$n]"
			report "$n" "${suites[$n]}"
			[ "${#running[@]}" -gt 0 ] || solo=0
		fi
	done
done
if [ "${#failed_names[@]}" -ne 0 ]; then
	echo "failed suites: ${failed_names[*]}"
fi
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
