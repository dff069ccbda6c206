# libvmig: every .c under lib/ and lib/backend/, plus the accounting-region
# helpers of iface/ that the interposer shares, as a static archive (linked
# into the command, the tests and the other shared objects) and as a shared
# library whose exports the version script pins to the vmig_ names.
IFACE_SRCS := iface/region.c
LIB_SRCS := $(sort $(wildcard lib/*.c lib/backend/*.c)) $(IFACE_SRCS)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
LIB_LIBS := -ldl -lpthread

$(B)/libvmig.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/libvmig.so.0: $(LIB_OBJS) lib/libvmig.map
	$(CC) -shared -Wl,-soname,libvmig.so.0 -Wl,--version-script=lib/libvmig.map \
		-Wl,-z,defs $(VMIG_LDFLAGS) -o $@ $(LIB_OBJS) $(LIB_LIBS)

ALL_TARGETS += $(B)/libvmig.a $(B)/libvmig.so.0
INSTALL_LIB += $(B)/libvmig.so.0
