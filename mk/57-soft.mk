# Software partitions: the end-to-end test (tests/soft/e2e.sh) runs the vmig
# command, whose soft backend finds simulated GPUs through our
# libnvidia-ml.so.1, with a do-nothing stand-in for the interposer, built
# without the sanitizers so that it loads into uninstrumented programs such
# as env(1).
SOFT_STUB := $(B)/tests/soft/libstub-interposer.so

$(SOFT_STUB): tests/soft/stub_interposer.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -o $@ $<

# tests/soft/inside.sh: programs inside software partitions, started by
# `vmig run` with the real interposer over the stand-in libcuda (the probe of
# tests/interpose), and a stand-in MPS control daemon.
SOFT_FAKE_MPS := $(B)/tests/soft/fake_mps

$(SOFT_FAKE_MPS): $(B)/obj/tests/soft/fake_mps.o
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $^

TEST_PROGRAMS += $(SOFT_STUB) $(SOFT_FAKE_MPS)
TESTS += tests/soft/e2e.sh tests/soft/inside.sh tests/soft/tenancy.sh
