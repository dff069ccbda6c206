# The vmig command's suite: tests/cli/cases/*.case transcripts run by one
# runner (also under valgrind).
TESTS += tests/cli/run.sh
VALGRIND_TESTS += tests/cli/run.sh
