#!/usr/bin/env bash
# podman.sh — vmig's CDI specs and vmig-container-runtime with the real
# podman 4.3 and runc, on simulated MIG GPUs with stand-in device nodes
# (tests/containers/setup.sh) and a rootfs folder made from busybox-static
# (no registry).  A container given a MIG device, through --device KIND=NAME
# or through the runtime and NVIDIA_VISIBLE_DEVICES, sees exactly that
# device's nodes and CUDA_VISIBLE_DEVICES; a container naming no device is
# passed through with its config.json byte for byte; podman accepts every
# device of a spec (and the CDI JSON schema does); a spec follows a change
# of instances when regenerated, and in the same command when kept current
# (vmig cdi enable); a bad selector starts no container; a software
# partition given to a container holds its quota there to the byte, shares
# it exactly with a host process of the instance, and keeps the instance
# from being destroyed until the container is SIGKILLed.
# Skips, saying why, only where podman cannot start a container at all.
# The spec goes to /var/run/cdi (podman 4.3 reads no other directory) under
# a kind of this run's own, and is removed at the end with every container
# the test made.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
B=${B:-build}
. tests/lib/lib.sh
vmig_suite containers/podman
skip() {
	echo "skip - containers/podman: $1"
	exit 0
}
failed=0
[ "$(id -u)" = 0 ] || skip "needs root (podman's rootful storage, mknod)"
for p in podman runc; do command -v $p >/dev/null || skip "$p is not installed"; done
[ -x /bin/busybox ] || skip "busybox-static is not installed"
. tests/containers/setup.sh

NAME=vmig-cdi-test-$$
. tests/containers/podman-lib.sh
n=0

# prun [runtime options] -- [run options]: a container that prints what it sees.
SEE='find /dev -name "nvidia*" ! -type d | sort; echo "CVD=$CUDA_VISIBLE_DEVICES"; grep -E "^c (195|'$CAPS_MAJOR'):" /sys/fs/cgroup/devices/devices.list 2>/dev/null | sort'
prun() {
	local rt=(--runtime runc)
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		rt+=("$1")
		shift
	done
	shift
	n=$((n + 1))
	"${PODMAN[@]}" "${rt[@]}" run --rm --name "$NAME-$n" "${RUNOPTS[@]}" "$@" --rootfs "$R" /bin/sh -c "$SEE" \
		>"$TMP/out" 2>"$TMP/err"
}
podman_probe

"${VMIG[@]}" cdi generate --output $SPECDIR >/dev/null && make_nodes "$SPEC" ||
	{ fail generate "cannot write $SPEC or make its nodes"; exit 1; }

# What a container given MIG device UUID must see: its nodes and the common ones, its rules.
expected() {
	/usr/bin/python3 - "$SPEC" "$1" "$CAPS_MAJOR" <<'PY'
import json, sys
spec, uuid, caps = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
dev = [d for d in spec["devices"] if d["name"] == uuid][0]["containerEdits"]
nodes = [n["path"] for n in dev["deviceNodes"] + spec["containerEdits"]["deviceNodes"]]
for p in sorted(nodes):
    print(p)
print("CVD=" + uuid)
rules = []
for p in nodes:
    m = "195:255" if p.endswith("ctl") else "195:" + p[11:] if "caps" not in p else caps + ":" + p.split("cap")[-1]
    rules.append("c %s rwm" % m)
for r in sorted(rules):
    print(r)
PY
}
same() { # NAME EXPECTED-FILE: the container ran and printed exactly that
	if [ "$rc" -ne 0 ]; then
		fail "$1" "podman exited $rc: $(tail -2 "$TMP/err")"
	elif ! diff "$2" "$TMP/out" >"$TMP/diff"; then
		fail "$1" "the container saw: $(tr '\n' ' ' <"$TMP/diff")"
	else
		ok "$1"
	fi
}

# The schema of the CDI project (Debian's copy of its Go module), where installed.
SCHEMA=/usr/share/gocode/src/github.com/container-orchestrated-devices/container-device-interface/schema
if [ -f $SCHEMA/schema.json ] && /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
	if /usr/bin/python3 - "$SCHEMA" "$SPEC" <<'PY' 2>"$TMP/err"; then
