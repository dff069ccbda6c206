#!/usr/bin/env bash
# config-env.sh — what the case files cannot express for `vmig config`: the
# MIG_PARTED_* variables standing in for absent flags (and refused when
# malformed), a config read from stdin (-f -), and a hook's environment
# holding nothing of vmig's own (no PATH, HOME, USER; docs/config.md).
# Prints "ok - ..." / "FAIL - ..." lines for tests/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
VMIG=$PWD/$B/vmig
. tests/lib/lib.sh
[ -x "$VMIG" ] || { echo "FAIL - config-env: $VMIG not built"; exit 1; }
vmig_tmpdir work
export VMIG_STATE_DIR=$work/state VMIG_BACKEND=sim
unset "${!MIG_PARTED_@}"
WRAP=()
[ "${VMIG_VALGRIND:-0}" = 1 ] && WRAP=("${VMIG_VALGRIND_CMD[@]}")
NODE=tests/cli/cases/config-node.yaml
status=0

# check NAME WANT_RC WANT_OUT WANT_ERR [env NAME=VALUE...] -- ARGS...
check() {
	local name=$1 want_rc=$2 want_out=$3 want_err=$4 envs=() out err rc
	shift 4
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	out=$(env "${envs[@]}" "${WRAP[@]}" "$VMIG" "$@" 2>"$work/err" <"${STDIN:-/dev/null}")
	rc=$?
	err=$(cat "$work/err")
	if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ] && [ "$err" = "$want_err" ]; then
		echo "ok - config-env/$name"
	else
		echo "FAIL - config-env/$name: exit $rc (want $want_rc)"
		printf '  stdout: %s\n  want:   %s\n  stderr: %s\n  want:   %s\n' "$out" "$want_out" \
			"$err" "$want_err"
		status=1
	fi
}

"$VMIG" sim reset h100-80gb a100-40gb rtx-4090 >/dev/null || exit 2
APPLIED="Selected MIG configuration currently applied"
check file-and-label 0 "$APPLIED" "" \
	MIG_PARTED_CONFIG_FILE=$NODE MIG_PARTED_SELECTED_CONFIG=disabled -- config assert
check flags-win 1 "" "vmig: Assertion failure: selected configuration not currently applied" \
	MIG_PARTED_CONFIG_FILE=/nonexistent MIG_PARTED_SELECTED_CONFIG=disabled -- \
	config assert -f $NODE -c enabled
check valid-config 0 "Selected MIG configuration is valid" "" \
	MIG_PARTED_VALID_CONFIG=true -- config assert -f $NODE -c layout
check valid-config-false 1 "" "vmig: Assertion failure: selected configuration not currently applied" \
	MIG_PARTED_VALID_CONFIG=0 -- config assert -f $NODE -c layout
check mode-only-bad 2 "" "vmig: invalid MIG_PARTED_MODE_CHANGE_ONLY 'yes' (true or false)" \
	MIG_PARTED_MODE_CHANGE_ONLY=yes -- config assert -f $NODE -c layout
check skip-reset-bad 2 "" "vmig: invalid MIG_PARTED_SKIP_RESET 'maybe' (true or false)" \
	MIG_PARTED_SKIP_RESET=maybe -- config apply -f $NODE -c disabled
check empty-is-unset 0 "MIG configuration applied successfully" "" \
	MIG_PARTED_SKIP_RESET= MIG_PARTED_HOOKS_FILE= -- config apply -f $NODE -c disabled
check format 0 "$("$VMIG" config export -o json)" "" \
	MIG_PARTED_OUTPUT_FORMAT=json -- config export
check format-bad 2 "" "vmig: invalid output format 'xml' (yaml or json)" \
	MIG_PARTED_OUTPUT_FORMAT=xml -- config export
check label 0 "$("$VMIG" config export -l mine)" "" \
	MIG_PARTED_CONFIG_LABEL=mine -- config export
# Variables of options a command does not take are not read.
check not-read 0 "$("$VMIG" config export)" "" \
	MIG_PARTED_SKIP_RESET=bogus MIG_PARTED_SELECTED_CONFIG=zz -- config export
STDIN=$NODE check stdin 0 "$APPLIED" "" -- config assert -f - -c disabled
STDIN=tests/cli/cases/config-bad-key.yaml check stdin-error 2 "" \
	"vmig: -:5:5: mig-configs.x[0]: unknown key 'mig-enable' (device-filter, devices, mig-enabled, mig-devices)" \
	-- config validate -f -

# A hook sees only its envs and the MIG_PARTED_* variables, whatever vmig's
# environment holds; MIG_PARTED_DEBUG=1 stands for -d.
cat >"$work/hooks.yaml" <<HOOKS
version: v1
hooks:
  apply-start:
  - command: sh
    args: ["-c", "env | grep -v '^PWD=' | sort"]
    envs: {ONLY: this}
HOOKS
check hook-env 0 "MIG_PARTED_CONFIG_FILE=$NODE
MIG_PARTED_HOOKS_FILE=$work/hooks.yaml
MIG_PARTED_MODE_CHANGE_ONLY=false
MIG_PARTED_SELECTED_CONFIG=disabled
MIG_PARTED_SKIP_RESET=false
ONLY=this
MIG configuration applied successfully" "" \
	MIG_PARTED_DEBUG=1 MIG_PARTED_HOOKS_FILE=$work/hooks.yaml HOME=/root USER=someone \
	LEAK=yes -- config apply -f $NODE -c disabled
exit $status
