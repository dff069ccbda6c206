# The vmig command.
CLI_SRCS := $(sort $(wildcard cli/*.c))
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/obj/%.o)

$(B)/vmig: $(CLI_OBJS) $(B)/libvmig.a
	$(CC) $(VMIG_LDFLAGS) -o $@ $(CLI_OBJS) $(B)/libvmig.a $(LIB_LIBS)

ALL_TARGETS += $(B)/vmig
INSTALL_BIN += $(B)/vmig
