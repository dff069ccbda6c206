# Unit tests: each tests/unit/test_*.c is one program (tests/lib/harness.h)
# linked against the static libvmig, so it can reach internal functions too.
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:%.c=$(B)/%)

$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

TEST_PROGRAMS += $(UNIT_BINS)
TESTS += $(UNIT_BINS)
VALGRIND_TESTS += $(UNIT_BINS)
