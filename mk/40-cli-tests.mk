# The vmig command's suite: tests/cli/cases/*.case transcripts run by one
# runner (also under valgrind), and the CLI benchmark.
TESTS += tests/cli/run.sh tests/cli/permissions.sh
VALGRIND_TESTS += tests/cli/run.sh tests/cli/permissions.sh
BENCH_RUNS += bench/bench_cli.sh
