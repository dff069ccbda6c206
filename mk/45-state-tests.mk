# State-store system tests (tests/state/): writers killed at random moments
# (crash), sixteen processes changing one state directory at once
# (parallel), and writers, readers and NVML threads under sustained load
# (load, which needs the NVML library built).  Each is a program linked
# against the static libvmig that prints ok/FAIL lines like the unit tests.
STATE_TEST_SRCS := $(sort $(wildcard tests/state/*.c))
STATE_TEST_BINS := $(STATE_TEST_SRCS:%.c=$(B)/%)

$(B)/tests/state/%: $(B)/obj/tests/state/%.o $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

$(B)/tests/state/load: $(B)/libnvidia-ml.so.1

TEST_PROGRAMS += $(STATE_TEST_BINS)
TESTS += $(STATE_TEST_BINS)
