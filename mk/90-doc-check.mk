# README.md's examples: tests/doc-check.sh runs every vmig command of its
# shell blocks in order on a fresh simulated state (docs/cli.md, "Tests").
# `make doc-check` runs it alone; `make check` runs it with the other suites.
# It needs the command, vmig's NVML library (the soft backend's hardware) and
# the interposer (which `vmig run` preloads).
DOC_CHECK_DEPS := $(B)/vmig $(B)/libnvidia-ml.so.1 $(IP_LIB)

.PHONY: doc-check
doc-check: $(DOC_CHECK_DEPS)
	@B=$(B) bash tests/doc-check.sh

TESTS += tests/doc-check.sh
