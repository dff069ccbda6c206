#!/usr/bin/env bash
# k8s.sh — vmig-device-plugin against a stand-in kubelet (tests/k8s/kubelet.py,
# Debian's python3-grpcio), whose containers podman starts from the CDI names
# Allocate gives, as a CDI-enabled CRI runtime would (no kubelet runs
# offline on Debian bookworm).
#
# The node: the simulated H100 of tests/containers/setup.sh with a 3g.40gb
# and two 1g.10gb instances, and its A100 split in software (a 1g.5gb), the
# CDI spec kept current in /var/run/cdi (vmig cdi enable) and stand-in
# device nodes for it.  The stand-in kubelet removes the sockets of its
# directory, serves Registration on kubelet.sock and, for each
# registration, calls GetDevicePluginOptions and keeps ListAndWatch open,
# logging every list.  Checked: one resource per profile with the right
# count, all healthy; a -cgi, a -dgi, a health flip (a capability node
# removed and put back) and a vmig config apply (a new profile, a new
# resource) each reach ListAndWatch within a second; Allocate of two
# devices answers their CDI names and the environment, and the container
# podman starts from them sees exactly their nodes; a software partition's
# quota holds in its container to the byte; unknown device IDs, IDs of
# another resource, undecodable requests and unknown methods are gRPC
# errors and the plugin lives on; a restarted kubelet gets every resource
# registered again; SIGTERM removes the sockets and exits 0; a refused
# registration, a missing kubelet socket and one that is not a socket are
# one line and status 1.  Both daemons listen on unix sockets of the
# test's own, every wait is bounded, and they are stopped by PID.
# Skipped, saying why, where root, podman, Debian's python3-grpcio or
# protoc and its gRPC plugin are missing.
# It checks times on the wall clock: no other suite runs beside it.
# run.sh: alone
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
B=${B:-build}
. tests/lib/lib.sh
vmig_suite k8s
skip() {
	echo "skip - k8s: $1"
	exit 0
}
PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || skip "needs root (podman's rootful storage, mknod)"
for p in podman runc protoc grpc_python_plugin; do
	command -v $p >/dev/null || skip "$p is not installed (.ci/deps)"
done
[ -x /bin/busybox ] || skip "busybox-static is not installed"
$PY -c 'import grpc' 2>/dev/null || skip "Debian's python3-grpcio is not installed (.ci/deps)"
PLUGIN=$ROOT/$B/vmig-device-plugin
vmig_need_built "$PLUGIN" "$B/vmig" "$B/tests/containers/cuda_alloc" "$B/interpose/libvmig-cuda.so" \
	"$B/libnvidia-ml.so.1"

NAME=vmig-k8s-test-$$
. tests/containers/setup.sh
. tests/containers/podman-lib.sh
PIDS=()
stop_all() {
	vmig_stop "${PIDS[@]}"
	PIDS=()
}
trap 'stop_all; podman_cleanup' EXIT
podman_probe
n=0

# The stubs of the stand-in, from the plugin's own .proto files.
mkdir -p "$TMP/py"
protoc -Ik8s --python_out="$TMP/py" --grpc_out="$TMP/py" \
	--plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
	deviceplugin.proto deviceplugin_services.proto 2>"$TMP/err" ||
	{ fail stubs "protoc: $(cat "$TMP/err")"; exit 1; }
KUBELET=(env PYTHONPATH="$TMP/py" $PY "$ROOT/tests/k8s/kubelet.py")

# The node: two 1g.10gb beside setup.sh's, and a software partition on the A100.
export VMIG_NVML_LIBRARY=$ROOT/$B/libnvidia-ml.so.1 VMIG_INTERPOSER=$ROOT/$B/interpose/libvmig-cuda.so
{ "${VMIG[@]}" mig -i 0 -cgi 1g.10gb -C && "${VMIG[@]}" -i 1 -mig 1 --soft &&
	"${VMIG[@]}" mig --soft -i 1 -cgi 1g.5gb -C &&
	"${VMIG[@]}" cdi enable --output $SPECDIR && make_nodes "$SPEC"; } >"$TMP/setup.log" 2>&1 ||
	{ fail setup "$(tail -3 "$TMP/setup.log")"; exit 1; }
