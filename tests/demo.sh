#!/usr/bin/env bash
# demo.sh — `make demo`: a short walkthrough of vmig on a fresh simulated
# H100 in a temporary state directory (the sim backend, always), printing each
# command before its output.
set -eu
cd "$(dirname "$0")/.."
VMIG=$PWD/${B:-build}/vmig
. tests/lib/lib.sh
export VMIG_BACKEND=sim VMIG_STATE_DIR
vmig_tmpdir VMIG_STATE_DIR

step() {
	printf '\n$ vmig%s\n' "${*:+ $*}"
	"$VMIG" "$@"
}

echo "State directory: $VMIG_STATE_DIR (removed at the end)"
step sim reset h100-80gb
step
step -mig 1
step mig -lgip
step mig -lgipp
step mig -cgi 9,1g.10gb,19 -C
step mig -cgi 14
step mig -lgi
step mig -cci 0,0 -gi 4
step mig -lcip -gi 4
step mig -lci
step -L
step mig -dci
step mig -dgi
step mig -lgi || true
step -mig 0
