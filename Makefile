# Makefile — vmig's single, non-recursive build.
#
# The variables and the compile rule live here; each module's fragment in
# mk/*.mk adds its objects, programs and test suites to them.  Everything is
# built under $(B) (build/ by default, build-asan/ for the sanitizer build).
#
#   make            libvmig (static and shared) and the vmig command
#   make demo       a short walkthrough on a fresh simulated GPU
#   make check      the whole test suite
#   make check-programs  build what `make check` runs, without running it
#   make check-quick     the unit, CLI and ABI suites alone (what valgrind runs)
#   make asan       the whole test suite built with ASan+UBSan
#   make valgrind   the unit and CLI suites under valgrind (leaks are errors)
#   make fuzz       libFuzzer builds of every fuzz target (needs clang)
#   make bench      the benchmarks (ratios measured in one run)
#   make bench-build     build the benchmarks without running them (CI)
#   make doc-check  run every vmig example of README.md (tests/doc-check.sh)
#   make install    PREFIX=/usr/local DESTDIR=
#   make format     clang-format every C file (format-check: fail on a diff)
.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

VERSION := 0.1.0
PREFIX ?= /usr/local
PKGLIBDIR := $(PREFIX)/lib/vmig
DESTDIR ?=
B ?= build
SAN ?= 0

# -Wwrite-strings: string literals are const char[], so nothing writes to one.
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
	    -Wstrict-prototypes -Wno-unused-parameter -Wwrite-strings
OPT ?= -O2
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1
endif
# Fortified libc calls (buffer sizes checked where the compiler knows them),
# which need optimisation, and not under a sanitizer: ASan and TSan
# intercept the plain functions, not the __*_chk ones fortifying calls, so
# they would check less.  -U first: a compiler may define it already, and a
# redefinition is a warning.
ifeq ($(strip $(SANFLAGS))$(filter -O0,$(OPT)),)
HARDEN_CPPFLAGS := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif
# Every object sees the public header (include/) and the interfaces shared
# between deliverables (iface/); each module adds its own folder below, so
# no module can include another's internal headers.
VMIG_CPPFLAGS := -Iinclude -Iiface -D_GNU_SOURCE -DVMIG_VERSION='"$(VERSION)"' $(HARDEN_CPPFLAGS)
VMIG_CFLAGS := -std=gnu11 $(OPT) -g $(WARNINGS) -fPIC -fvisibility=hidden \
	       -fstack-protector-strong $(SANFLAGS)
VMIG_LDFLAGS := -Wl,-z,relro -Wl,-z,now $(SANFLAGS) $(LDFLAGS)

# Filled in by the fragments.
ALL_TARGETS :=
TEST_PROGRAMS :=
TESTS :=
BENCHES :=
FUZZERS :=
INSTALL_BIN :=
INSTALL_LIB :=

# Include paths of each module: product code sees only its own folder;
# tests see the module they test and the shared helpers in tests/lib/.
$(B)/obj/lib/%.o $(B)/obj/iface/%.o: VMIG_CPPFLAGS += -Ilib
$(B)/obj/cli/%.o: VMIG_CPPFLAGS += -Icli
$(B)/obj/nvml/%.o: VMIG_CPPFLAGS += -Invml
$(B)/obj/interpose/%.o: VMIG_CPPFLAGS += -Iinterpose
$(B)/obj/tests/%.o: VMIG_CPPFLAGS += -Itests/lib
$(B)/obj/tests/unit/%.o $(B)/obj/tests/state/%.o $(B)/obj/tests/abi/%.o: VMIG_CPPFLAGS += -Ilib
$(B)/obj/tests/fuzz/%.o: VMIG_CPPFLAGS += -Icli -Ilib
$(B)/obj/tests/interpose/%.o: VMIG_CPPFLAGS += -Iinterpose

# -Wconversion (in C it brings -Wsign-conversion) in every module that is
# clean of it, so a conversion that may change a value is written as a cast.
# Not yet in tests/unit: test_state.c and test_store.c pass a uint64_t
# expression as an unsigned count to gen_state.
CONVERSION_CLEAN := lib iface cli nvml interpose tests/abi tests/state tests/interpose \
		    tests/fuzz tests/soft bench
$(foreach m,$(CONVERSION_CLEAN),$(eval $$(B)/obj/$(m)/%.o: MODULE_CFLAGS += -Wconversion))

# CFLAGS come last, so that they can turn off what the module asks for.
$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(VMIG_CPPFLAGS) $(CPPFLAGS) $(VMIG_CFLAGS) $(MODULE_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

include $(sort $(wildcard mk/*.mk))

.PHONY: all check check-programs check-quick asan valgrind demo bench bench-build fuzz install \
	clean format format-check
all: $(ALL_TARGETS)

check-programs: $(ALL_TARGETS) $(TEST_PROGRAMS)

check: check-programs
	@B=$(B) SAN=$(SAN) tests/run.sh $(TESTS)

# A cheap subset, the suites make valgrind runs, natively: CI runs it on the
# clang build, where the whole suite would only repeat the GCC build's run.
check-quick: check-programs
	@B=$(B) SAN=$(SAN) tests/run.sh $(VALGRIND_TESTS)

asan:
	$(MAKE) B=build-asan SAN=1 check

valgrind: $(ALL_TARGETS) $(TEST_PROGRAMS)
	@B=$(B) VMIG_VALGRIND=1 tests/run.sh $(VALGRIND_TESTS)

demo: $(B)/vmig
	@B=$(B) tests/demo.sh

bench-build: $(ALL_TARGETS) $(BENCHES)

bench: bench-build
	@for b in $(BENCH_RUNS); do echo "== $$b"; B=$(B) $$b || exit 1; done

fuzz: $(FUZZERS)

# libvmig is not a public library: its API changes with every deliverable
# built on it, and all of them live in this tree and link it statically, so
# neither libvmig nor its header is installed (docs/install.md).  What is
# installed: the command, and the two libraries other programs load, in
# $(PKGLIBDIR), where `vmig run` looks for the interposer (../lib/vmig
# beside the binary) and container specs will name them.
install: $(ALL_TARGETS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PKGLIBDIR)
	install -m 755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(INSTALL_LIB) $(DESTDIR)$(PKGLIBDIR)/
	ln -sf libnvidia-ml.so.1 $(DESTDIR)$(PKGLIBDIR)/libnvidia-ml.so

clean:
	rm -rf build build-asan build-fuzz build-clang

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Fails when any C file differs from what .clang-format makes of it.
format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

-include $(shell find $(B) -name '*.d' 2>/dev/null)
