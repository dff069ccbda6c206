#!/usr/bin/env bash
# include-check.sh — every product module includes only its own headers,
# the interfaces between deliverables (iface/) and the public header
# (include/).  The per-module include paths of the Makefile already refuse
# another module's internal header by name; this check closes the other
# doors: a relative path ("../lib/x.h"), an absolute one, or a name that
# only resolves somewhere else.  One "ok - " or "FAIL - " line per module.
set -u
cd "$(dirname "$0")/.." || exit 2
status=0
for mod in lib cli nvml interpose iface runtime k8s; do
	bad=()
	while IFS= read -r file; do
		dir=$(dirname "$file")
		while IFS= read -r inc; do
			case "$inc" in
			/* | *..*)
				bad+=("$file: \"$inc\" is not a plain name")
				continue
				;;
			esac
			# protoc-c's header of one of the module's own .proto files (built).
			if [ -e "$dir/$inc" ] || [ -e "$mod/$inc" ] || [ -e "iface/$inc" ] ||
				[ -e "include/$inc" ] || [ -e "$mod/${inc%.pb-c.h}.proto" ]; then
				continue
			fi
			bad+=("$file: \"$inc\" is not in $mod/, iface/ or include/")
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
	done < <(git ls-files "$mod/*.c" "$mod/*.h" "$mod/*.def" "$mod/*.in")
	if [ "${#bad[@]}" -eq 0 ]; then
		echo "ok - includes/$mod"
	else
		echo "FAIL - includes/$mod: ${bad[*]}"
		status=1
	fi
done
exit $status
