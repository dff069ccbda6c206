# CDI specs (lib/cdi.c) are JSON written with jansson (Debian libjansson-dev).
# Read after 10-lib.mk and before 50-nvml.mk: the simulated NVML library
# leaves the objects out that need libyaml or jansson (LIB_YAML_OBJS), so
# NVML clients need neither.
JANSSON_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
LIB_LIBS += $(JANSSON_LIBS)
LIB_YAML_OBJS += $(B)/obj/lib/cdi.o $(B)/obj/lib/cdi_keep.o
