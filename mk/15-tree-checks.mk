# Checks of the tree as a whole, part of make check: the module boundary
# (tests/include-check.sh: no product module includes another's internal
# headers, by any path) and the installed layout (tests/install.sh).
TESTS += tests/include-check.sh
TESTS += tests/install.sh
