#!/usr/bin/env bash
# slurm.sh — vmig's instances scheduled by the real Slurm daemons (Debian's
# slurmctld, slurmd and srun, 22.05), without a GPU.
#
# The node: a simulated H100 in MIG mode with two 3g.40gb instances, and a
# simulated RTX 4090 split in software (a 1g.6gb), in a state directory of
# the test's own; stand-in device nodes (mknod: 195 for the GPUs, a major no
# driver has for the capabilities) and the driver's mig-minors table for
# them.  gres.conf and slurm.conf's NodeName line come from `vmig slurm
# gres-conf`, the TaskProlog is `vmig slurm task-prolog`.  munged runs with
# a key and socket of the test's own; slurmctld and slurmd run in a network
# namespace that has only loopback (slurmctld binds every address), with
# ports and files of their own, and every wait is bounded; each daemon is
# stopped by its PID at the end.  Checked through srun: a job asking for
# gpu:3g.40gb gets CUDA_VISIBLE_DEVICES=MIG-<uuid> of a 3g instance, two
# jobs at once get two different ones, a job on the software partition
# has the interposer and its quota to the byte (the stand-in libcuda and
# the probe of tests/interpose), and a job given a GPU that is not vmig's
# is refused by the TaskProlog.  Skipped, saying why, where the daemons or
# root are missing.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
ROOT=$PWD
. tests/lib/lib.sh
failed=0
ok() { echo "ok - slurm/$1"; }
fail() {
	echo "FAIL - slurm/$1: $2"
	failed=1
}
skip() {
	echo "skip - slurm: $1"
	exit 0
}

[ "$(id -u)" = 0 ] || skip "needs root (mknod, network namespaces, slurmd)"
for p in slurmctld slurmd srun scontrol sinfo munged unshare nsenter ip; do
	command -v "$p" >/dev/null || skip "$p is not installed (.ci/deps)"
done
PROBE=$ROOT/$B/tests/interpose/probe
for f in "$B/vmig" "$B/libnvidia-ml.so.1" "$PROBE" "$B/interpose/libvmig-cuda.so"; do
	[ -e "$f" ] || {
		fail build "$f is not built"
		exit 1
	}
done

vmig_tmpdir T
chmod 755 "$T"
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	PIDS=()
}
trap 'stop_all; rm -rf "${VMIG_TMPDIRS[@]}"' EXIT

VMIG=$ROOT/$B/vmig
DEV=$T/dev
export VMIG_BACKEND=sim VMIG_STATE_DIR=$T/state VMIG_SOFT_STATE_DIR=$T/soft
export VMIG_MIG_MINORS=$T/mig-minors VMIG_DEV_ROOT=$DEV
export VMIG_NVML_LIBRARY=$ROOT/$B/libnvidia-ml.so.1
export CUDA_MPS_PIPE_DIRECTORY=$T/no-mps
unset VMIG_COMPUTE_MODE VMIG_INTERPOSER LD_PRELOAD CUDA_VISIBLE_DEVICES

# The driver's table: every GPU minor 0-31, GI 0-14, CI 0-7.
awk 'BEGIN {
	print "config 1"; print "monitor 2"
	for (g = 0; g < 32; g++)
		for (i = 0; i < 15; i++) {
			b = 3 + 135 * g + 9 * i
			print "gpu" g "/gi" i "/access " b
			for (c = 0; c < 8; c++) print "gpu" g "/gi" i "/ci" c "/access " (b + 1 + c)
		}
}' >"$VMIG_MIG_MINORS"

{ "$VMIG" sim reset h100-80gb rtx-4090 && "$VMIG" -i 0 -mig 1 &&
	"$VMIG" mig -i 0 -cgi 3g.40gb,3g.40gb -C && "$VMIG" -i 1 -mig 1 --soft &&
	"$VMIG" mig --soft -i 1 -cgi 1g.6gb -C; } >"$T/setup.log" 2>&1 || {
	fail setup "cannot make the simulated GPUs: $(tail -3 "$T/setup.log")"
	exit 1
}
MIG3=$("$VMIG" -L | grep 'MIG 3g.40gb' | grep -o 'MIG-[0-9a-f-]*' | sort)

