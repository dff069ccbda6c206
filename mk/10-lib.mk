# libvmig: every .c under lib/ and lib/backend/, plus the accounting-region
# helpers of iface/ that the interposer shares, as a static archive linked
# into the command, the tests and the simulated NVML library.  It is not a
# public library, so no shared libvmig is built or installed (Makefile,
# install).
IFACE_SRCS := iface/region.c iface/limits_file.c
LIB_SRCS := $(sort $(wildcard lib/*.c lib/backend/*.c)) $(IFACE_SRCS)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
# zlib (Debian zlib1g-dev): the state file's CRC-32 (lib/state.c).  libyaml
# (Debian libyaml-dev) reads mig-parted configs (lib/config.c).
LIB_BASE_LIBS := -ldl -lpthread -lz
YAML_LIBS := $(shell pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)
LIB_LIBS := $(LIB_BASE_LIBS) $(YAML_LIBS)
# The objects that need libyaml, which the simulated NVML library leaves out.
LIB_YAML_OBJS := $(B)/obj/lib/config.o

$(B)/libvmig.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

ALL_TARGETS += $(B)/libvmig.a
