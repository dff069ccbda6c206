# libvmig-cuda.so: the LD_PRELOAD interposer for software partitions
# (interpose/), a stand-in libcuda.so.1 and the programs that test the
# interposer through it (tests/interpose/), and its benchmark.  The version
# script is generated from iface/hooks.def, so the library exports exactly
# the CUDA names it hooks, plus dlsym.
IP_SRCS := $(sort $(wildcard interpose/*.c)) $(IFACE_SRCS)
IP_OBJS := $(IP_SRCS:%.c=$(B)/obj/%.o)
IP_LIB := $(B)/interpose/libvmig-cuda.so
IP_MAP := $(B)/interpose/libvmig-cuda.map
IP_STUB := $(B)/tests/interpose/stub/libcuda.so.1
IP_STUB_NVML := $(B)/tests/interpose/stub/libnvidia-ml.so.1
IP_TESTDIR := $(B)/tests/interpose

# Under the sanitizers, the ASan runtime must be the first library loaded, so
# the test programs put it first in LD_PRELOAD, before the interposer.
ifeq ($(SAN),1)
$(B)/obj/tests/interpose/test_interpose.o $(B)/obj/bench/bench_interpose.o: \
	VMIG_CPPFLAGS += -DVMIG_SAN_PRELOAD='"$(shell $(CC) -print-file-name=libasan.so)"'
endif

$(IP_MAP): interpose/exports.map.in iface/hooks.def
	@mkdir -p $(@D)
	$(CC) -E -P -x c -Iinterpose -Iiface -o $@ $<

$(IP_LIB): $(IP_OBJS) $(IP_MAP)
	$(CC) -shared -Wl,-soname,libvmig-cuda.so -Wl,--version-script=$(IP_MAP) \
		-Wl,-z,defs $(VMIG_LDFLAGS) -o $@ $(IP_OBJS) -ldl -lpthread

# The stand-in driver and its NVML describe one simulated GPU (tests/interpose/sim.c),
# which the NVML library reads through the driver's test-only exports.
$(IP_STUB): $(B)/obj/tests/interpose/stub_cuda.o $(B)/obj/tests/interpose/sim.o mk/55-interpose.mk
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libcuda.so.1 -Wl,-Bsymbolic $(VMIG_LDFLAGS) -o $@ \
		$(filter %.o,$^) -lpthread

$(IP_STUB_NVML): $(B)/obj/tests/interpose/stub_nvml.o $(IP_STUB)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libnvidia-ml.so.1 $(VMIG_LDFLAGS) -o $@ $< $(IP_STUB) \
		-Wl,-rpath,'$$ORIGIN'

$(IP_TESTDIR)/probe: $(B)/obj/tests/interpose/probe.o $(B)/obj/iface/region.o $(IP_STUB)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/obj/iface/region.o $(IP_STUB) -Wl,-rpath,'$$ORIGIN/stub' -ldl -lpthread

$(IP_TESTDIR)/test_interpose: $(B)/obj/tests/interpose/test_interpose.o $(B)/obj/iface/region.o \
		$(B)/obj/iface/limits_file.o
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $^ -lpthread

# The accounting region and the configuration, tested without the driver.
$(IP_TESTDIR)/test_acct: $(B)/obj/tests/interpose/test_acct.o $(B)/obj/interpose/acct.o \
		$(B)/obj/interpose/config.o $(B)/obj/iface/region.o $(B)/obj/iface/limits_file.o
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $^ -lpthread

# The benchmark reads the probe's output with the tests' helpers (tests/lib/workout.h).
$(B)/obj/bench/bench_interpose.o: VMIG_CPPFLAGS += -Itests/lib

$(B)/bench/bench_interpose: $(B)/obj/bench/bench_interpose.o $(B)/obj/iface/limits_file.o $(IP_STUB)
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/obj/iface/limits_file.o $(IP_STUB) \
		-Wl,-rpath,'$$ORIGIN/../tests/interpose/stub' -ldl -lpthread

ALL_TARGETS += $(IP_LIB)
INSTALL_LIB += $(IP_LIB)
TEST_PROGRAMS += $(IP_STUB) $(IP_STUB_NVML) $(IP_TESTDIR)/probe $(IP_TESTDIR)/test_interpose \
	$(IP_TESTDIR)/test_acct $(IP_MAP)
TESTS += $(IP_TESTDIR)/test_acct $(IP_TESTDIR)/test_interpose tests/interpose/exports.sh \
	tests/gpu/gpu.sh tests/gpu/share.sh
BENCHES += $(B)/bench/bench_interpose $(IP_TESTDIR)/probe $(IP_STUB_NVML)
BENCH_RUNS += $(B)/bench/bench_interpose
