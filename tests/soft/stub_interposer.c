/*
 * stub_interposer.c — a stand-in for libvmig-cuda.so in tests/soft/e2e.sh:
 * a shared object that loads into any program (it is built without the
 * sanitizers) and does nothing, so `vmig run -- env` can be checked where
 * the real interposer is not built.
 */
int vmig_test_stub_interposer;
int vmig_test_stub_interposer = 1;
