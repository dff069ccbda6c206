#!/usr/bin/env bash
# symbols.sh — the simulated libnvidia-ml.so.1 exports exactly the NVML names
# of tests/abi/nvml-symbols.txt (416: the real driver's exports and the names
# the bindings look up), no more, no fewer, and nvml/symbols.def (the list
# the version script and stubs come from) names the same set.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
lib=$B/libnvidia-ml.so.1
want=$(sort tests/abi/nvml-symbols.txt)
check() {
	if [ "$2" = "$want" ]; then
		echo "ok - $1"
	else
		echo "FAIL - $1: differs from nvml-symbols.txt"
		diff <(echo "$want") <(echo "$2") | head -20
	fi
}
check "exported dynamic symbols" "$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort)"
check "symbols.def" "$(sed -n 's/^NVML_[A-Z]*(\([A-Za-z0-9_]*\)).*/\1/p' nvml/symbols.def | sort)"
if [ "$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')" = libnvidia-ml.so.1 ]; then
	echo "ok - soname"
else
	echo "FAIL - soname"
fi
# No vmig internals leak out: a client must not bind to our helpers.
if nm -D --defined-only "$lib" | awk '{print $3}' | grep -qv '^nvml'; then
	echo "FAIL - only nvml names exported"
else
	echo "ok - only nvml names exported"
fi
