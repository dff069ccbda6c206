# State-store system tests (tests/state/): writers killed at random moments
# (crash) and sixteen processes changing one state directory at once
# (parallel).  Each is a program linked against the static libvmig that
# prints ok/FAIL lines like the unit tests.
STATE_TEST_SRCS := $(sort $(wildcard tests/state/*.c))
STATE_TEST_BINS := $(STATE_TEST_SRCS:%.c=$(B)/%)

$(B)/tests/state/%: $(B)/obj/tests/state/%.o $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

TEST_PROGRAMS += $(STATE_TEST_BINS)
TESTS += $(STATE_TEST_BINS)
