# The simulated libnvidia-ml.so.1 (nvml/): NVML's ABI over the sim backend,
# with libvmig's objects linked inside and every export pinned by a version
# script generated from nvml/symbols.def, the one list of NVML names.
NVML_SRCS := $(sort $(wildcard nvml/*.c))
NVML_OBJS := $(NVML_SRCS:%.c=$(B)/obj/%.o)

$(B)/nvml/libnvidia-ml.map: nvml/symbols.def
	@mkdir -p $(@D)
	{ echo '{ global:'; sed -n 's/^NVML_[A-Z]*(\([A-Za-z0-9_]*\)).*/\t\1;/p' $<; \
	  echo 'local: *; };'; } > $@

$(B)/libnvidia-ml.so.1: $(NVML_OBJS) $(LIB_OBJS) $(B)/nvml/libnvidia-ml.map
	$(CC) -shared -Wl,-soname,libnvidia-ml.so.1 \
		-Wl,--version-script=$(B)/nvml/libnvidia-ml.map -Wl,-z,defs $(VMIG_LDFLAGS) \
		-o $@ $(NVML_OBJS) $(LIB_OBJS) $(LIB_LIBS)

$(B)/libnvidia-ml.so: $(B)/libnvidia-ml.so.1
	ln -sf libnvidia-ml.so.1 $@

ALL_TARGETS += $(B)/libnvidia-ml.so.1 $(B)/libnvidia-ml.so
INSTALL_LIB += $(B)/libnvidia-ml.so.1
