# The vmig command's suite: tests/cli/cases/*.case transcripts run by one
# runner (also under valgrind).
TESTS += tests/cli/run.sh tests/cli/config-env.sh tests/cli/permissions.sh tests/cli/lock-timeout.sh \
	tests/cli/in-use.sh
VALGRIND_TESTS += tests/cli/run.sh tests/cli/config-env.sh tests/cli/permissions.sh
