# Kubernetes: vmig-device-plugin (k8s/), a kubelet device plugin on gRPC's C
# core (Debian libgrpc-dev, its unsecure library: the plugin speaks
# cleartext gRPC over unix sockets only) with the messages of
# k8s/deviceplugin.proto in C from protoc-c (Debian protobuf-c-compiler,
# libprotobuf-c-dev).  The generated code goes to $(B)/gen/k8s/ and is
# compiled with the plugin's own flags.
# The shared libraries bring their own dependencies (abseil, c-ares), which
# pkg-config would list one by one for a static link.
GRPC_LIBS := -lgrpc_unsecure -lgpr
PROTOBUF_C_LIBS := $(shell pkg-config --libs libprotobuf-c 2>/dev/null || echo -lprotobuf-c)
K8S_GEN := $(B)/gen/k8s
K8S_SRCS := $(sort $(wildcard k8s/*.c))
K8S_OBJS := $(K8S_SRCS:%.c=$(B)/obj/%.o) $(B)/obj/gen/k8s/deviceplugin.pb-c.o
K8S_BIN := $(B)/vmig-device-plugin

$(K8S_GEN)/deviceplugin.pb-c.c: k8s/deviceplugin.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=k8s --c_out=$(K8S_GEN) deviceplugin.proto
$(K8S_GEN)/deviceplugin.pb-c.h: $(K8S_GEN)/deviceplugin.pb-c.c

$(B)/obj/gen/k8s/deviceplugin.pb-c.o: $(K8S_GEN)/deviceplugin.pb-c.c
	@mkdir -p $(@D)
	$(CC) $(VMIG_CPPFLAGS) -I$(K8S_GEN) $(CPPFLAGS) $(VMIG_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/obj/k8s/%.o: VMIG_CPPFLAGS += -Ik8s -I$(K8S_GEN)
$(B)/obj/k8s/%.o: MODULE_CFLAGS += -Wconversion
$(K8S_SRCS:%.c=$(B)/obj/%.o): $(K8S_GEN)/deviceplugin.pb-c.h

$(K8S_BIN): $(K8S_OBJS) $(B)/libvmig.a
	$(CC) $(VMIG_LDFLAGS) -o $@ $(K8S_OBJS) $(B)/libvmig.a $(LIB_LIBS) $(GRPC_LIBS) $(PROTOBUF_C_LIBS)

ALL_TARGETS += $(K8S_BIN)
INSTALL_BIN += $(K8S_BIN)

# tests/k8s/k8s.sh: the plugin against a stand-in kubelet (tests/k8s/kubelet.py,
# Debian's python3-grpcio, stubs from the same .proto files), containers
# started by podman from the CDI names Allocate gives; skipped, saying why,
# where root, podman, python3-grpcio or protoc's gRPC plugin are missing.
TESTS += tests/k8s/k8s.sh