SOFT=$("${VMIG[@]}" --soft -L | grep -o 'MIG-[0-9a-f-]*' | tail -1)
R3=vmig.dev/mig-3g.40gb R1=vmig.dev/mig-1g.10gb RS=vmig.dev/mig-1g.5gb R2=vmig.dev/mig-2g.20gb
sock() { echo "${1/\//-}.sock"; }

KD=$TMP/kubelet
mkdir -p "$KD"
# start_kubelet LOG [--refuse RESOURCE]: the stand-in, serving within 10 s.
start_kubelet() {
	local log=$1
	shift
	"${KUBELET[@]}" serve "$KD" "$@" >"$log" 2>"$log.err" &
	KPID=$!
	PIDS+=($KPID)
	vmig_wait_for "$log" '^serving' 10 || { fail kubelet "not serving after 10 s: $(tail -3 "$log.err")"; exit 1; }
}
start_plugin() {
	"$PLUGIN" --kubelet-dir "$KD" "$@" >"$TMP/plugin.log" 2>&1 &
	PPID_=$!
	PIDS+=($PPID_)
}
# The last list the stand-in got for a resource: "N ID:HEALTH ...".
last_list() { grep "^list $2 " "$1" | tail -1 | cut -d' ' -f3-; }
# wait_list LOG RESOURCE PATTERN SECONDS: until its last list matches PATTERN (grep -E).
wait_list() {
	local i
	for ((i = 0; i < $4 * 20; i++)); do
		last_list "$1" "$2" | grep -qE -- "$3" && return 0
		sleep 0.05
	done
	return 1
}
ids() { last_list "$1" "$2" | tr ' ' '\n' | sed -n 's/:.*//p' | grep '^MIG-'; }

# ---- registration: one resource per profile ----
LOG=$TMP/kubelet1.log
start_kubelet "$LOG"
start_plugin
H='MIG-[0-9a-f-]*:Healthy'
if wait_list "$LOG" $R3 "^1 $H\$" 10 && wait_list "$LOG" $R1 "^2 $H $H\$" 10 &&
	wait_list "$LOG" $RS "^1 $H\$" 10; then
	regs=$(grep '^register ' "$LOG" | cut -d' ' -f2 | sort | tr '\n' ' ')
	if [ "$regs" != "$R1 $RS $R3 " ]; then
		fail one-resource-per-profile "registered: $regs"
	elif [ "$(grep -c '^options .* preferred=1 prestart=0$' "$LOG")" != 3 ] ||
		[ "$(grep -c "^register .* v1beta1 preferred=1 prestart=0\$" "$LOG")" != 3 ]; then
		fail one-resource-per-profile "options: $(grep -E '^(options|register)' "$LOG")"
	elif [ "$(ids "$LOG" $RS)" != "$SOFT" ] || ! [ -S "$KD/$(sock $R3)" ]; then
		fail one-resource-per-profile "the software partition's ID or a socket: $(last_list "$LOG" $RS)"
	else
		ok one-resource-per-profile
	fi
else
	fail one-resource-per-profile "$(grep -E '^(register|list)' "$LOG") $(tail -5 "$TMP/plugin.log")"
	exit 1
fi

# ---- changes reach ListAndWatch within a second ----
out=$("${VMIG[@]}" mig -i 0 -cgi 1g.10gb -C)
gi=$(sed -n 's/.*GPU instance ID *\([0-9]*\) on GPU.*/\1/p' <<<"$out")
# The new instance is unhealthy until its capability nodes exist (a driver makes them;
# here the stand-ins), then healthy.
wait_list "$LOG" $R1 '^3 ' 1 && ok cgi-within-a-second ||
	fail cgi-within-a-second "last list: $(last_list "$LOG" $R1)"
make_nodes "$SPEC"
wait_list "$LOG" $R1 "^3 $H $H $H\$" 1 && ok new-instance-healthy-with-its-nodes ||
	fail new-instance-healthy-with-its-nodes "last list: $(last_list "$LOG" $R1)"
"${VMIG[@]}" mig -i 0 -gi "$gi" -dci >/dev/null && "${VMIG[@]}" mig -i 0 -gi "$gi" -dgi >/dev/null
wait_list "$LOG" $R1 "^2 $H $H\$" 1 && ok dgi-within-a-second ||
	fail dgi-within-a-second "last list: $(last_list "$LOG" $R1)"
