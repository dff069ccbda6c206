# The simulated libnvidia-ml.so.1 (nvml/): NVML's ABI over the sim backend,
# with libvmig's objects linked inside and every export pinned by a version
# script generated from nvml/symbols.def, the one list of NVML names.
# -z nodelete: a dlclose never unmaps it, so a thread of libvmig's that is
# still waiting for the state lock (lib/os.c) cannot return into freed code.
NVML_SRCS := $(sort $(wildcard nvml/*.c))
NVML_OBJS := $(NVML_SRCS:%.c=$(B)/obj/%.o)

$(B)/nvml/libnvidia-ml.map: nvml/symbols.def
	@mkdir -p $(@D)
	{ echo '{ global:'; sed -n 's/^NVML_[A-Z]*(\([A-Za-z0-9_]*\)).*/\t\1;/p' $<; \
	  echo 'local: *; };'; } > $@

# Without the config reader: NVML clients need no libyaml.
NVML_LIB_OBJS := $(filter-out $(LIB_YAML_OBJS),$(LIB_OBJS))

$(B)/libnvidia-ml.so.1: $(NVML_OBJS) $(NVML_LIB_OBJS) $(B)/nvml/libnvidia-ml.map
	$(CC) -shared -Wl,-soname,libnvidia-ml.so.1 \
		-Wl,--version-script=$(B)/nvml/libnvidia-ml.map -Wl,-z,defs -Wl,-z,nodelete \
		$(VMIG_LDFLAGS) \
		-o $@ $(NVML_OBJS) $(NVML_LIB_OBJS) $(LIB_BASE_LIBS)

$(B)/libnvidia-ml.so: $(B)/libnvidia-ml.so.1
	ln -sf libnvidia-ml.so.1 $@

ALL_TARGETS += $(B)/libnvidia-ml.so.1 $(B)/libnvidia-ml.so
INSTALL_LIB += $(B)/libnvidia-ml.so.1

# ABI tests (tests/abi/).  The client is compiled against iface/nvml_abi.h
# alone and loads the library with dlopen, as the bindings do; nvml_seed
# writes the simulated GPUs each test starts from.
# -Wconversion: both modules it builds (tests/abi and bench) are clean of it.
ABI_CFLAGS := -std=gnu11 $(OPT) -g $(WARNINGS) -Wconversion -D_GNU_SOURCE $(HARDEN_CPPFLAGS) \
	      $(SANFLAGS) $(CFLAGS)

$(B)/tests/abi/nvml_client: tests/abi/nvml_client.c iface/nvml_abi.h $(wildcard tests/lib/*.h)
	@mkdir -p $(@D)
	$(CC) -Iiface -Itests/lib $(ABI_CFLAGS) -o $@ $< $(VMIG_LDFLAGS) -ldl -lpthread

$(B)/tests/abi/nvml_seed: $(B)/obj/tests/abi/nvml_seed.o $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

# The calls clients make beyond the MIG API (processes, affinity, events, ...):
# a client of the same kind, which also starts vmig (vmig run, changes).
$(B)/tests/abi/nvml_host: tests/abi/nvml_host.c iface/nvml_abi.h $(wildcard tests/lib/*.h)
	@mkdir -p $(@D)
	$(CC) -Iiface -Itests/lib $(ABI_CFLAGS) -o $@ $< $(VMIG_LDFLAGS) -ldl -lpthread

TEST_PROGRAMS += $(B)/tests/abi/nvml_host
TESTS += $(B)/tests/abi/nvml_host
VALGRIND_TESTS += $(B)/tests/abi/nvml_host

# Real clients (gpustat, nvtop, hwloc's NVML plugin) and gpustat's and
# nvitop's call sequences through ctypes, on a `vmig run` program.
TESTS += tests/abi/clients.sh
# Every stub of nvml/symbols.def is explained in docs/nvml.md.
TESTS += tests/abi/stubs_doc.sh

TEST_PROGRAMS += $(B)/tests/abi/nvml_client $(B)/tests/abi/nvml_seed $(B)/libnvidia-ml.so.1
TESTS += $(B)/tests/abi/nvml_client tests/abi/symbols.sh tests/abi/pynvml.sh tests/abi/cli_nvml.sh

# bench_nvml: cached NVML queries per second as a ratio to a plain call.
$(B)/bench/bench_nvml: bench/bench_nvml.c iface/nvml_abi.h tests/lib/tmpdir.h $(B)/libnvidia-ml.so.1 $(B)/tests/abi/nvml_seed
	@mkdir -p $(@D)
	$(CC) -Iiface -Itests/lib $(ABI_CFLAGS) -o $@ $< $(VMIG_LDFLAGS) -ldl -lpthread

BENCHES += $(B)/bench/bench_nvml
BENCH_RUNS += $(B)/bench/bench_nvml

# The nvml backend of libvmig against our library (linked with the static libvmig).
$(B)/tests/abi/test_nvml_backend: $(B)/obj/tests/abi/test_nvml_backend.o $(B)/libvmig.a $(B)/libnvidia-ml.so.1
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

TEST_PROGRAMS += $(B)/tests/abi/test_nvml_backend
TESTS += $(B)/tests/abi/test_nvml_backend

# Threads, NVML processes and vmig commands changing one state at once; the
# final state must equal the replay of every success they logged.  Linked
# with libvmig to read and validate the final state.
$(B)/tests/abi/nvml_concurrency: $(B)/obj/tests/abi/nvml_concurrency.o $(B)/libvmig.a $(B)/libnvidia-ml.so.1 $(B)/vmig
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

TEST_PROGRAMS += $(B)/tests/abi/nvml_concurrency
TESTS += $(B)/tests/abi/nvml_concurrency

# fork() while threads are inside the library: every child's calls work.
$(B)/tests/abi/nvml_fork: $(B)/obj/tests/abi/nvml_fork.o $(B)/libvmig.a $(B)/libnvidia-ml.so.1
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

TEST_PROGRAMS += $(B)/tests/abi/nvml_fork
TESTS += $(B)/tests/abi/nvml_fork
VALGRIND_TESTS += $(B)/tests/abi/nvml_concurrency

# Both compiled ABI suites run under valgrind too (make valgrind): the
# library inside a client, and the nvml backend loading and unloading it.
VALGRIND_TESTS += $(B)/tests/abi/nvml_client $(B)/tests/abi/test_nvml_backend

# ThreadSanitizer run of the ABI client (threads and lock-free readers), by
# hand only: not part of check or CI.  setarch -R: TSan needs a fixed layout
# on kernels with high mmap randomisation.
.PHONY: tsan-nvml
tsan-nvml:
	$(MAKE) B=build/tsan SANFLAGS=-fsanitize=thread OPT=-O1 \
		build/tsan/libnvidia-ml.so.1 build/tsan/tests/abi/nvml_client build/tsan/tests/abi/nvml_seed
	B=build/tsan setarch -R build/tsan/tests/abi/nvml_client

# On a machine with an NVIDIA GPU: the nvml backend against the real driver,
# read-only (skips elsewhere, saying so).
TESTS += tests/gpu/nvml_compare.sh
