#!/usr/bin/env bash
# cli_nvml.sh — the CLI case suite (tests/cli/) a second time, with the vmig
# command working through the nvml backend against vmig's own
# libnvidia-ml.so.1: every case must print exactly what the sim backend
# prints.  Test names get a "cli-nvml/" prefix to tell the two runs apart.
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
export VMIG_TEST_BACKEND=nvml
export LD_LIBRARY_PATH="$PWD/$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
tests/cli/run.sh "$@" | sed -E 's/^(ok|FAIL|skip) - cli\//\1 - cli-nvml\//'
