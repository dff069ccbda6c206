# Software partitions: the end-to-end test (tests/soft/e2e.sh) and what it
# runs: the vmig command with the simulator as the soft backend's hardware,
# and a do-nothing stand-in for the interposer, built without the
# sanitizers so that it loads into uninstrumented programs such as env(1).
SOFT_SIMHW := $(B)/tests/soft/vmig-simhw
SOFT_STUB := $(B)/tests/soft/libstub-interposer.so

$(SOFT_SIMHW): $(B)/obj/tests/soft/vmig_simhw.o $(filter-out $(B)/obj/cli/main.o,$(CLI_OBJS)) $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(SOFT_STUB): tests/soft/stub_interposer.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -o $@ $<

TEST_PROGRAMS += $(SOFT_SIMHW) $(SOFT_STUB)
TESTS += tests/soft/e2e.sh
