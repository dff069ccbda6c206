# bench_store: the state store under load (writers, readers, NVML threads;
# tests/lib/load.h, shared with tests/state/load.c), linked against the
# static libvmig; it loads $(B)/libnvidia-ml.so.1.
$(B)/bench/bench_store: $(B)/obj/bench/bench_store.o $(B)/libvmig.a $(B)/libnvidia-ml.so.1
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

$(B)/obj/bench/bench_store.o: VMIG_CPPFLAGS += -Itests/lib

BENCHES += $(B)/bench/bench_store
BENCH_RUNS += $(B)/bench/bench_store
