# bench_cli: vmig commands against /bin/true, timed by the benchmark's own
# clock around posix_spawn (bench/bench_cli.c); it runs $(B)/vmig.
$(B)/bench/bench_cli: bench/bench_cli.c tests/lib/tmpdir.h $(B)/vmig
	@mkdir -p $(@D)
	$(CC) -Itests/lib $(ABI_CFLAGS) -o $@ $< $(VMIG_LDFLAGS)

BENCHES += $(B)/bench/bench_cli
BENCH_RUNS += $(B)/bench/bench_cli
