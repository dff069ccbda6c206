# Containers: vmig-container-runtime (runtime/), an OCI runtime wrapper that
# gives containers the devices they name through vmig's CDI edits, then
# execs runc; it links the static libvmig and jansson (mk/11-cdi-lib.mk).
RUNTIME_SRCS := $(sort $(wildcard runtime/*.c))
RUNTIME_OBJS := $(RUNTIME_SRCS:%.c=$(B)/obj/%.o)
RUNTIME_BIN := $(B)/vmig-container-runtime

$(B)/obj/runtime/%.o: VMIG_CPPFLAGS += -Iruntime
$(B)/obj/runtime/%.o: MODULE_CFLAGS += -Wconversion

$(RUNTIME_BIN): $(RUNTIME_OBJS) $(B)/libvmig.a
	$(CC) $(VMIG_LDFLAGS) -o $@ $(RUNTIME_OBJS) $(B)/libvmig.a $(LIB_LIBS)

ALL_TARGETS += $(RUNTIME_BIN)
INSTALL_BIN += $(RUNTIME_BIN)

# tests/containers/runtime.sh: the runtime on bundles of our own (no engine);
# tests/containers/podman.sh: specs and the runtime with podman and runc
# (skipped, saying why, where podman cannot start a container).
TESTS += tests/containers/runtime.sh tests/containers/podman.sh

# bench_runtime: the time the runtime adds to `runc run`, as a ratio to runc alone.
$(B)/bench/bench_runtime: bench/bench_runtime.c tests/lib/tmpdir.h $(ALL_TARGETS)
	@mkdir -p $(@D)
	$(CC) -Itests/lib $(ABI_CFLAGS) -o $@ $< $(VMIG_LDFLAGS) $(JANSSON_LIBS)

BENCHES += $(B)/bench/bench_runtime
BENCH_RUNS += $(B)/bench/bench_runtime

# tests/containers/keep.sh: specs kept current by every change (vmig cdi
# enable); its reader parses the spec with jansson while commands rewrite it.
$(B)/tests/containers/spec_reader: tests/containers/spec_reader.c
	@mkdir -p $(@D)
	$(CC) $(ABI_CFLAGS) -o $@ $< $(VMIG_LDFLAGS) $(JANSSON_LIBS)

TEST_PROGRAMS += $(B)/tests/containers/spec_reader
TESTS += tests/containers/keep.sh

# tests/containers/podman.sh: the program that allocates device memory in a
# software partition, in a container and beside it on the host (through the
# stand-in libcuda.so.1, found beside it as in the build tree).
$(B)/tests/containers/cuda_alloc: $(B)/obj/tests/containers/cuda_alloc.o $(IP_STUB)
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(IP_STUB) -Wl,-rpath,'$$ORIGIN/../interpose/stub'

TEST_PROGRAMS += $(B)/tests/containers/cuda_alloc
