#!/usr/bin/env bash
# keep.sh — CDI specs kept current by every change (vmig cdi enable, disable,
# status; docs/containers.md, "Keeping specs current"), without a container
# engine: a file check.  After every kind of command that changes GPUs or
# instances (create and destroy GIs and CIs, MIG mode, vmig config apply,
# sim add/remove/reset, software partitions and their share) the spec file
# is, when the command returns, exactly what `vmig cdi generate` gives then;
# a spec that cannot be written is one line, the change kept, status 0, and
# `vmig cdi status` says so (status 1) until a later change writes it; a
# reader that parses the spec with jansson in a loop while two commands
# change instances in parallel never sees it half-written or missing; every
# bad use of enable, disable and status is one line, a non-zero status and
# nothing changed.  Prints one "ok - " / "FAIL - " line per check.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
B=${B:-build}
. tests/lib/lib.sh
. tests/containers/setup.sh
vmig_suite containers/keep
READER=$ROOT/$B/tests/containers/spec_reader
[ -x "$READER" ] || { fail setup "$READER not built"; exit 1; }
SPECDIR=$TMP/cdi
mkdir -p "$SPECDIR"
SPEC=$SPECDIR/${KIND%/*}-${KIND#*/}.json
# Software partitions: the simulated GPUs play the hardware (docs/soft.md).
export VMIG_NVML_LIBRARY=$ROOT/$B/libnvidia-ml.so.1 VMIG_INTERPOSER=$ROOT/$B/interpose/libvmig-cuda.so

# Checksums of every file of the state and the spec directory (lock files aside).
sums() {
	find "$VMIG_STATE_DIR" "$VMIG_SOFT_STATE_DIR" "$SPECDIR" -type f ! -name '*lock' \
		-exec md5sum {} + 2>/dev/null | sort
}

# refused NAME STATUS PATTERN ARGS...: vmig ARGS exits STATUS with one line
# matching PATTERN on stderr, nothing on stdout, and changes no file.
refused() {
	local name=$1 want=$2 pat=$3 before
	shift 3
	before=$(sums)
	"${VMIG[@]}" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	if [ "$rc" != "$want" ]; then
		fail "$name" "exit $rc, wanted $want: $(cat "$TMP/err")"
	elif [ "$(wc -l <"$TMP/err")" != 1 ] || ! grep -Eq -- "$pat" "$TMP/err" || [ -s "$TMP/out" ]; then
		fail "$name" "not one line matching '$pat': $(cat "$TMP/err" "$TMP/out")"
	elif [ "$before" != "$(sums)" ]; then
		fail "$name" "files changed"
	else
		ok "$name"
	fi
}

refused status-none-bad-option 2 "cdi status: option --output is not used here" cdi status --output "$SPECDIR"
"${VMIG[@]}" cdi status >"$TMP/out" 2>&1 && grep -q '^No CDI spec is kept current' "$TMP/out" &&
	ok status-none || fail status-none "$(cat "$TMP/out")"
refused enable-no-output 2 'cdi enable: keeps a spec directory current \(--output DIR\)' cdi enable
refused enable-stdout 2 'cdi enable: keeps a spec directory current' cdi enable --output -
refused enable-missing-dir 6 "spec directory $TMP/none: No such file or directory" \
	cdi enable --output "$TMP/none"
refused enable-not-dir 2 "spec directory $MINORS: not a directory" cdi enable --output "$MINORS"
refused enable-bad-kind 2 "invalid CDI kind 'x'" cdi enable --output "$SPECDIR" --kind x
refused enable-nvidia-kind 2 "belongs to NVIDIA's toolkit" cdi enable --output "$SPECDIR" \
	--kind nvidia.com/gpu
refused enable-watch 2 'cdi enable: option --watch is not used here' cdi enable --output "$SPECDIR" --watch
refused enable-bad-backend 2 "unknown backend 'x'" cdi enable --output "$SPECDIR" --backend x
refused enable-no-minors 6 "cannot read the MIG capability minors $TMP/none" \
	cdi enable --output "$SPECDIR" --mig-minors "$TMP/none"
