#!/usr/bin/env bash
# doc-check.sh — runs every `vmig` command that README.md shows in its ```sh
# blocks, in the order the README gives them, on a fresh simulated state, and
# fails on the first one that exits non-zero (docs/cli.md, "Tests").  The
# point is that a reader who types the examples in order sees each of them
# work.  Usage: tests/doc-check.sh [MARKDOWN-FILE]  (default README.md).
#
# How a block line becomes commands: a trailing "# comment" is dropped, the
# line is split at ";" and "&&" outside quotes, and each piece that starts
# with the word vmig is run with $B/vmig.  Pieces that are not vmig commands
# (apt-get, make, python) are not run; each gets a "skip - " line saying so.
#
# The environment is a temporary VMIG_STATE_DIR and VMIG_SOFT_STATE_DIR,
# VMIG_BACKEND=sim (a command's --soft or --backend overrides it), and
# VMIG_NVML_LIBRARY=$B/libnvidia-ml.so.1, so the soft backend finds the
# simulated GPUs through vmig's own NVML library, as the README's section on
# software partitions says to do on a machine without a GPU.  `vmig run`
# takes $VMIG_BACKEND as the one backend to look in, so it runs without it,
# as a reader would, and looks in the soft backend first.
#
# Commands that cannot run as written are rewritten, and the rewrite is
# printed as a "# " line before the result:
#   MIG-<uuid>            becomes the first MIG UUID that `vmig --soft -L` (else
#                         `vmig -L`) lists at that point; none is a failure;
#   vmig run ... -- PROG  runs `true` in place of PROG and its arguments (the
#                         README's programs, such as a training script, are
#                         not part of the repository); `true` still starts
#                         inside the instance, with the interposer preloaded.
# Any other <placeholder> or [optional part] in a vmig command is a failure:
# give it a substitution here, or write the example so that it runs.
#
# Output: "ok - FILE:LINE: COMMAND", "FAIL - FILE:LINE: COMMAND (...)" with
# the command's output indented below, "skip - FILE:LINE: ..." (tests/run.sh
# counts them).  Environment: B (build directory, default build).
set -u
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
DOC=${1:-README.md}
VMIG=$PWD/$B/vmig
[ -x "$VMIG" ] || { echo "FAIL - doc-check: $VMIG is not built"; exit 1; }
[ -r "$DOC" ] || { echo "FAIL - doc-check: cannot read $DOC"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export VMIG_STATE_DIR=$work/state VMIG_SOFT_STATE_DIR=$work/soft
export VMIG_BACKEND=sim
export VMIG_NVML_LIBRARY=$PWD/$B/libnvidia-ml.so.1
unset VMIG_COMPUTE_MODE VMIG_INTERPOSER

# Under the sanitizer build the interposer that `vmig run` preloads needs the
# ASan runtime loaded first; `vmig run` keeps a runtime at the head of
# LD_PRELOAD, so it is put there for run commands (as tests/soft/inside.sh).
ASAN_RT=$(ldd "$VMIG" 2>/dev/null | awk '/libasan/ { print $3; exit }')
export ASAN_OPTIONS=detect_leaks=0:${ASAN_OPTIONS:-}

# Prints "LINENO<TAB>TEXT" for every line inside a ```sh block, without its
# trailing comment and surrounding blanks; blank and comment-only lines are
# left out.
block_lines() {
	awk '
		/^```sh[[:space:]]*$/ { inside = 1; next }
		/^```/ { inside = 0; next }
		inside {
			line = $0
			sub(/[[:space:]]+#.*$/, "", line)
			sub(/^[[:space:]]+/, "", line)
			sub(/[[:space:]]+$/, "", line)
			if (line != "" && substr(line, 1, 1) != "#")
				print NR "\t" line
		}' "$DOC"
}

# Splits $1 at ";" and "&&" that lie outside single or double quotes, one
# piece per output line, trimmed.
split_line() {
	local s=$1 piece="" q="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		if [ -n "$q" ]; then
			[ "$c" = "$q" ] && q=""
			piece+=$c
		elif [ "$c" = "'" ] || [ "$c" = '"' ]; then
			q=$c
			piece+=$c
		elif [ "$c" = ";" ]; then
			printf '%s\n' "$piece"
			piece=""
		elif [ "$c" = "&" ] && [ "${s:i+1:1}" = "&" ]; then
			printf '%s\n' "$piece"
			piece=""
			i=$((i + 1))
		else
			piece+=$c
		fi
	done
	printf '%s\n' "$piece"
}

first_mig_uuid() {
	{ "$VMIG" --soft -L 2>/dev/null; "$VMIG" -L 2>/dev/null; } |
		grep -o 'MIG-[0-9a-f]\{8\}-[0-9a-f-]\{27\}' | head -n 1
}

passed=0
# Runs one vmig command; returns non-zero (after its FAIL line) on failure.
run_one() {
	local where=$1 cmd=$2 shown=$2 uuid out rc
	local -a argv env=()
	if [[ $cmd == *"MIG-<uuid>"* ]]; then
		uuid=$(first_mig_uuid)
		if [ -z "$uuid" ]; then
			echo "FAIL - $where: $shown (no MIG device exists to stand for MIG-<uuid>)"
			return 1
		fi
		cmd=${cmd//MIG-<uuid>/$uuid}
		echo "# $where: MIG-<uuid> is $uuid"
	fi
	local placeholder='<[^>]*>' optional='\[[^]]*\]'
	if [[ $cmd =~ $placeholder ]] || [[ $cmd =~ $optional ]]; then
		echo "FAIL - $where: $shown (a placeholder or optional part that tests/doc-check.sh cannot run)"
		return 1
	fi
	eval "argv=($cmd)"
	if [ "${argv[1]:-}" = run ] || [ "${argv[2]:-}" = run ]; then
		local k n=${#argv[@]}
		for ((k = 0; k < n; k++)); do
			[ "${argv[k]}" = -- ] && break
		done
		if [ "$k" -ge "$n" ]; then
			echo "FAIL - $where: $shown (write vmig run examples with -- before the program)"
			return 1
		fi
		echo "# $where: runs true in place of: ${argv[*]:k+1}"
		argv=("${argv[@]:0:k+1}" true)
		env=(-u VMIG_BACKEND)
		[ -n "$ASAN_RT" ] && env+=("LD_PRELOAD=$ASAN_RT")
	fi
	argv[0]=$VMIG
	out=$(env "${env[@]}" "${argv[@]}" </dev/null 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "FAIL - $where: $shown (exit status $rc)"
		printf '%s\n' "$out" | sed 's/^/    /'
		return 1
	fi
	echo "ok - $where: $shown"
	passed=$((passed + 1))
}

while IFS=$'\t' read -r lineno line; do
	while IFS= read -r piece; do
		piece=$(printf '%s' "$piece" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
		[ -n "$piece" ] || continue
		case "$piece" in
		vmig | "vmig "*)
			run_one "$DOC:$lineno" "$piece" || exit 1
			;;
		*)
			echo "skip - $DOC:$lineno: not a vmig command: $piece"
			;;
		esac
	done < <(split_line "$line")
done < <(block_lines)

if [ "$passed" -eq 0 ]; then
	echo "FAIL - doc-check: no vmig command found in $DOC"
	exit 1
fi
