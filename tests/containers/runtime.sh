#!/usr/bin/env bash
# runtime.sh — vmig-container-runtime and vmig cdi generate without a
# container engine: the runtime is called as an engine calls runc, on a
# bundle of our own, with a stand-in "real runtime" (a script that records
# its arguments and the config.json it was given).  Checks the edits it makes
# (device nodes, cgroup rules, env), the pass-through (byte for byte when no
# device is named; other commands untouched), every refusal (bad selector,
# bad config.json, another kind, missing runtime, bad configuration file,
# missing device node: one line, exit 1, the runtime not run, the file
# unchanged), the spec directory errors, and that a spec being regenerated
# is never read half-written.  Prints one "ok - " / "FAIL - " line per check.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
B=${B:-build}
. tests/lib/lib.sh
. tests/containers/setup.sh
vmig_suite containers/runtime
if [ "$(id -u)" != 0 ]; then
	echo "skip - containers/runtime: mknod of stand-in device nodes needs root"
	exit 0
fi
"${VMIG[@]}" cdi generate >"$TMP/spec.json" && make_nodes "$TMP/spec.json" ||
	{ fail setup "cannot generate a spec or make its nodes"; exit 1; }

# The stand-in for runc: records what it got, then succeeds.
cat >"$TMP/spy" <<'SPY'
#!/bin/sh
echo "$*" >"$SPY_DIR/args"
b=.
while [ $# -gt 0 ]; do case "$1" in --bundle|-b) b=$2; shift;; --bundle=*) b=${1#--bundle=};; esac; shift; done
cp "$b/config.json" "$SPY_DIR/config.json" 2>/dev/null
exit 0
SPY
chmod +x "$TMP/spy"
export SPY_DIR=$TMP VMIG_RUNTIME=$TMP/spy

# bundle ENV_JSON [ANNOTATIONS_JSON]: a fresh bundle in $BUNDLE.
bundle() {
	BUNDLE=$TMP/bundle
	rm -rf "$BUNDLE" "$TMP/args" "$TMP/config.json"
	mkdir -p "$BUNDLE"
	printf '{"ociVersion":"1.0.2-dev","process":{"args":["/bin/true"],"env":[%s]},"root":{"path":"rootfs"},"annotations":{%s},"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]}}}\n' \
		"$1" "${2:-}" >"$BUNDLE/config.json"
	cp "$BUNDLE/config.json" "$TMP/orig.json"
}

# A JSON query on a file: py FILE EXPR (EXPR sees the document as c).
py() { /usr/bin/python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print($2)" "$1"; }

# refused NAME PATTERN ARGS...: exit 1, one line matching, runtime not run, file unchanged.
refused() {
	local name=$1 pat=$2
	shift 2
	"$RT" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	if [ "$rc" -ne 1 ]; then
		fail "$name" "exit $rc, wanted 1; stderr: $(cat "$TMP/err")"
	elif [ "$(wc -l <"$TMP/err")" -ne 1 ] || ! grep -Eq -- "$pat" "$TMP/err"; then
		fail "$name" "stderr is not one line matching '$pat': $(cat "$TMP/err")"
	elif [ -e "$TMP/args" ]; then
		fail "$name" "the real runtime was run"
	elif [ -e "$BUNDLE/config.json" ] && ! cmp -s "$BUNDLE/config.json" "$TMP/orig.json"; then
		fail "$name" "config.json changed"
	else
		ok "$name"
	fi
}

# No device named: the runtime gets the same arguments, the file is byte for byte the same.
bundle '"PATH=/bin"'
if "$RT" --root /run/x --log /dev/null create --bundle "$BUNDLE" --pid-file /x c1 &&
	[ "$(cat "$TMP/args")" = "--root /run/x --log /dev/null create --bundle $BUNDLE --pid-file /x c1" ] &&
	cmp -s "$BUNDLE/config.json" "$TMP/orig.json"; then
	ok passthrough-no-device
else
	fail passthrough-no-device "args '$(cat "$TMP/args" 2>/dev/null)' or config changed"
fi
for v in void none ''; do
	bundle "\"NVIDIA_VISIBLE_DEVICES=$v\""
	"$RT" create -b "$BUNDLE" c1 && cmp -s "$BUNDLE/config.json" "$TMP/orig.json" &&
		ok "passthrough-'$v'" || fail "passthrough-'$v'" "config changed"
done
for c in start state delete kill; do
	rm -f "$TMP/args"
	"$RT" "$c" --force c1 && [ "$(cat "$TMP/args")" = "$c --force c1" ] && ok "passthrough-$c" ||
		fail "passthrough-$c" "args '$(cat "$TMP/args" 2>/dev/null)'"
done

# nodes FILE: "path major:minor" of linux.devices and the allow rules, sorted.
nodes() {
	py "$1" '" ".join(sorted(d["path"]+"="+str(d["major"])+":"+str(d["minor"]) for d in c["linux"]["devices"]))'
}
allows() {
	py "$1" '" ".join(sorted(str(d["major"])+":"+str(d["minor"]) for d in c["linux"]["resources"]["devices"] if d.get("allow")))'
}
envof() { py "$1" '"\n".join(c["process"]["env"])'; }
caps_of() { # the capability minors of MIG device UUID $1 in the spec
	py "$TMP/spec.json" "' '.join(n['path'].split('cap')[-1] for d in c['devices'] if d['name']=='$1' for n in d['containerEdits']['deviceNodes'] if 'caps' in n['path'])"
}
expect_mig() { # NAME UUID: config.json holds exactly the nodes of that MIG device
	local name=$1 uuid=$2 c1 c2
	read -r c1 c2 <<<"$(caps_of "$uuid")"
	local want="/dev/nvidia-caps/nvidia-cap$c1=$CAPS_MAJOR:$c1 /dev/nvidia-caps/nvidia-cap$c2=$CAPS_MAJOR:$c2 /dev/nvidia0=195:0 /dev/nvidiactl=195:255"
	local got
	got=$(nodes "$BUNDLE/config.json")
	if [ "$got" != "$want" ]; then
		fail "$name" "devices '$got', wanted '$want'"
	elif [ "$(allows "$BUNDLE/config.json")" != "$(echo "195:0 195:255 $CAPS_MAJOR:$c1 $CAPS_MAJOR:$c2" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')" ]; then
		fail "$name" "allow rules $(allows "$BUNDLE/config.json")"
	elif ! envof "$BUNDLE/config.json" | grep -qx "CUDA_VISIBLE_DEVICES=$uuid"; then
		fail "$name" "no CUDA_VISIBLE_DEVICES=$uuid in $(envof "$BUNDLE/config.json" | tr '\n' ' ')"
	elif ! cmp -s "$BUNDLE/config.json" "$TMP/config.json"; then
		fail "$name" "the real runtime saw another config.json"
	else
		ok "$name"
	fi
}
bundle "\"PATH=/bin\",\"NVIDIA_VISIBLE_DEVICES=$MIG0\""
"$RT" create --bundle "$BUNDLE" c1 && expect_mig nvidia-visible-mig-uuid "$MIG0"
bundle '"NVIDIA_VISIBLE_DEVICES=0:1"'
"$RT" --root /r create --bundle="$BUNDLE" c1 && expect_mig nvidia-visible-gpu-migindex "$MIG1"
bundle "\"NVIDIA_VISIBLE_DEVICES=0:1\",\"VMIG_VISIBLE_DEVICES=${MIG0:0:16}\""
(cd "$BUNDLE" && "$RT" run c1) && expect_mig vmig-visible-wins-prefix-cwd-bundle "$MIG0"
bundle "\"NVIDIA_VISIBLE_DEVICES=$KIND=$MIG1\""
"$RT" create -b "$BUNDLE" c1 && expect_mig qualified-name "$MIG1"
bundle '"PATH=/bin"' "\"cdi.k8s.io/vmig\":\"$KIND=0:0,other.org/x=1\""
"$RT" create -b "$BUNDLE" c1 && expect_mig cdi-annotation "$MIG0"
bundle '"NVIDIA_VISIBLE_DEVICES=all"'
if "$RT" create -b "$BUNDLE" c1 && [ "$(py "$BUNDLE/config.json" 'len(c["linux"]["devices"])')" = 7 ]; then
	ok all # nvidia0, nvidia1, nvidiactl, four capability nodes
else
	fail all "$(nodes "$BUNDLE/config.json")"
fi

# Refusals.
bundle '"NVIDIA_VISIBLE_DEVICES=bogus"'
refused bad-selector "^vmig-container-runtime: invalid device 'bogus'" create -b "$BUNDLE" c1
bundle '"NVIDIA_VISIBLE_DEVICES=0:7"'
refused no-such-device "GPU 0 has no MIG device 7" create -b "$BUNDLE" c1
bundle '"NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=0"'
refused other-kind "device 'nvidia.com/gpu=0' is not of kind $KIND" create -b "$BUNDLE" c1
bundle '"NVIDIA_VISIBLE_DEVICES=0"'
printf '{"process": {"env": [' >"$BUNDLE/config.json"
cp "$BUNDLE/config.json" "$TMP/orig.json"
refused bad-config-json "config.json:1:[0-9]+: " create -b "$BUNDLE" c1
printf '{"process": {}}' >"$BUNDLE/config.json"
cp "$BUNDLE/config.json" "$TMP/orig.json"
refused not-oci-config "not an OCI runtime spec" create -b "$BUNDLE" c1
refused no-config-json "$TMP/nowhere/config.json: No such file" create -b "$TMP/nowhere" c1
bundle '"NVIDIA_VISIBLE_DEVICES=0"'
VMIG_RUNTIME=$TMP/missing refused missing-runtime "OCI runtime $TMP/missing: No such file" create -b "$BUNDLE" c1
VMIG_RUNTIME=no-such-runtime-here refused runtime-not-in-path "'no-such-runtime-here' is not in PATH" create -b "$BUNDLE" c1
VMIG_RUNTIME=$RT refused runtime-is-itself "is this program itself" create -b "$BUNDLE" c1
VMIG_CDI_KIND=x/y refused bad-kind "invalid CDI kind 'x/y'" create -b "$BUNDLE" c1
printf 'VMIG_STATE_DIR=/x\nPATH=/evil\n' >"$TMP/rt.conf"
refused bad-config-file "rt.conf:2: not a VMIG_NAME=VALUE line" --vmig-config="$TMP/rt.conf" create -b "$BUNDLE" c1
VMIG_RUNTIME_CONFIG=$TMP/none.conf refused missing-config-file "none.conf: No such file" create -b "$BUNDLE" c1
bundle '"NVIDIA_VISIBLE_DEVICES=1"'
mv "$DEV/nvidia1" "$DEV/nvidia1.away"
refused missing-device-node "device node $DEV/nvidia1: No such file" create -b "$BUNDLE" c1
mv "$DEV/nvidia1.away" "$DEV/nvidia1"

# The configuration file: what engines that drop the environment need.
bundle '"NVIDIA_VISIBLE_DEVICES=0:0"'
{
	echo "# vmig-container-runtime"
	echo "VMIG_STATE_DIR=$VMIG_STATE_DIR"
	echo "VMIG_RUNTIME=$TMP/spy"
} >"$TMP/rt.conf"
if env -u VMIG_STATE_DIR -u VMIG_RUNTIME "$RT" --vmig-config="$TMP/rt.conf" create -b "$BUNDLE" c1 &&
	[ "$(cat "$TMP/args")" = "create -b $BUNDLE c1" ]; then
	expect_mig config-file "$MIG0"
else
	fail config-file "args '$(cat "$TMP/args" 2>/dev/null)'"
fi

# vmig cdi generate: errors, and a spec never read half-written.
"${VMIG[@]}" cdi generate --output "$TMP/no/dir" >"$TMP/out" 2>"$TMP/err"
[ $? -ne 0 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "cannot write a file in $TMP/no/dir" "$TMP/err" &&
	ok generate-no-dir || fail generate-no-dir "$(cat "$TMP/err")"
"${VMIG[@]}" cdi generate --kind nvidia.com/gpu >/dev/null 2>"$TMP/err"
[ $? -ne 0 ] && grep -q "belongs to NVIDIA's toolkit" "$TMP/err" && ok generate-nvidia-kind ||
	fail generate-nvidia-kind "$(cat "$TMP/err")"
VMIG_MIG_MINORS=$TMP/none "${VMIG[@]}" cdi generate >/dev/null 2>"$TMP/err"
[ $? -ne 0 ] && grep -q "cannot read the MIG capability minors $TMP/none" "$TMP/err" &&
	ok generate-no-minors || fail generate-no-minors "$(cat "$TMP/err")"
mkdir -p "$TMP/cdi"
"${VMIG[@]}" cdi generate --output "$TMP/cdi" >/dev/null
SPEC=$TMP/cdi/${KIND%/*}-${KIND#*/}.json
cp "$SPEC" "$TMP/want.json"
for w in 1 2; do
	(for _ in $(seq 25); do "${VMIG[@]}" cdi generate --output "$TMP/cdi" >/dev/null || exit 1; done) &
done
reads=0 torn=0
while [ -n "$(jobs -r)" ]; do
	cmp -s "$SPEC" "$TMP/want.json" || torn=$((torn + 1))
	reads=$((reads + 1))
done
wait
others=$(find "$TMP/cdi" -type f ! -name "$(basename "$SPEC")" | wc -l)
[ "$torn" = 0 ] && [ "$reads" -gt 0 ] && [ "$others" = 0 ] && ok "spec-never-half-written ($reads reads)" ||
	fail spec-never-half-written "$torn of $reads reads differed; $others other files"

# --watch keeps the spec current: a new instance appears in it, a destroyed one goes.
spec_has() { grep -q "\"name\": \"$1\"" "$SPEC"; }
wait_for() { # wait_for CONDITION...: up to 5 s
	for _ in $(seq 100); do "$@" && return 0; sleep 0.05; done
	return 1
}
"${VMIG[@]}" cdi generate --output "$TMP/cdi" --watch --interval 20 >"$TMP/watch.out" 2>"$TMP/watch.err" &
watcher=$!
"${VMIG[@]}" mig -i 0 -cgi 1g.10gb -C >/dev/null
NEW=$(mig_uuids | sed -n 3p)
if wait_for spec_has "$NEW"; then
	gi=$("${VMIG[@]}" mig -i 0 -lgi | awk '/1g.10gb/ {print $6}' | tail -1)
	"${VMIG[@]}" mig -i 0 -gi "$gi" -dci >/dev/null && "${VMIG[@]}" mig -i 0 -gi "$gi" -dgi >/dev/null
	wait_for eval '! spec_has "$NEW"' && ok watch-follows-instances ||
		fail watch-follows-instances "$NEW stayed in the spec after -dgi"
else
	fail watch-follows-instances "$NEW never reached the spec"
fi
kill -TERM $watcher
wait $watcher
rc=$?
[ $rc = 0 ] && [ ! -s "$TMP/watch.err" ] && ok watch-stops-on-sigterm ||
	fail watch-stops-on-sigterm "exit $rc; $(cat "$TMP/watch.err")"
"${VMIG[@]}" cdi generate --watch >/dev/null 2>"$TMP/err"
[ $? = 2 ] && grep -q -- "--watch writes a spec directory" "$TMP/err" && ok watch-needs-output ||
	fail watch-needs-output "$(cat "$TMP/err")"
"${VMIG[@]}" cdi generate --output "$TMP/no/dir" --watch >/dev/null 2>"$TMP/err"
[ $? != 0 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && ok watch-bad-dir-exits || fail watch-bad-dir-exits "$(cat "$TMP/err")"
exit $failed