refused disable-nothing-there 6 "no CDI spec is kept current in $SPECDIR" cdi disable --output "$SPECDIR"
refused disable-bad-option 2 'cdi disable: option --backend is not used here' cdi disable --backend sim
refused generate-remove 2 'cdi generate: option --remove is not used here' cdi generate --remove
refused unknown-command 2 "cdi: unknown command 'keep' \(generate, enable, disable or status\)" cdi keep

# The spec as it should be now.
want() { "${VMIG[@]}" cdi generate >"$TMP/want.json" 2>"$TMP/err"; }

# current NAME: the kept spec is what generate gives now, and status says so.
current() {
	if ! want; then
		fail "$1" "cdi generate: $(cat "$TMP/err")"
	elif ! cmp -s "$SPEC" "$TMP/want.json"; then
		fail "$1" "the spec is not the one of now: $(diff "$TMP/want.json" "$SPEC" 2>&1 | head -5 | tr '\n' ' ')"
	elif ! "${VMIG[@]}" cdi status >"$TMP/status" 2>&1 || ! grep -q "^$SPEC: current " "$TMP/status"; then
		fail "$1" "status: $(cat "$TMP/status")"
	else
		ok "$1"
	fi
}

"${VMIG[@]}" cdi enable --output "$SPECDIR" >"$TMP/out" 2>"$TMP/err" &&
	[ "$(cat "$TMP/out")" = "Wrote $SPEC; every change of instances rewrites it" ] && [ ! -s "$TMP/err" ] &&
	ok enable || fail enable "$(cat "$TMP/out" "$TMP/err")"
current enable-writes-current
grep -q '"kind": "'"$KIND"'"' "$VMIG_STATE_DIR/cdi.json" && grep -q '"output": "'"$SPECDIR"'"' "$VMIG_STATE_DIR/cdi.json" &&
	ok setting-in-state-dir || fail setting-in-state-dir "$(cat "$VMIG_STATE_DIR/cdi.json")"

# follows NAME changed|same ARGS...: vmig ARGS succeeds, says nothing on stderr, and
# the spec is current when it returns (and different from before, for changed).
follows() {
	local name=$1 how=$2 before
	shift 2
	before=$({ md5sum <"$SPEC"; } 2>/dev/null)
	if ! "${VMIG[@]}" "$@" >"$TMP/out" 2>"$TMP/err" || [ -s "$TMP/err" ]; then
		fail "$name" "vmig $*: $(cat "$TMP/err")"
		return
	fi
	if [ "$how" = changed ] && [ "$before" = "$(md5sum <"$SPEC")" ]; then
		fail "$name" "vmig $* left the spec as it was"
		return
	fi
	current "$name"
}
gi_of() { "${VMIG[@]}" mig "${@:3}" -i "$1" -lgi | awk -v p="$2" '$3 == "MIG" && $4 == p { print $6; exit }'; }

follows cgi changed mig -i 0 -cgi 1g.10gb -C
grep -q "$("${VMIG[@]}" -L | grep -o 'MIG-[0-9a-f-]*' | tail -1)" "$SPEC" && ok cgi-new-device-named ||
	fail cgi-new-device-named "the new MIG device is not in the spec"
