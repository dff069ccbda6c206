# bench_planner: the layout planner against destroy-all-and-recreate, apply
# time against a process start, worst-case plan time (bench/bench_planner.c).
$(B)/bench/bench_planner: $(B)/obj/bench/bench_planner.o $(B)/libvmig.a
	@mkdir -p $(@D)
	$(CC) $(VMIG_LDFLAGS) -o $@ $< $(B)/libvmig.a $(LIB_LIBS)

BENCHES += $(B)/bench/bench_planner
BENCH_RUNS += $(B)/bench/bench_planner
