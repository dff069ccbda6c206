# bench_placement: placement decisions per second against the 1 µs goal
# (bench/bench_placement.c), linked against the static libvmig.
$(B)/bench/bench_placement: $(B)/obj/bench/bench_placement.o $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

BENCHES += $(B)/bench/bench_placement
BENCH_RUNS += $(B)/bench/bench_placement