gi=$(gi_of 0 1g.10gb)
follows dci changed mig -i 0 -gi "$gi" -dci
follows cci changed mig -i 0 -gi "$gi" -cci 0
follows dci-again changed mig -i 0 -gi "$gi" -dci
follows dgi same mig -i 0 -gi "$gi" -dgi
follows mig-on same -i 1 -mig 1
follows config-apply changed config apply -f examples/config-all-models.yaml -c mixed
follows config-apply-disabled changed config apply -f examples/config-all-models.yaml -c all-disabled
follows mig-on-second-gpu same -i 1 -mig 1
follows cgi-second-gpu changed mig -i 1 -cgi 1g.5gb,1g.5gb -C
follows dci-second-gpu changed mig -i 1 -dci
follows mig-on-again same -i 0 -mig 1
follows sim-add changed sim add rtx-4090
follows soft-mig-on same -i 2 -mig 1 --soft
follows soft-cgi changed mig --soft -i 2 -cgi 1g.6gb -C
grep -q '"VMIG_MEM_LIMIT=' "$SPEC" && ok soft-partition-in-spec || fail soft-partition-in-spec "no soft partition"
sgi=$(gi_of 2 1g.6gb --soft)
follows soft-rg changed mig --soft -i 2 -gi "$sgi" -rg 30
grep -q '"VMIG_COMPUTE_PCT=30"' "$SPEC" && ok soft-rg-share-in-spec || fail soft-rg-share-in-spec "no share 30"
follows soft-dci changed mig --soft -i 2 -dci
follows soft-dgi same mig --soft -i 2 -dgi
follows soft-mig-off same -i 2 -mig 0 --soft
follows sim-remove changed sim remove 2
follows sim-reset changed sim reset h100-80gb a100-40gb

# A spec that cannot be written (a directory in its place): one line, the change kept,
# the command's status 0; status says so until a later change writes it.
rm -f "$SPEC" && mkdir -p "$SPEC/x"
"${VMIG[@]}" -i 0 -mig 1 >/dev/null 2>&1
"${VMIG[@]}" mig -i 0 -cgi 1g.10gb -C >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc != 0 ] || [ "$(wc -l <"$TMP/err")" != 1 ] ||
	! grep -q "^vmig: the CDI spec $SPEC was not updated: cannot write $SPEC: .* (the change was kept; vmig cdi status shows the specs)$" "$TMP/err" ||
	! grep -q 'Successfully created compute instance' "$TMP/out"; then
	fail unwritable-spec "exit $rc: $(cat "$TMP/err")"
elif ! "${VMIG[@]}" mig -i 0 -lgi | grep -q 'MIG 1g.10gb'; then
	fail unwritable-spec "the change was not kept"
else
	ok unwritable-spec
fi
"${VMIG[@]}" cdi status >"$TMP/status" 2>&1
[ $? = 1 ] && grep -q "^$SPEC: stale " "$TMP/status" && ok status-stale || fail status-stale "$(cat "$TMP/status")"
ls -a "$SPECDIR" | grep -q '\.tmp' && fail unwritable-no-temp "a temporary file was left" || ok unwritable-no-temp
rm -rf "$SPEC"
"${VMIG[@]}" cdi status >"$TMP/status" 2>&1
[ $? = 1 ] && grep -q "^$SPEC: missing " "$TMP/status" && ok status-missing || fail status-missing "$(cat "$TMP/status")"
follows written-again-by-next-change same mig -i 0 -dci

# A setting that is not one: every change says so in one line and is kept.
cp "$VMIG_STATE_DIR/cdi.json" "$TMP/cdi.json.good"
echo '{"vmig-cdi-keep": 1, "specs": [{"output": "'"$SPECDIR"'", "colour": 1}]}' >"$VMIG_STATE_DIR/cdi.json"
"${VMIG[@]}" mig -i 0 -dgi >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 0 ] && [ "$(wc -l <"$TMP/err")" = 1 ] &&
	grep -q "^vmig: the CDI specs were not updated: $VMIG_STATE_DIR/cdi.json: spec 1: unknown key 'colour' (the change was kept)$" "$TMP/err" &&
	ok corrupt-setting || fail corrupt-setting "exit $rc: $(cat "$TMP/err")"
refused status-corrupt-setting 255 "cdi.json: spec 1: unknown key 'colour'" cdi status
echo '{"vmig-cdi-keep": 2, "specs": []}' >"$VMIG_STATE_DIR/cdi.json"
refused status-newer-setting 255 'version 2 was written by a newer vmig' cdi status
cp "$TMP/cdi.json.good" "$VMIG_STATE_DIR/cdi.json"
follows setting-good-again changed mig -i 0 -cgi 1g.10gb -C