import json, sys, jsonschema
d = sys.argv[1]
schema = json.load(open(d + "/schema.json"))
resolver = jsonschema.RefResolver("file://" + d + "/", schema)
jsonschema.validate(json.load(open(sys.argv[2])), schema, resolver=resolver)
PY
		ok schema
	else
		fail schema "$(tail -3 "$TMP/err")"
	fi
else
	echo "skip - containers/podman/schema: python3-jsonschema or the CDI schema is not installed"
fi

# podman accepts every device of the spec (one container given all of them).
devs=()
for d in $(/usr/bin/python3 -c 'import json,sys; print(" ".join(d["name"] for d in json.load(open(sys.argv[1]))["devices"]))' "$SPEC"); do
	devs+=(--device "$KIND=$d")
done
prun -- "${devs[@]}"
rc=$?
[ $rc = 0 ] && ok "every-device-accepted (${#devs[@]} options)" || fail every-device-accepted "$(tail -2 "$TMP/err")"

expected "$MIG0" >"$TMP/want0"
expected "$MIG1" >"$TMP/want1"
prun -- --device "$KIND=$MIG0"
rc=$?
same device-mig-uuid "$TMP/want0"
cp "$TMP/out" "$TMP/seen-by-device"

# Through vmig-container-runtime: engines drop the environment, so a configuration file.
{
	echo "VMIG_STATE_DIR=$VMIG_STATE_DIR"
	echo "VMIG_BACKEND=sim"
	echo "VMIG_MIG_MINORS=$MINORS"
	echo "VMIG_DEV_ROOT=$DEV"
	echo "VMIG_CDI_KIND=$KIND"
} >"$TMP/rt.conf"
RTOPTS=(--runtime "$RT" --runtime-flag "vmig-config=$TMP/rt.conf")
prun "${RTOPTS[@]}" -- -e "NVIDIA_VISIBLE_DEVICES=$MIG0"
rc=$?
same runtime-mig-uuid "$TMP/want0"
cmp -s "$TMP/out" "$TMP/seen-by-device" && ok runtime-same-as-device ||
	fail runtime-same-as-device "the two containers saw different things"
prun "${RTOPTS[@]}" -- -e "NVIDIA_VISIBLE_DEVICES=0:1"
rc=$?
same runtime-gpu-migindex "$TMP/want1"

# No device named: config.json reaches runc byte for byte (copies taken before and after).
cat >"$TMP/pre" <<PRE
#!/bin/sh
b=; prev=
for a; do [ "\$prev" = --bundle ] && b=\$a; prev=\$a; done
[ -n "\$b" ] && cp "\$b/config.json" "$TMP/pre.json"
VMIG_RUNTIME=$TMP/post exec "$RT" --vmig-config=$TMP/rt.conf "\$@"
PRE
cat >"$TMP/post" <<POST
#!/bin/sh
b=; prev=
for a; do [ "\$prev" = --bundle ] && b=\$a; prev=\$a; done
[ -n "\$b" ] && cp "\$b/config.json" "$TMP/post.json"
exec runc "\$@"
POST
chmod +x "$TMP/pre" "$TMP/post"
rm -f "$TMP/pre.json" "$TMP/post.json"
prun --runtime "$TMP/pre" -- -e NVIDIA_VISIBLE_DEVICES=void
rc=$?
if [ $rc -ne 0 ]; then
	fail no-device-untouched "podman exited $rc: $(tail -2 "$TMP/err")"
elif [ ! -s "$TMP/pre.json" ] || ! cmp -s "$TMP/pre.json" "$TMP/post.json"; then
	fail no-device-untouched "config.json changed on its way to runc"
elif [ "$(cat "$TMP/out")" != "CVD=" ]; then
	fail no-device-untouched "the container saw $(tr '\n' ' ' <"$TMP/out")"
else
	ok no-device-untouched
fi

# A bad selector: one line from the runtime, no container started, none left behind.
prun "${RTOPTS[@]}" -- -e NVIDIA_VISIBLE_DEVICES=0:9
rc=$?
if [ $rc -eq 0 ] || [ -s "$TMP/out" ]; then
	fail bad-selector "podman exited $rc, the container printed $(head -c 200 "$TMP/out")"