# Stand-in nodes: the GPUs and the capabilities the gres lines name.
CAPS_MAJOR=511
while grep -qE "^ *$CAPS_MAJOR " /proc/devices; do CAPS_MAJOR=$((CAPS_MAJOR - 1)); done
mkdir -p "$DEV/nvidia-caps" &&
	mknod -m 666 "$DEV/nvidiactl" c 195 255 &&
	mknod -m 666 "$DEV/nvidia0" c 195 0 &&
	mknod -m 666 "$DEV/nvidia1" c 195 1 &&
	mknod -m 666 "$DEV/other0" c 195 200 || skip "mknod failed: stand-in device nodes cannot be made here"
for m in $(awk '/^gpu0\/gi[12]\// { print $2 }' "$VMIG_MIG_MINORS"); do
	mknod -m 444 "$DEV/nvidia-caps/nvidia-cap$m" c "$CAPS_MAJOR" "$m"
done

# ---- gres.conf and the node line -------------------------------------------
ETC=$T/etc
mkdir -p "$ETC" "$T/state-slurm" "$T/spool" "$T/run" "$T/log" "$T/munge"
chmod 700 "$T/munge"
NODELINE=$("$VMIG" slurm gres-conf --node localhost --output "$ETC/gres.conf" 2>&1)
if [ "$NODELINE" = "NodeName=localhost Gres=gpu:3g.40gb:2,gpu:1g.6gb:1" ] &&
	[ "$(grep -c '^Name=gpu' "$ETC/gres.conf")" = 3 ] &&
	[ -c "$DEV/vmig/nvidia1-gi3-ci0" ]; then
	ok gres-conf
else
	fail gres-conf "node line '$NODELINE', gres.conf: $(cat "$ETC/gres.conf" 2>&1)"
fi
# A GPU that is not vmig's: a line of the admin's own.
echo "Name=gpu Type=plain File=$DEV/other0" >>"$ETC/gres.conf"

cat >"$T/taskprolog.sh" <<EOF
#!/bin/sh
exec $VMIG slurm task-prolog --gres-conf $ETC/gres.conf
EOF
chmod 755 "$T/taskprolog.sh"

# Ports of the test's own, in a namespace where nothing else listens.
cat >"$ETC/slurm.conf" <<EOF
ClusterName=vmigtest
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SrunPortRange=16900-16999
CommunicationParameters=NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state-slurm
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/run/slurmctld.pid
SlurmdPidFile=$T/run/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
SlurmdDebug=debug2
DebugFlags=Gres
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
GresTypes=gpu
TaskProlog=$T/taskprolog.sh
$NODELINE,gpu:plain:1 NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$ETC/slurm.conf

# ---- the daemons -------------------------------------------------------------
dd if=/dev/urandom of="$T/munge/key" bs=128 count=1 2>/dev/null && chmod 600 "$T/munge/key"
munged -F -f --socket="$T/munge/sock" --key-file="$T/munge/key" --pid-file="$T/munge/pid" \
	--seed-file="$T/munge/seed" --log-file="$T/munge/log" >"$T/munge/out" 2>&1 &
PIDS+=($!)
unshare --net --fork sh -c 'ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec sleep 120' &
NSWRAP=$!
PIDS+=($NSWRAP)
NSPID=
for _ in $(seq 50); do
	NSPID=$(pgrep -P "$NSWRAP" -x sleep) && break
	sleep 0.1
done
[ -n "$NSPID" ] || {
	fail netns "no network namespace: $(ps -o pid,args --ppid "$NSWRAP")"
	exit 1
}
PIDS=("$NSPID" "${PIDS[@]}")
IN=(nsenter -t "$NSPID" -n --)

# until SECONDS CMD...: run CMD every 0.1 s until it succeeds; false after SECONDS.
until_ok() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}
ctld_up() { "${IN[@]}" scontrol ping | grep -q 'is UP'; }
node_idle() { "${IN[@]}" sinfo -h -N -o %T | grep -q '^idle'; }

