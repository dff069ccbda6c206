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
	/* 999 is shared by several of vmig's codes; from NVML it is Unknown Error. */
	CHECK_EQ_I(vmig_from_nvml(999), VMIG_E_UNKNOWN);
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

TEST(percent_m_is_the_code_text)
{
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_err_set(&e, VMIG_E_NOT_FOUND, "destroying GPU instance %u: %m", 3u),
		   -VMIG_E_NOT_FOUND);
	CHECK_STR(e.msg, "destroying GPU instance 3: Not Found");
	/* Either sign; arguments after %m still line up; %%m stays literal. */
	vmig_err_set(&e, -VMIG_E_INSUFFICIENT_RESOURCES, "GI %s: %m (%s %u%%m)", "1g.10gb", "x",
		     5u);
	CHECK_EQ_I(e.code, VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_STR(e.msg, "GI 1g.10gb: Insufficient Resources (x 5%m)");
	vmig_err_set(&e, VMIG_E_IN_USE, "%m, %m");
	CHECK_STR(e.msg, "In use by another client, In use by another client");
	/* An argument is never scanned for %m. */
	vmig_err_set(&e, VMIG_E_IO, "%s", "50%m");
	CHECK_STR(e.msg, "50%m");
	/* A long message is cut at the buffer; a format too long to expand gets the bare text. */
	char big[1100];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	vmig_err_set(&e, VMIG_E_IO, "%s: %m", big);
	CHECK_EQ_U(strlen(e.msg), sizeof(e.msg) - 1);
#define X10(s)	 s s s s s s s s s s
#define LONG_FMT X10(X10(X10("ab"))) ": %m"
	vmig_err_set(&e, VMIG_E_IO, LONG_FMT);
	CHECK_STR(e.msg, "I/O error");
}

/* A message is one line whatever went into it: a path with a newline, bytes from a file. */
TEST(messages_stay_one_line)
{
	struct vmig_err e = {0};
	vmig_err_set(&e, VMIG_E_IO, "opening %s: %m", "/tmp/a\nb\r\x1b[31m");
	CHECK_STR(e.msg, "opening /tmp/a?b??[31m: I/O error");
	vmig_err_wrap(&e, "state in %s", "/x\ty");
	CHECK_STR(e.msg, "state in /x?y: opening /tmp/a?b??[31m: I/O error");
}

int main(void)
{
	RUN(texts_and_codes);
	RUN(messages_carry_context);
	RUN(percent_m_is_the_code_text);
	RUN(messages_stay_one_line);
	return harness_done();
}