elif ! grep -q "vmig-container-runtime: device '0:9': GPU 0 has no MIG device 9" "$TMP/err"; then
	fail bad-selector "stderr: $(tail -2 "$TMP/err")"
elif podman ps -a --format '{{.Names}}' | grep -qx "$NAME-$n"; then
	fail bad-selector "container $NAME-$n was left behind"
else
	ok bad-selector
fi

# Stale specs: a new instance is usable once regenerated, a destroyed one is gone.
"${VMIG[@]}" mig -i 0 -cgi 1g.10gb -C >/dev/null
MIG2=$(mig_uuids | sed -n 3p)
prun -- --device "$KIND=$MIG2"
rc=$?
[ $rc -ne 0 ] && grep -q "unresolvable CDI devices" "$TMP/err" && ok stale-before-regenerate ||
	fail stale-before-regenerate "podman exited $rc"
"${VMIG[@]}" cdi generate --output $SPECDIR >/dev/null && make_nodes "$SPEC"
expected "$MIG2" >"$TMP/want2"
prun -- --device "$KIND=$MIG2"
rc=$?
same stale-new-instance "$TMP/want2"
gi=$("${VMIG[@]}" mig -i 0 -lgi | awk '/1g.10gb/ {print $6}' | tail -1)
"${VMIG[@]}" mig -i 0 -gi "$gi" -dci >/dev/null && "${VMIG[@]}" mig -i 0 -gi "$gi" -dgi >/dev/null
"${VMIG[@]}" cdi generate --output $SPECDIR >/dev/null
prun -- --device "$KIND=$MIG2"
rc=$?
[ $rc -ne 0 ] && grep -q "unresolvable CDI devices" "$TMP/err" && ok stale-destroyed-instance ||
	fail stale-destroyed-instance "podman exited $rc; $(head -c 200 "$TMP/out")"

# Kept current (vmig cdi enable): the spec follows each change in the same command, so a
# new instance is usable at once and a destroyed one is gone, without regenerating.
"${VMIG[@]}" cdi enable --output $SPECDIR >/dev/null || fail keep-enable "cannot enable"
"${VMIG[@]}" mig -i 0 -cgi 1g.10gb -C >/dev/null
MIG3=$(mig_uuids | sed -n 3p)
make_nodes "$SPEC" # stand-ins for the new instance's nodes, which a driver would make
expected "$MIG3" >"$TMP/want3"
prun -- --device "$KIND=$MIG3"
rc=$?
same kept-new-instance "$TMP/want3"
gi=$("${VMIG[@]}" mig -i 0 -lgi | awk '/1g.10gb/ {print $6}' | tail -1)
"${VMIG[@]}" mig -i 0 -gi "$gi" -dci >/dev/null && "${VMIG[@]}" mig -i 0 -gi "$gi" -dgi >/dev/null
prun -- --device "$KIND=$MIG3"
rc=$?
[ $rc -ne 0 ] && grep -q "unresolvable CDI devices" "$TMP/err" && ok kept-destroyed-instance ||
	fail kept-destroyed-instance "podman exited $rc; $(head -c 200 "$TMP/out")"
"${VMIG[@]}" cdi disable >/dev/null || fail keep-disable "cannot disable"

# A software partition (the A100, GPU 1, in soft MIG mode; the soft backend finds the simulated
# GPUs through vmig's NVML library): the container gets the environment `vmig run` sets, the
# interposer mounted read-only, and the accounting directory writable.
export VMIG_NVML_LIBRARY=$ROOT/$B/libnvidia-ml.so.1 VMIG_INTERPOSER=$ROOT/$B/interpose/libvmig-cuda.so
echo "VMIG_NVML_LIBRARY=$VMIG_NVML_LIBRARY" >>"$TMP/rt.conf"
echo "VMIG_SOFT_STATE_DIR=$VMIG_SOFT_STATE_DIR" >>"$TMP/rt.conf"
echo "VMIG_INTERPOSER=$VMIG_INTERPOSER" >>"$TMP/rt.conf"
"${VMIG[@]}" -i 1 -mig 1 --soft >/dev/null && "${VMIG[@]}" mig --soft -i 1 -cgi 1g.5gb -C >/dev/null &&
	SOFT=$("${VMIG[@]}" --soft -L | grep -o 'MIG-[0-9a-f-]*' | tail -1) &&
	"${VMIG[@]}" cdi generate --output $SPECDIR >/dev/null || fail soft-setup "no software partition"
