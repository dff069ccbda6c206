# shellcheck shell=bash
# podman-lib.sh — how the tests run containers with podman 4.3 here, sourced
# after tests/containers/setup.sh by the tests that start containers
# (tests/containers/podman.sh, tests/k8s/k8s.sh), which set NAME (a prefix
# for their containers' names) first.  podman runs as root with runc and
# cgroupfs, --network none and small ulimits (a container may not raise
# them here), on a rootfs folder made from busybox-static ($R): no image,
# no registry.  Specs go to /var/run/cdi, the only directory podman 4.3
# reads, as $SPEC (the kind of setup.sh); at exit the containers named
# $NAME-*, the spec and the temporary directories are removed.
#
#   podman_probe            skips the test (saying why) where podman cannot
#                           start a container at all
#   alloc_mounts            sets CMOUNTS, the mounts that run
#                           tests/containers/cuda_alloc in a container, and PRE
#   alloc_run [OPTS] -- ARGS  cuda_alloc ARGS in a container ($NAME-<n>) given
#                           podman run OPTS (--device ..., -d, --rm); its output
#                           in $TMP/cout/$NAME-<n> and $TMP/out, podman's
#                           stderr in $TMP/err; the status of podman
R=$TMP/rootfs
mkdir -p "$R/bin" "$R/dev" "$R/proc" "$R/sys" "$R/etc" "$R/tmp" "$R/run" "$R/opt"
cp /bin/busybox "$R/bin/" && chroot "$R" /bin/busybox --install -s /bin || skip "cannot make the rootfs"
echo 'root:x:0:0:root:/:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
PODMAN=(podman --cgroup-manager=cgroupfs)
RUNOPTS=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
SPECDIR=/var/run/cdi
made_specdir=0
[ -d $SPECDIR ] || { mkdir -p $SPECDIR && made_specdir=1; }
SPEC=$SPECDIR/${KIND%/*}-${KIND#*/}.json
podman_cleanup() {
	local ids
	ids=$(podman ps -a --format '{{.Names}}' 2>/dev/null | grep "^$NAME-" || true)
	[ -n "$ids" ] && podman rm -f $ids >/dev/null 2>&1
	rm -f "$SPEC"
	[ $made_specdir = 1 ] && rmdir $SPECDIR 2>/dev/null
	rm -rf "${VMIG_TMPDIRS[@]}"
}
trap podman_cleanup EXIT

podman_probe() {
	local out
	out=$("${PODMAN[@]}" --runtime runc run --rm --name "$NAME-probe" "${RUNOPTS[@]}" --rootfs "$R" \
		/bin/true 2>&1) || skip "podman cannot start a container here: $(tail -1 <<<"$out")"
}

# The program allocates through the CUDA driver API (the stand-in libcuda.so.1,
# under the interposer a software partition's spec preloads); it is linked
# dynamically (a preloaded interposer needs a dynamic program), so the host's
# shared libraries are bind-mounted read-only, with the program and the
# stand-in driver.  Under the sanitizers the ASan runtime must be loaded
# first, before the interposer ($SAN, put first by $PRE).
alloc_mounts() {
	ALLOC=$ROOT/$B/tests/containers/cuda_alloc
	LOADER=$(readlink -f /lib64/ld-linux-x86-64.so.2)
	LIBDIR=$(dirname "$LOADER")
	mkdir -p "$TMP/cout"
	CMOUNTS=(-v "$LIBDIR:$LIBDIR:ro" -v "$LOADER:/lib64/ld-linux-x86-64.so.2:ro"
		-v "$ALLOC:/opt/vmig/containers/cuda_alloc:ro"
		-v "$ROOT/$B/tests/interpose/stub:/opt/vmig/interpose/stub:ro" -v "$TMP/cout:/out")
	# Its real path, under the library folder that is mounted (/lib may be a link on the host).
	SAN=$(ldd "$ALLOC" 2>/dev/null | awk '/libasan/ { print $3; exit }')
	[ -n "$SAN" ] && SAN=$(readlink -f "$SAN")
	PRE=
	[ -n "$SAN" ] && PRE="LD_PRELOAD=$SAN:\$LD_PRELOAD"
}

alloc_run() {
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	n=$((n + 1))
	"${PODMAN[@]}" --runtime runc run "${opts[@]}" --name "$NAME-$n" "${RUNOPTS[@]}" \
		"${CMOUNTS[@]}" -e ASAN_OPTIONS=detect_leaks=0 -e "LD_LIBRARY_PATH=$LIBDIR" --rootfs "$R" \
		/bin/sh -c "$PRE exec /opt/vmig/containers/cuda_alloc $* >/out/$NAME-$n 2>&1" \
		>"$TMP/podman.out" 2>"$TMP/err"
	local st=$?
	cp "$TMP/cout/$NAME-$n" "$TMP/out" 2>/dev/null || : >"$TMP/out"
	return $st
}
