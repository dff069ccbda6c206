# Fuzz targets: tests/fuzz/fuzz_<name>.c each define LLVMFuzzerTestOneInput.
# `make fuzz` builds them with clang's libFuzzer into build-fuzz/; `make
# check` links each with tests/fuzz/replay.c and replays its corpus,
# tests/fuzz/corpus/<name>/, so every input ever found interesting stays a
# regression test.
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
REPLAY_BINS := $(FUZZ_NAMES:%=$(B)/tests/fuzz/replay_%)
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Iiface -Ilib -Icli -D_GNU_SOURCE

$(B)/tests/fuzz/replay_%: $(B)/obj/tests/fuzz/fuzz_%.o $(B)/obj/tests/fuzz/replay.o $(filter-out $(B)/obj/cli/main.o,$(CLI_OBJS)) $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $^ $(LIB_LIBS)

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRCS) $(CLI_SRCS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -DVMIG_VERSION='"$(VERSION)"' -o $@ $< $(LIB_SRCS) \
		$(filter-out cli/main.c,$(CLI_SRCS)) $(LIB_LIBS)

TEST_PROGRAMS += $(REPLAY_BINS)
TESTS += $(REPLAY_BINS)
FUZZERS += $(FUZZ_NAMES:%=build-fuzz/fuzz_%)