# Health: a capability node of the 3g instance (GI 2: minor 3 + 9 * 2) goes and comes back.
rm "$DEV/nvidia-caps/nvidia-cap21"
if ! wait_list "$LOG" $R3 '^1 MIG-[0-9a-f-]*:Unhealthy$' 1; then
	fail health-flip "not unhealthy: $(last_list "$LOG" $R3)"
else
	make_nodes "$SPEC"
	wait_list "$LOG" $R3 "^1 $H\$" 1 && grep -q 'is unhealthy: device node .*nvidia-cap21 is missing' "$TMP/plugin.log" &&
		ok health-flip || fail health-flip "not healthy again: $(last_list "$LOG" $R3)"
fi

# ---- the kubelet's calls, in one run of the stand-in (one line of answer each) ----
read -r A1 A2 <<<"$(ids "$LOG" $R1 | tr '\n' ' ')"
G=MIG-00000000-0000-5000-8000-000000000000
S1=$(sock $R1)
"${KUBELET[@]}" batch "$KD" >"$TMP/calls" 2>&1 <<EOF
allocate $S1 $A1,$A2
allocate $(sock $RS) $SOFT
allocate $S1 $G
allocate $S1 $(ids "$LOG" $R3)
allocate $S1 ""
raw $S1 /v1beta1.DevicePlugin/Allocate 0aff
raw $S1 /v1beta1.DevicePlugin/Nope 00
preferred $S1 1 $A2,$A1
prestart $S1 $A1
allocate $S1 $A1
EOF
answer() { sed -n "$1p" "$TMP/calls"; }
answer 1 >"$TMP/alloc"
answer 2 >"$TMP/alloc-soft"
answer 10 >"$TMP/alloc-one"