# A reader parsing the spec (jansson) while two commands at a time change instances
# (each change rewriting the spec) never finds it half-written or missing.
"${VMIG[@]}" -i 1 -mig 1 >/dev/null 2>&1
rm -f "$TMP/stop"
"$READER" "$SPEC" "$TMP/stop" >"$TMP/reader" 2>&1 &
reader=$!
for g in 0 1; do
	(
		p=1g.10gb
		[ $g = 1 ] && p=1g.5gb
		for _ in $(seq 8); do
			"${VMIG[@]}" mig -i $g -cgi $p -C >/dev/null 2>>"$TMP/werr$g" || exit 1
			"${VMIG[@]}" mig -i $g -dci >/dev/null 2>>"$TMP/werr$g" &&
				"${VMIG[@]}" mig -i $g -dgi >/dev/null 2>>"$TMP/werr$g" || exit 1
		done
	) &
	writers[g]=$!
done
wrc=0
for g in 0 1; do wait "${writers[g]}" || wrc=1; done
touch "$TMP/stop"
wait $reader
rrc=$?
read -r reads counts <"$TMP/reader"
if [ $wrc != 0 ] || [ -s "$TMP/werr0" ] || [ -s "$TMP/werr1" ]; then
	fail never-half-written "a writer failed: $(cat "$TMP/werr0" "$TMP/werr1")"
elif [ $rrc != 0 ]; then
	fail never-half-written "$(cat "$TMP/reader")"
elif ! [ "${counts:-0}" -ge 2 ] 2>/dev/null; then
	fail never-half-written "the reader saw one spec only ($(cat "$TMP/reader"))"
else
	ok "never-half-written ($reads reads, $counts different specs)"
fi
current current-after-parallel-changes
others=$(find "$SPECDIR" -mindepth 1 ! -name "$(basename "$SPEC")" | wc -l)
[ "$others" = 0 ] && ok no-temporary-files || fail no-temporary-files "$(ls -a "$SPECDIR")"

# Two specs (another kind, as given) are kept; disable drops one, --remove its file too.
OTHER=$SPECDIR/vmigother$$.dev-gpu.json
"${VMIG[@]}" cdi enable --output "$SPECDIR" --kind "vmigother$$.dev/gpu" >/dev/null 2>&1 &&
	"${VMIG[@]}" mig -i 0 -cgi 1g.10gb -C >/dev/null 2>&1 &&
	"${VMIG[@]}" cdi status >"$TMP/status" 2>&1 &&
	[ "$(grep -c ': current ' "$TMP/status")" = 2 ] &&
	cmp -s "$OTHER" <("${VMIG[@]}" cdi generate --kind "vmigother$$.dev/gpu") &&
	ok two-specs || fail two-specs "$(cat "$TMP/status")"
"${VMIG[@]}" cdi disable --output "$SPECDIR" --kind "vmigother$$.dev/gpu" --remove >"$TMP/out" 2>&1 &&
	grep -q '^Stopped keeping 1 CDI spec current and removed its file$' "$TMP/out" && [ ! -e "$OTHER" ] &&
	[ -e "$SPEC" ] && ok disable-one-remove || fail disable-one-remove "$(cat "$TMP/out")"
"${VMIG[@]}" cdi disable >"$TMP/out" 2>&1 && grep -q '^Stopped keeping 1 CDI spec current$' "$TMP/out" &&
	[ ! -e "$VMIG_STATE_DIR/cdi.json" ] && ok disable-all || fail disable-all "$(cat "$TMP/out")"
before=$(md5sum <"$SPEC")
"${VMIG[@]}" mig -i 0 -dci >/dev/null 2>&1
[ "$before" = "$(md5sum <"$SPEC")" ] && ok disabled-not-rewritten || fail disabled-not-rewritten "the spec changed"
exit $failed
