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
failed_names=()
for t in "$@"; do
	log=$(mktemp)
	start=$EPOCHREALTIME
	case "$t" in
	*.sh) bash "$t" >"$log" 2>&1 ;;
	*)
		if [ "${VMIG_VALGRIND:-0}" = 1 ]; then
			"${VMIG_VALGRIND_CMD[@]}" --trace-children=no "$t" >"$log" 2>&1
		else
			"$t" >"$log" 2>&1
		fi
		;;
	esac
	rc=$?
	took=$(elapsed "$start")
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
	rm -f "$log"
done
if [ "${#failed_names[@]}" -ne 0 ]; then
	echo "failed suites: ${failed_names[*]}"
fi
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
