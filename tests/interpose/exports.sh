#!/usr/bin/env bash
# exports.sh — libvmig-cuda.so exports exactly the CUDA names listed in
# iface/hooks.def, plus dlsym: nothing of ours leaks into the host
# process's namespace, and no hooked name is missing.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
lib=$B/interpose/libvmig-cuda.so
want=$(sed -n 's/^VMIG_HOOK(\([A-Za-z0-9_]*\),.*/\1/p' iface/hooks.def; echo dlsym)
want=$(echo "$want" | sort)
got=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWiV]$/ {print $3}' | sed 's/@.*//' | sort)
if [ "$got" = "$want" ]; then
	echo "ok - exports are exactly hooks.def + dlsym ($(echo "$want" | wc -l) names)"
else
	echo "FAIL - exports differ from hooks.def: $(diff <(echo "$want") <(echo "$got") | tr '\n' ' ')"
	exit 1
fi
undef_cu=$(nm -D --undefined-only "$lib" | awk '{print $2}' | grep '^cu' || true)
if [ -z "$undef_cu" ]; then
	echo "ok - no link-time dependency on libcuda"
else
	echo "FAIL - undefined CUDA symbols: $undef_cu"
	exit 1
fi
