#!/usr/bin/env bash
# pynvml.sh — runs tests/abi/pynvml_walk.py (ctypes, the machine's python3)
# on a fresh state with an H100 and an A100.  Under the sanitizer build the
# library needs the ASan runtime preloaded into the (uninstrumented) python.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
command -v python3 >/dev/null || { echo "skip - py/walk: no python3"; exit 0; }
. tests/lib/lib.sh
vmig_tmpdir dir
"$B/tests/abi/nvml_seed" "$dir" h100-80gb a100-40gb || { echo "FAIL - py/seed"; exit 1; }
pre=$(vmig_san_preload "$B/libnvidia-ml.so.1")
[ -z "$pre" ] || export ASAN_OPTIONS=detect_leaks=0:${ASAN_OPTIONS:-}
VMIG_STATE_DIR=$dir LD_PRELOAD=$pre python3 tests/abi/pynvml_walk.py "$B/libnvidia-ml.so.1"
