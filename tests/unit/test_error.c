/* test_error.c — the error table: texts, names, NVML numbers, messages. */
#include "harness.h"
#include "vmig/vmig.h"

TEST(texts_and_codes)
{
	CHECK_STR(vmig_strerror(-VMIG_E_INSUFFICIENT_RESOURCES), "Insufficient Resources");
	CHECK_STR(vmig_strerror(VMIG_E_IN_USE), "In use by another client");
	CHECK_STR(vmig_strerror(0), "Success");
	CHECK_STR(vmig_strerror(100000), "Unknown Error");
	CHECK_EQ_I(vmig_nvml_code(-VMIG_E_INVALID_ARGUMENT), 2);
	CHECK_EQ_I(vmig_nvml_code(-VMIG_E_NOT_FOUND), 6);
	CHECK_EQ_I(vmig_nvml_code(VMIG_E_INSUFFICIENT_RESOURCES), 23);
	CHECK_EQ_I(vmig_from_nvml(19), VMIG_E_IN_USE);
	CHECK_EQ_I(vmig_from_nvml(12345), VMIG_E_UNKNOWN);
	CHECK_STR(vmig_errname(-VMIG_E_NOT_SUPPORTED), "NOT_SUPPORTED");
}

TEST(messages_carry_context)
{
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_err_set(&e, VMIG_E_NOT_FOUND, "GPU %d", 3), -VMIG_E_NOT_FOUND);
	CHECK_EQ_I(e.code, VMIG_E_NOT_FOUND);
	CHECK_EQ_I(vmig_err_wrap(&e, "destroying GI %u", 1u), -VMIG_E_NOT_FOUND);
	CHECK_STR(e.msg, "destroying GI 1: GPU 3");
	CHECK_EQ_I(vmig_err_set(NULL, -VMIG_E_IO, NULL), -VMIG_E_IO);
	CHECK_EQ_I(vmig_err_set(&e, -VMIG_E_IO, NULL), -VMIG_E_IO);
	CHECK_STR(e.msg, "I/O error");
}

int main(void)
{
	RUN(texts_and_codes);
	RUN(messages_carry_context);
	return harness_done();
}
