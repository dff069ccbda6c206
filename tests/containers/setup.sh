# shellcheck shell=bash
# setup.sh — what the container tests share, sourced from the repository
# root after tests/lib/lib.sh: a simulated node (an H100 in MIG mode with a
# 3g.40gb and a 1g.10gb instance, and an A100 without MIG) in a state
# directory of its own, the driver's mig-minors table for it, and stand-in
# device nodes made with mknod under $DEV (char major 195 for the GPUs, a
# major /proc/devices does not list for the capabilities), so that device
# nodes exist without a GPU.  Sets VMIG, RT, TMP, DEV, MINORS, KIND, MIG0,
# MIG1 (the MIG UUIDs of MIG devices 0:0 and 0:1) and exports what vmig
# reads.
VMIG=("$ROOT/$B/vmig")
RT=$ROOT/$B/vmig-container-runtime
vmig_tmpdir TMP
DEV=$TMP/dev
MINORS=$TMP/mig-minors
# A kind of this run's own, so that specs of parallel runs never conflict.
KIND=vmigtest$$.dev/gpu
export VMIG_BACKEND=sim VMIG_STATE_DIR=$TMP/state VMIG_SOFT_STATE_DIR=$TMP/soft
export VMIG_MIG_MINORS=$MINORS VMIG_DEV_ROOT=$DEV VMIG_CDI_KIND=$KIND

# The driver's table: every GPU minor 0-31, GI 0-14, CI 0-7.
awk 'BEGIN {
	print "config 1"; print "monitor 2"
	for (g = 0; g < 32; g++)
		for (i = 0; i < 15; i++) {
			b = 3 + 135 * g + 9 * i
			print "gpu" g "/gi" i "/access " b
			for (c = 0; c < 8; c++) print "gpu" g "/gi" i "/ci" c "/access " (b + 1 + c)
		}
}' >"$MINORS"

"${VMIG[@]}" sim reset h100-80gb a100-40gb >/dev/null &&
	"${VMIG[@]}" -i 0 -mig 1 >/dev/null &&
	"${VMIG[@]}" mig -i 0 -cgi 3g.40gb,1g.10gb -C >/dev/null || {
	echo "FAIL - containers/setup: cannot make the simulated GPUs"
	exit 1
}
mig_uuids() { "${VMIG[@]}" -L | grep -o 'MIG-[0-9a-f-]*'; }
MIG0=$(mig_uuids | sed -n 1p)
MIG1=$(mig_uuids | sed -n 2p)

# A char major no driver has, for the capability stand-ins.
CAPS_MAJOR=511
while grep -qE "^ *$CAPS_MAJOR " /proc/devices; do CAPS_MAJOR=$((CAPS_MAJOR - 1)); done

# Stand-in nodes for every node a spec names (make_nodes SPECFILE); mknod needs CAP_MKNOD.
make_nodes() {
	mkdir -p "$DEV/nvidia-caps" || return 1
	[ -e "$DEV/nvidiactl" ] || mknod -m 666 "$DEV/nvidiactl" c 195 255 || return 1
	local n
	for n in $(grep -o '"/dev/nvidia[0-9]*"' "$1" | tr -d '"' | sort -u); do
		[ -e "$DEV/${n#/dev/}" ] || mknod -m 666 "$DEV/${n#/dev/}" c 195 "${n#/dev/nvidia}" || return 1
	done
	for n in $(grep -o 'nvidia-cap[0-9][0-9]*' "$1" | sort -u); do
		[ -e "$DEV/nvidia-caps/$n" ] ||
			mknod -m 444 "$DEV/nvidia-caps/$n" c "$CAPS_MAJOR" "${n#nvidia-cap}" || return 1
	done
}
