# Fuzz targets: tests/fuzz/fuzz_<name>.c each define LLVMFuzzerTestOneInput.
# `make fuzz` builds them with clang's libFuzzer into build-fuzz/; `make
# check` links each with tests/fuzz/replay.c and replays its corpus,
# tests/fuzz/corpus/<name>/, so every input ever found interesting stays a
# regression test.
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
REPLAY_BINS := $(FUZZ_NAMES:%=$(B)/tests/fuzz/replay_%)
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined
FUZZ_FLAGS := -std=gnu11 -g -O1 $(WARNINGS) -Wconversion -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
	      -Iinclude -Iiface -Ilib -Icli -Invml -Itests/lib -D_GNU_SOURCE -DVMIG_VERSION='"$(VERSION)"'

$(B)/tests/fuzz/replay_%: $(B)/obj/tests/fuzz/fuzz_%.o $(B)/obj/tests/fuzz/replay.o $(filter-out $(B)/obj/cli/main.o,$(CLI_OBJS)) $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $^ $(LIB_LIBS)

# fuzz_nvml drives vmig's NVML library, whose objects it links in (before
# the library objects they call).
$(B)/tests/fuzz/replay_nvml: $(B)/obj/tests/fuzz/fuzz_nvml.o $(B)/obj/tests/fuzz/replay.o $(NVML_OBJS) $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $^ $(LIB_LIBS)

# The library and the command's objects are instrumented for libFuzzer once
# (fuzzer-no-link) and linked into every target, which -fsanitize=fuzzer
# gives libFuzzer's main.
FUZZ_OBJS := $(patsubst %.c,build-fuzz/obj/%.o,$(LIB_SRCS) $(filter-out cli/main.c,$(CLI_SRCS)))

build-fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -c -o $@ $<

build-fuzz/fuzz_%: build-fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIB_LIBS)

build-fuzz/fuzz_nvml: build-fuzz/obj/tests/fuzz/fuzz_nvml.o $(NVML_SRCS:%.c=build-fuzz/obj/%.o) $(FUZZ_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIB_LIBS)

-include $(shell find build-fuzz -name '*.d' 2>/dev/null)

TEST_PROGRAMS += $(REPLAY_BINS)
TESTS += $(REPLAY_BINS)
FUZZERS += $(FUZZ_NAMES:%=build-fuzz/fuzz_%)