start=$SECONDS
"${IN[@]}" slurmctld -D -c -f "$SLURM_CONF" >"$T/log/slurmctld.out" 2>&1 &
PIDS=($! "${PIDS[@]}")
until_ok 20 ctld_up || {
	fail slurmctld "not up after 20 s: $(tail -5 "$T/log/slurmctld.log" "$T/log/slurmctld.out" 2>&1)"
	exit 1
}
"${IN[@]}" slurmd -D -N localhost -f "$SLURM_CONF" >"$T/log/slurmd.out" 2>&1 &
PIDS=($! "${PIDS[@]}")
until_ok 20 node_idle || {
	fail slurmd "the node is not idle after 20 s: $(tail -8 "$T/log/slurmd.log" "$T/log/slurmd.out" 2>&1)"
	exit 1
}
ok "daemons up in $((SECONDS - start)) s"

# srun ARGS...: a job step, at most 30 s; stdout in $OUT, stderr in $ERR.
srun_() {
	OUT=$(timeout -s KILL 30 "${IN[@]}" srun "$@" 2>"$T/srun.err")
	local rc=$?
	ERR=$(cat "$T/srun.err")
	return $rc
}

# ---- a 3g.40gb job gets a 3g instance ------------------------------------------
if srun_ --gres=gpu:3g.40gb:1 printenv CUDA_VISIBLE_DEVICES; then
	if grep -qxF "$OUT" <<<"$MIG3"; then
		ok mig-job
	else
		fail mig-job "CUDA_VISIBLE_DEVICES=$OUT, not one of the 3g instances: $MIG3"
	fi
else
	fail mig-job "srun failed: $ERR"
fi

# ---- two jobs at once get two different instances ------------------------------
for k in 1 2; do
	timeout -s KILL 30 "${IN[@]}" srun --gres=gpu:3g.40gb:1 sh -c 'echo $CUDA_VISIBLE_DEVICES; sleep 2' \
		>"$T/job$k.out" 2>"$T/job$k.err" &
	eval "JOB$k=\$!"
done
wait "$JOB1"
rc1=$?
wait "$JOB2"
rc2=$?
A=$(cat "$T/job1.out") C=$(cat "$T/job2.out")
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "$A" != "$C" ] && grep -qxF "$A" <<<"$MIG3" &&
	grep -qxF "$C" <<<"$MIG3"; then
	ok two-jobs
else
	fail two-jobs "got '$A' ($rc1) and '$C' ($rc2): $(cat "$T/job1.err" "$T/job2.err")"
fi

# ---- a job on the software partition: the interposer, the quota ----------------
SAN=$(ldd "$PROBE" 2>/dev/null | awk '/libasan/ { print $3; exit }')
if srun_ --gres=gpu:1g.6gb:1 env ${SAN:+LD_PRELOAD=$SAN} \
	LD_LIBRARY_PATH="$ROOT/$B:$ROOT/$B/tests/interpose/stub" ASAN_OPTIONS=detect_leaks=0 \
	sh -c 'echo "env $LD_PRELOAD $VMIG_MEM_LIMIT $VMIG_PARTITION"; exec "$0" instance 6016' "$PROBE"; then
	if grep -q "^env .*$ROOT/$B/interpose/libvmig-cuda.so 6308233216 GPU-.*/gi3$" <<<"$OUT" &&
		grep -q '^total 6016 MiB, free 6016 MiB' <<<"$OUT" &&
		grep -q 'exact, shared with a child' <<<"$OUT"; then
		ok soft-quota
	else
		fail soft-quota "$(head -c 600 <<<"$OUT")"
	fi
else
	fail soft-quota "srun failed: $ERR $(head -c 600 <<<"$OUT")"
fi

# ---- a GPU that is not vmig's: the TaskProlog refuses ------------------------
if srun_ --gres=gpu:plain:1 printenv CUDA_VISIBLE_DEVICES; then
	fail refuse-foreign "the job ran: $OUT"
elif grep -q "^vmig: slurm task-prolog: gres index 3 ($ETC/gres.conf line [0-9]*) matches no GPU instance of vmig on this node\$" <<<"$OUT" &&
	grep -q 'TaskProlog failed status=6' <<<"$ERR"; then
	ok refuse-foreign
else
	fail refuse-foreign "stdout: $OUT stderr: $ERR; slurmd: $(grep -i prolog "$T/log/slurmd.log" | tail -3)"
fi

stop_all
exit $failed
