#!/usr/bin/env bash
# stubs_doc.sh — every NVML_STUB of nvml/symbols.def is explained in
# docs/nvml.md: it matches one of the shell globs of the table "What has real
# semantics, and why the rest does not", and no NVML_IMPL is listed there.
set -u
cd "$(dirname "$0")/../.." || exit 2
table=$(sed -n '/^## What has real semantics/,/^## /p' docs/nvml.md | grep '^| `')
mapfile -t globs < <(sed 's/^| \(.*\) | [^|]*|$/\1/' <<<"$table" | grep -o '`[^`]*`' | tr -d '`')
[ "${#globs[@]}" -gt 10 ] || { echo "FAIL - stubs-doc: no table of stubs in docs/nvml.md"; exit 1; }
failed=0
while read -r kind name; do
	hit=
	for g in "${globs[@]}"; do
		# shellcheck disable=SC2053 # the right side is a glob on purpose
		[[ $name == $g ]] && hit=$g && break
	done
	if [ "$kind" = STUB ] && [ -z "$hit" ]; then
		echo "FAIL - stubs-doc/$name: a stub that docs/nvml.md does not explain"
		failed=1
	fi
	# An explicit name (not a pattern) that is implemented means the doc is stale.
	if [ "$kind" = IMPL ] && [ -n "$hit" ] && [[ $hit != *'*'* ]]; then
		echo "FAIL - stubs-doc/$name: implemented, but docs/nvml.md lists it as a stub"
		failed=1
	fi
done < <(sed -n 's/^NVML_\([A-Z]*\)(\([A-Za-z0-9_]*\)).*/\1 \2/p' nvml/symbols.def)
[ "$failed" = 0 ] && echo "ok - stubs-doc: every stub explained"
exit $failed
