# shellcheck shell=bash
# lib.sh — shell helpers shared by the test scripts and benchmarks, sourced
# from the repository root (". tests/lib/lib.sh"), never run.  Each helper
# was copied between scripts before; one copy here keeps them alike.
#
#   vmig_tmpdir VAR          VAR names a fresh temporary directory, removed
#                            when the script exits (any number of them)
#   "${VMIG_VALGRIND_CMD[@]}" PROG ARGS...
#                            PROG under valgrind as `make valgrind` runs it:
#                            any error or leak exits 99
#   vmig_san_preload LIB     prints the ASan runtime when LIB was built with
#                            the sanitizers (an uninstrumented program such
#                            as python3 must preload it first), else nothing
#   vmig_wait_for FILE PATTERN SECONDS
#                            true once FILE has a line matching PATTERN
#                            (grep -E), false after SECONDS
#   vmig_stop PID...         SIGTERM to each, then SIGKILL to those still
#                            alive after 10 s (daemons a test started)
#   vmig_suite NAME          the suite's lines: `ok CHECK` prints
#                            "ok - NAME/CHECK", `fail CHECK WHY` prints
#                            "FAIL - NAME/CHECK: WHY" and sets failed=1
#                            (set to 0 here); VMIG_SUITE may change later
#   vmig_need_built FILE...  a FAIL line and exit 1 for the first FILE that
#                            does not exist (the suite needs make's output)

# Leaks of every kind that can be ours are errors; valgrind's own exit status
# 99 tells them apart from the program's.
# shellcheck disable=SC2034,SC2054 # used by the scripts; the commas are valgrind's
# tests/valgrind.supp names the one report that is glibc's, not ours.
VMIG_VALGRIND_CMD=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99
	"--suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/valgrind.supp")

VMIG_TMPDIRS=()
vmig_tmpdir() {
	local -n vmig_tmpdir_var=$1
	vmig_tmpdir_var=$(mktemp -d "${TMPDIR:-/tmp}/vmig-test-XXXXXX") || exit 2
	VMIG_TMPDIRS+=("$vmig_tmpdir_var")
	# One trap for all of them; set again, it stays the same.
	trap 'rm -rf "${VMIG_TMPDIRS[@]}"' EXIT
}

vmig_san_preload() {
	if readelf -d "$1" 2>/dev/null | grep -q 'libasan'; then
		${CC:-cc} -print-file-name=libasan.so
	fi
}

vmig_wait_for() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

vmig_stop() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null; done
	for p in "$@"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
}

vmig_suite() {
	VMIG_SUITE=$1
	failed=0
}
ok() { echo "ok - $VMIG_SUITE/$1"; }
fail() {
	echo "FAIL - $VMIG_SUITE/$1: $2"
	failed=1
}

vmig_need_built() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || {
			fail build "$f is not built"
			exit 1
		}
	done
}