VARS='VMIG_PARTITION|VMIG_MEM_LIMIT|VMIG_COMPUTE_PCT|VMIG_ACCOUNTING|VMIG_COMPUTE_MODE|CUDA_VISIBLE_DEVICES'
# What vmig run gives a program in the instance (the stand-in interposer: env(1) loads it).
# vmig run takes $VMIG_BACKEND as the only backend to look in: without it, soft comes first.
env -u VMIG_BACKEND VMIG_INTERPOSER="$ROOT/$B/tests/soft/libstub-interposer.so" "${VMIG[@]}" run -d "$SOFT" -- env |
	grep -E "^($VARS)=" | sort >"$TMP/want-soft"
echo "LD_PRELOAD=/usr/lib/vmig/libvmig-cuda.so" >>"$TMP/want-soft"
echo "mounted $(wc -c <"$VMIG_INTERPOSER")" >>"$TMP/want-soft"
echo "accounting writable" >>"$TMP/want-soft"
SEE_SOFT='env | grep -E "^('$VARS')=" | sort; echo "LD_PRELOAD=$LD_PRELOAD"
echo "mounted $(wc -c </usr/lib/vmig/libvmig-cuda.so)"
touch /usr/lib/vmig/libvmig-cuda.so 2>/dev/null && echo "the interposer is writable"
touch "$(dirname "$VMIG_ACCOUNTING")/probe-$$" && echo "accounting writable"'
soft_run() {
	n=$((n + 1))
	"${PODMAN[@]}" "$@" --name "$NAME-$n" "${RUNOPTS[@]}" --rootfs "$R" /bin/sh -c "$SEE_SOFT" \
		>"$TMP/out" 2>"$TMP/err"
}
check_soft() {
	if [ "$rc" -ne 0 ]; then
		fail "$1" "podman exited $rc: $(tail -2 "$TMP/err")"
	elif [ "$(wc -l <"$TMP/want-soft")" -lt 9 ] || ! diff "$TMP/want-soft" "$TMP/out" >"$TMP/diff"; then
		fail "$1" "$(tr '\n' ' ' <"$TMP/diff") (vmig run gave $(wc -l <"$TMP/want-soft") lines)"
	else
		ok "$1"
	fi
}
soft_run --runtime runc run --rm --device "$KIND=$SOFT"
rc=$?
check_soft soft-device
soft_run --runtime "$RT" --runtime-flag "vmig-config=$TMP/rt.conf" run --rm -e "NVIDIA_VISIBLE_DEVICES=$SOFT"
rc=$?
check_soft soft-runtime

# The quota of the software partition inside a container.  The program allocates through
# the CUDA driver API (the stand-in libcuda.so.1, under the interposer the spec preloads); it
# is linked dynamically (a preloaded interposer needs a dynamic program), so the host's
# shared libraries are bind-mounted read-only, with the program and the stand-in driver.
# The container has a PID namespace of its own; the instance's processes are told apart by
# the locks on their slots of the accounting file, not by PIDs (docs/interpose.md).
L=$(sed -n 's/^VMIG_MEM_LIMIT=//p' "$TMP/want-soft")
X=$((L / 4 + 12345)) # odd sizes: the sharing is exact to the byte
Y=$((L / 2 + 777))
alloc_mounts
HOSTRUN=(env -u VMIG_BACKEND ASAN_OPTIONS=detect_leaks=0)
[ -n "$SAN" ] && HOSTRUN+=("LD_PRELOAD=$SAN")
HOSTRUN+=("${VMIG[@]}" run -d "$SOFT" --)
# calloc [podman run options] -- ARGS: cuda_alloc ARGS in a container given the partition,
# its output in $TMP/cout/$NAME-$n (and $TMP/out for a container run to its end).
calloc() { alloc_run --device "$KIND=$SOFT" "$@"; }
# saw NAME EXPECTED...: the container ran and printed exactly these lines.
saw() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$TMP/want-alloc"
	if [ "$rc" -ne 0 ]; then
		fail "$name" "exit $rc: $(tail -2 "$TMP/err") $(tr '\n' ' ' <"$TMP/out")"
	elif ! diff "$TMP/want-alloc" "$TMP/out" >"$TMP/diff"; then
		fail "$name" "$(tr '\n' ' ' <"$TMP/diff")"
	else
		ok "$name"
	fi
}
[ -n "$L" ] && [ "$L" -gt 0 ] || fail soft-quota-setup "no VMIG_MEM_LIMIT for $SOFT"

