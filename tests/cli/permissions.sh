#!/usr/bin/env bash
# permissions.sh — a user without write access to the state directory gets
# nvidia-smi's "Insufficient Permissions" messages and exit status 4, and
# the state stays as it was (docs/layouts.md, "Permissions").  The commands
# run as a user other than root: root writes whatever the mode bits say, so
# as root the script drops to the user nobody with setpriv (or runuser); a
# non-root runner needs no switch, and a root runner without either tool
# skips, saying why.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
VMIG=$PWD/$B/vmig
. tests/lib/lib.sh
vmig_tmpdir T
chmod 755 "$T"
S=$T/state
export VMIG_STATE_DIR=$S VMIG_BACKEND=sim

# As whom the refused commands run.
AS=()
if [ "$(id -u)" = 0 ]; then
	if command -v setpriv >/dev/null; then
		AS=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
	elif command -v runuser >/dev/null; then
		AS=(runuser -u nobody --)
	else
		echo "skip - cli-perm: running as root, and neither setpriv nor runuser can drop to another user"
		exit 0
	fi
fi
WRAP=()
[ "${VMIG_VALGRIND:-0}" = 1 ] && WRAP=("${VMIG_VALGRIND_CMD[@]}")

"$VMIG" sim reset a100-40gb h100-80gb >/dev/null || exit 1
"$VMIG" -i 1 -mig 1 >/dev/null || exit 1
"$VMIG" mig -i 1 -cgi 19 -C >/dev/null || exit 1
chmod -R a+rX,a-w "$S"
sum() { md5sum "$S"/* 2>/dev/null | grep -v ' .*lock$'; }
before=$(sum)

# check NAME WANT_STATUS EXPECTED_STDOUT -- ARGS...
check() {
	local name=$1 want=$2 expect=$3
	shift 4
	local out rc
	out=$(env VMIG_STATE_DIR="$S" VMIG_BACKEND=sim "${AS[@]}" "${WRAP[@]}" "$VMIG" "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ] || [ "$out" != "$expect" ]; then
		echo "FAIL - cli-perm/$name"
		echo "# want status $want and: $expect"
		echo "# got status $rc and: $out"
		return
	fi
	if [ "$(sum)" != "$before" ]; then
		echo "FAIL - cli-perm/$name: the state changed"
		return
	fi
	echo "ok - cli-perm/$name"
}

check mig-enable 4 "Unable to enable MIG Mode: Insufficient Permissions" -- -mig 1
check mig-disable 4 "Unable to disable MIG Mode: Insufficient Permissions" -- -i 0 -mig 0
check pm 4 "Unable to set persistence mode: Insufficient Permissions" -- -pm 0
check lgi 4 "Failed to display GPU instances: Insufficient Permissions" -- mig -lgi
check lci 4 "Failed to display compute instances: Insufficient Permissions" -- mig -lci
check cgi 4 "Unable to create a GPU instance on GPU  1 using profile 19: Insufficient Permissions
Failed to create GPU instances: Insufficient Permissions" -- mig -i 1 -cgi 19
check dci 4 "Unable to destroy compute instance ID  0 from GPU  1 GPU instance ID 13: Insufficient Permissions
Failed to destroy compute instances: Insufficient Permissions" -- mig -i 1 -dci -gi 13
# Reading is open to everyone: profiles, -L, the query and the table.
check lgip-reads 0 "$("$VMIG" mig -i 1 -lgip)" -- mig -i 1 -lgip
check query-reads 0 "Disabled
Enabled" -- --query-gpu=mig.mode.current --format=csv,noheader