# ---- Allocate: one device by its CDI name; two by their nodes, a container that sees them ----
# field FILE EXPR: a value of the answer's first container (python expression on c).
field() { $PY -c 'import json,sys; c=json.load(open(sys.argv[1]))["containers"][0]; print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
if [ "$(field "$TMP/alloc-one" '" ".join(c["cdi"])')" != "$KIND=$A1" ] ||
	[ "$(field "$TMP/alloc-one" 'c["envs"]')" != "{'CUDA_VISIBLE_DEVICES': '$A1'}" ] ||
	[ "$(field "$TMP/alloc-one" 'len(c["devices"])')" != 0 ]; then
	fail allocate-one "$(cat "$TMP/alloc-one")"
else
	ok allocate-one
fi
# Two: CDI would leave CUDA_VISIBLE_DEVICES to the last device's edits, so the nodes come as
# DeviceSpecs (read-write) with the list of both in the environment.
if [ "$(field "$TMP/alloc" '" ".join(c["cdi"])')" != "" ] ||
	[ "$(field "$TMP/alloc" 'c["envs"]')" != "{'CUDA_VISIBLE_DEVICES': '$A1,$A2'}" ] ||
	[ "$(field "$TMP/alloc" 'sorted({d[2] for d in c["devices"]})')" != "['rw']" ] ||
	[ "$(field "$TMP/alloc" 'len(c["devices"]) >= 6')" != True ]; then
	fail allocate-two "$(cat "$TMP/alloc")"
else
	ok allocate-two
fi
grep -q "Allocate: container 0 gets $A2 ([0-9]* device nodes)" "$TMP/plugin.log" &&
	ok allocate-two-logged || fail allocate-two-logged "$(grep Allocate "$TMP/plugin.log" | tail -3)"
# podman, as a CDI-enabled CRI runtime: the names and the nodes as --device, the environment
# as -e.
run_args() { # ANSWER-FILE: podman run options of the answer's first container
	$PY -c '
import json, sys
c = json.load(open(sys.argv[1]))["containers"][0]
print("\n".join(["--device\n" + d for d in c["cdi"]] +
                ["--device\n%s:%s:%s" % (h, p, m) for p, h, m in c["devices"]] +
                ["-e\n%s=%s" % kv for kv in c["envs"].items()]))' "$1"
}
mapfile -t OPTS < <(run_args "$TMP/alloc")
# What the two devices' CDI edits give: their nodes and the spec's common ones.
$PY - "$SPEC" "$A1" "$A2" >"$TMP/want" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
nodes = {n["path"] for n in spec["containerEdits"]["deviceNodes"]}
for d in spec["devices"]:
    if d["name"] in sys.argv[2:]:
        nodes |= {n["path"] for n in d["containerEdits"]["deviceNodes"]}
print("\n".join(sorted(nodes)))
PY
n=$((n + 1))
"${PODMAN[@]}" --runtime runc run --rm --name "$NAME-$n" "${RUNOPTS[@]}" "${OPTS[@]}" --rootfs "$R" \
	/bin/sh -c 'find /dev -name "nvidia*" ! -type d | sort; echo "CVD=$CUDA_VISIBLE_DEVICES"' \
	>"$TMP/out" 2>"$TMP/err"
rc=$?
cvd=$(sed -n 's/^CVD=//p' "$TMP/out")
if [ $rc -ne 0 ]; then
	fail container-sees-both "podman exited $rc: $(tail -2 "$TMP/err")"
elif ! diff "$TMP/want" <(grep -v '^CVD=' "$TMP/out") >"$TMP/diff" || [ "$(wc -l <"$TMP/want")" -lt 6 ]; then
	fail container-sees-both "$(tr '\n' ' ' <"$TMP/diff")"
elif [ "$cvd" != "$A1,$A2" ]; then
	fail container-sees-both "CUDA_VISIBLE_DEVICES=$cvd"
else
	ok "container-sees-both ($(grep -c nvidia-cap "$TMP/want") capability nodes, CUDA_VISIBLE_DEVICES=${cvd:0:12}...)"
fi

# ---- a software partition: its quota in the container ----
L=$(field "$TMP/alloc-soft" 'c["envs"]["VMIG_MEM_LIMIT"]')
if [ "$(field "$TMP/alloc-soft" '" ".join(c["cdi"])')" != "$KIND=$SOFT" ] || [ -z "$L" ] ||
	[ "$(field "$TMP/alloc-soft" 'c["envs"]["LD_PRELOAD"]')" != /usr/lib/vmig/libvmig-cuda.so ]; then
	fail allocate-soft "$(cat "$TMP/alloc-soft")"
else
	ok allocate-soft
	mapfile -t OPTS < <(run_args "$TMP/alloc-soft")
	alloc_mounts
	alloc_run --rm "${OPTS[@]}" -- $((L + 1)) "$L" 1
	rc=$?
	printf '%s\n' "free $L" "alloc $((L + 1)) oom" "alloc $L ok" "alloc 1 oom" "free 0" >"$TMP/want"
	if [ $rc -ne 0 ]; then
		fail soft-quota-in-container "podman exited $rc: $(tail -2 "$TMP/err") $(cat "$TMP/out")"
	elif ! diff "$TMP/want" "$TMP/out" >"$TMP/diff"; then
		fail soft-quota-in-container "$(tr '\n' ' ' <"$TMP/diff")"
	else
		ok soft-quota-in-container
	fi
fi

# ---- bad requests: gRPC errors, and the plugin lives on ----
# expect NAME LINE PATTERN: the answer on that line matches PATTERN (grep -E).
expect() { answer "$2" | grep -qE -- "$3" && ok "$1" || fail "$1" "$(answer "$2")"; }
expect allocate-unknown-id 3 "^error NOT_FOUND $R1: unknown device ID '$G'"
expect allocate-other-resource 4 "^error INVALID_ARGUMENT device $(ids "$LOG" $R3) is a $R3, not a $R1"
expect allocate-no-device 5 "^error INVALID_ARGUMENT $R1: container request 0 names no device"
expect allocate-undecodable 6 "^error INVALID_ARGUMENT $R1: cannot decode the AllocateRequest"
expect unknown-method 7 "^error UNIMPLEMENTED"
expect preferred-allocation 8 "^$A1\$"
expect prestart 9 '^ok$'
kill -0 $PPID_ 2>/dev/null && ok plugin-alive-after-bad-requests || fail plugin-alive-after-bad-requests "$(tail -3 "$TMP/plugin.log")"

# ---- vmig config apply: a new profile is a new resource; the others follow ----
cat >"$TMP/config.yaml" <<'EOF'
version: v1
mig-configs:
  k8s:
  - devices: [0]
    mig-enabled: true
    mig-devices:
      3g.40gb: 1
      1g.10gb: 1
      2g.20gb: 1
EOF
"${VMIG[@]}" config apply -f "$TMP/config.yaml" -c k8s >"$TMP/apply" 2>&1 || fail config-apply "$(cat "$TMP/apply")"
make_nodes "$SPEC"
wait_list "$LOG" $R1 "^1 $H\$" 1 && wait_list "$LOG" $R2 "^1 $H\$" 1 && ok config-apply-within-a-second ||
	fail config-apply-within-a-second "$R1: $(last_list "$LOG" $R1); $R2: $(last_list "$LOG" $R2)"

# ---- the kubelet restarts: every resource registers again ----
kill -9 $KPID
wait $KPID 2>/dev/null
LOG=$TMP/kubelet2.log
start_kubelet "$LOG"
if wait_list "$LOG" $R3 "^1 $H\$" 10 && wait_list "$LOG" $R1 "^1 $H\$" 10 &&
	wait_list "$LOG" $RS "^1 $H\$" 10 && wait_list "$LOG" $R2 "^1 $H\$" 10 &&
	[ "$(grep -c '^register ' "$LOG")" = 4 ]; then
	ok registers-again-after-kubelet-restart
else
	fail registers-again-after-kubelet-restart "$(grep -E '^(register|list)' "$LOG") $(tail -5 "$TMP/plugin.log")"
fi

# ---- SIGTERM: the sockets go, status 0 ----
kill -TERM $PPID_
for _ in $(seq 100); do kill -0 $PPID_ 2>/dev/null || break; sleep 0.05; done
wait $PPID_
rc=$?
left=$(find "$KD" -type s ! -name kubelet.sock)
[ $rc = 0 ] && [ -z "$left" ] && ok sigterm || fail sigterm "status $rc, sockets left: $left $(tail -3 "$TMP/plugin.log")"

# ---- a refused registration: one line, status 1 ----
kill -9 $KPID
wait $KPID 2>/dev/null
LOG=$TMP/kubelet3.log
start_kubelet "$LOG" --refuse $R3
start_plugin
for _ in $(seq 200); do kill -0 $PPID_ 2>/dev/null || break; sleep 0.05; done
wait $PPID_
rc=$?
line="vmig-device-plugin: $R3: the kubelet refused the registration: resource $R3 is registered by another plugin (gRPC status 2)"
[ $rc = 1 ] && grep -qxF "$line" "$TMP/plugin.log" && ok refused-registration ||
	fail refused-registration "status $rc: $(tail -3 "$TMP/plugin.log")"

# ---- a kubelet socket that is missing, or not a socket ----
mkdir -p "$TMP/nokubelet"
"$PLUGIN" --kubelet-dir "$TMP/nokubelet" >"$TMP/out" 2>&1
rc=$?
[ $rc = 1 ] && [ "$(cat "$TMP/out")" = "vmig-device-plugin: the kubelet's socket $TMP/nokubelet/kubelet.sock is missing: is the kubelet running? (--kubelet-dir)" ] &&
	ok kubelet-socket-missing || fail kubelet-socket-missing "status $rc: $(cat "$TMP/out")"
touch "$TMP/nokubelet/kubelet.sock"
"$PLUGIN" --kubelet-dir "$TMP/nokubelet" >"$TMP/out" 2>&1
rc=$?
[ $rc = 1 ] && [ "$(cat "$TMP/out")" = "vmig-device-plugin: $TMP/nokubelet/kubelet.sock is not a socket: not the kubelet's (--kubelet-dir)" ] &&
	ok kubelet-socket-not-a-socket || fail kubelet-socket-not-a-socket "status $rc: $(cat "$TMP/out")"

# ---- node labels: Node Feature Discovery's local feature file ----
mkdir -p "$TMP/features.d"
"${VMIG[@]}" k8s labels --output "$TMP/features.d/vmig" >"$TMP/out" 2>&1
if [ -s "$TMP/out" ] || [ "$(ls -A "$TMP/features.d")" != vmig ]; then
	fail labels-file "$(cat "$TMP/out") $(ls -A "$TMP/features.d")"
elif ! grep -qx 'nvidia.com/mig-1g.10gb.count=1' "$TMP/features.d/vmig" ||
	! grep -qx 'nvidia.com/mig-2g.20gb.count=1' "$TMP/features.d/vmig" ||
	! grep -qx 'nvidia.com/mig-1g.5gb.count=1' "$TMP/features.d/vmig" ||
	! grep -qx 'nvidia.com/mig.strategy=mixed' "$TMP/features.d/vmig"; then
	fail labels-file "$(cat "$TMP/features.d/vmig")"
else
	ok labels-file
fi
stop_all
exit $failed