calloc --rm -- $((L + 1)) "$L" 1
rc=$?
saw quota-in-container "free $L" "alloc $((L + 1)) oom" "alloc $L ok" "alloc 1 oom" "free 0"

# A host process of the instance holds X: the container gets exactly the rest.
"${HOSTRUN[@]}" "$ALLOC" hold "$X" >"$TMP/host-hold" 2>&1 &
HOST=$!
if ! vmig_wait_for "$TMP/host-hold" '^holding' 20; then
	fail quota-shared-with-host "the host process did not start: $(head -c 300 "$TMP/host-hold")"
else
	calloc --rm -- $((L - X + 1)) $((L - X)) 1
	rc=$?
	saw quota-shared-with-host "free $((L - X))" "alloc $((L - X + 1)) oom" "alloc $((L - X)) ok" \
		"alloc 1 oom" "free 0"
fi
kill -9 "$HOST" 2>/dev/null
wait "$HOST" 2>/dev/null

# A container holds Y while it runs: a host process gets exactly the rest, and the
# instance cannot be destroyed; once the container is killed, its slot is free.
calloc -d -- hold "$Y"
rc=$?
HOLDER=$NAME-$n
if [ $rc -ne 0 ] || ! vmig_wait_for "$TMP/cout/$HOLDER" '^holding' 30; then
	fail container-holds "podman exited $rc: $(tail -2 "$TMP/err") $(cat "$TMP/cout/$HOLDER" 2>/dev/null)"
else
	ok container-holds
	"${HOSTRUN[@]}" "$ALLOC" $((L - Y + 1)) $((L - Y)) >"$TMP/out" 2>&1
	rc=$?
	saw host-shares-with-container "free $((L - Y))" "alloc $((L - Y + 1)) oom" \
		"alloc $((L - Y)) ok" "free 0"
	sgi=$("${VMIG[@]}" mig --soft -i 1 -lgi | awk '$3 == "MIG" && $4 == "1g.5gb" { print $6; exit }')
	"${VMIG[@]}" mig --soft -i 1 -gi "$sgi" -dci >/dev/null 2>&1
	"${VMIG[@]}" mig --soft -i 1 -gi "$sgi" -dgi >"$TMP/out" 2>&1
	rc=$?
	[ $rc = 19 ] && grep -q "Unable to destroy GPU instance ID *$sgi from GPU *1: In use by another client" "$TMP/out" &&
		"${VMIG[@]}" mig --soft -i 1 -lgi | grep -q "MIG 1g.5gb .* $sgi " &&
		ok dgi-refused-while-container-runs || fail dgi-refused-while-container-runs "exit $rc: $(cat "$TMP/out")"
	podman kill --signal KILL "$HOLDER" >/dev/null 2>&1
	podman wait "$HOLDER" >/dev/null 2>&1
	"${VMIG[@]}" mig --soft -i 1 -gi "$sgi" -dgi >"$TMP/out" 2>&1
	rc=$?
	[ $rc = 0 ] && grep -q "Successfully destroyed GPU instance ID *$sgi from GPU *1" "$TMP/out" &&
		ok dgi-after-container-killed || fail dgi-after-container-killed "exit $rc: $(cat "$TMP/out")"
fi
exit $failed
