/*
 * test_state.c — the state record as text: the default state and new GPUs,
 * format/parse round trips over random states, and the parser's and the
 * validator's refusals (truncation at every byte, bit flips, versions,
 * every kind of malformed line, every broken invariant).
 */
#include <stdlib.h>

#include "gen.h"
#include "harness.h"
#include "vmig/vmig.h"

static struct vmig_state *new_state(void)
{
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st)
		abort();
	return st;
}

/* The canonical text of a state; aborts the test on failure. */
static char *text_of(const struct vmig_state *st, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	int rc = vmig_state_format(st, &buf, &n);
	if (rc != 0) {
		HARNESS_FAIL("format failed: %d", rc);
		exit(1);
	}
	if (len)
		*len = n;
	return buf;
}

static bool same_state(const struct vmig_state *a, const struct vmig_state *b)
{
	char *ta = text_of(a, NULL), *tb = text_of(b, NULL);
	bool same = strcmp(ta, tb) == 0;
	free(ta);
	free(tb);
	return same;
}

static bool is_digits(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

TEST(default_state_is_one_h100)
{
	struct vmig_state *st = new_state();
	vmig_state_init_default(st);
	CHECK_EQ_U(st->ngpu, 1);
	CHECK_EQ_U(st->generation, 0);
	CHECK(st->gpu[0].model == vmig_model_find("h100-80gb"));
	CHECK_EQ_U(st->gpu[0].mig_current, 0);
	CHECK_EQ_U(st->gpu[0].mig_pending, 0);
	CHECK_EQ_U(st->gpu[0].flags, VMIG_GPU_SIMULATED);
	CHECK_EQ_U(st->gpu[0].pci_bus, 0x07);
	CHECK_EQ_U(st->gpu[0].minor, 0);
	CHECK_EQ_U(st->gpu[0].ngi, 0);
	CHECK(is_digits(st->gpu[0].serial, 13));
	CHECK_EQ_U(strlen(st->gpu[0].uuid), 40);
	CHECK(strncmp(st->gpu[0].uuid, "GPU-", 4) == 0);
	CHECK_EQ_I(vmig_state_validate(st, NULL), 0);
	free(st);
}

TEST(added_gpus_follow_dgx_bus_ids)
{
	static const unsigned dgx[] = {0x07, 0x0F, 0x47, 0x4E, 0x87, 0x90, 0xB7, 0xBD};
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	vmig_state_init_default(st);
	const struct vmig_model *a100 = vmig_model_find("a100-40gb");
	for (unsigned i = 1; i < VMIG_MAX_GPUS; i++)
		CHECK_EQ_I(vmig_state_add_gpu(st, a100, &e), 0);
	CHECK_EQ_U(st->ngpu, VMIG_MAX_GPUS);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ_U(st->gpu[i].pci_bus, dgx[i]);
	for (unsigned i = 0; i < st->ngpu; i++) {
		CHECK_EQ_U(st->gpu[i].minor, i);
		CHECK(is_digits(st->gpu[i].serial, 13));
	}
	CHECK_EQ_U(st->gpu[8].pci_bus, 0x01); /* then the lowest free numbers */
	CHECK(st->gpu[1].model == a100);
	CHECK(strcmp(st->gpu[0].uuid, st->gpu[1].uuid) != 0);
	CHECK_EQ_I(vmig_state_validate(st, &e), 0); /* unique UUIDs, buses, minors */
	CHECK_EQ_I(vmig_state_add_gpu(st, a100, &e), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "64") != NULL);
	CHECK_EQ_U(st->ngpu, VMIG_MAX_GPUS);
	free(st);
}

/* A hand-made state: one of each record kind, with known text. */
static void sample_state(struct vmig_state *st)
{
	memset(st, 0, sizeof(*st));
	st->generation = 42;
	st->ngpu = 2;
	struct vmig_gpu_state *g = &st->gpu[0];
	g->model = vmig_model_find("h100-80gb");
	strcpy(g->uuid, "GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9");
	strcpy(g->serial, "1650924060123");
	g->pci_bus = 0x07;
	g->mig_current = g->mig_pending = 1;
	g->flags = VMIG_GPU_SIMULATED;
	g->ngi = 2;
	g->gi[0] =
	    (struct vmig_gi_state){.id = 2, .profile_id = 9, .start = 4, .size = 4, .nci = 2};
	g->gi[0].ci[0] = (struct vmig_ci_state){.id = 0, .profile_id = 1, .start = 0, .size = 2};
	g->gi[0].ci[1] = (struct vmig_ci_state){.id = 1, .profile_id = 0, .start = 2, .size = 1};
	g->gi[1] = (struct vmig_gi_state){
	    .id = 3, .profile_id = 14, .start = 0, .size = 2, .share_pct = 30};
	g = &st->gpu[1];
	g->model = vmig_model_find("a30");
	strcpy(g->uuid, "GPU-00000000-1111-2222-3333-444444444444");
	strcpy(g->serial, "[N/A]");
	g->pci_domain = 1;
	g->pci_bus = 0xBD;
	g->pci_device = 2;
	g->minor = 5;
	g->mig_pending = 1;
	g->flags = VMIG_GPU_SOFT | VMIG_GPU_SIMULATED;
}

static const char sample_body[] =
    "vmig-state 1\n"
    "generation 42\n"
    "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 "
    "serial=1650924060123 pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated\n"
    "gi gpu=0 id=2 profile=9 start=4 size=4 share=0\n"
    "ci gpu=0 gi=2 id=0 profile=1 start=0 size=2\n"
    "ci gpu=0 gi=2 id=1 profile=0 start=2 size=1\n"
    "gi gpu=0 id=3 profile=14 start=0 size=2 share=30\n"
    "gpu index=1 model=a30 uuid=GPU-00000000-1111-2222-3333-444444444444 serial=[N/A] "
    "pci=00000001:BD:02.0 minor=5 mig=0 mig_pending=1 flags=simulated,soft\n";

TEST(format_writes_the_documented_text)
{
	struct vmig_state *st = new_state(), *back = new_state();
	sample_state(st);
	CHECK_EQ_I(vmig_state_validate(st, NULL), 0);
	size_t len;
	char *text = text_of(st, &len);
	CHECK_EQ_U(len, strlen(text));
	CHECK(strncmp(text, sample_body, strlen(sample_body)) == 0);
	const char *end = text + strlen(sample_body);
	CHECK(strncmp(end, "end crc32=", 10) == 0);
	CHECK_EQ_U(strlen(end), 19);
	CHECK_EQ_I(vmig_state_parse(text, len, back, NULL), 0);
	CHECK(same_state(st, back));
	CHECK(back->gpu[0].model == st->gpu[0].model);
	CHECK_STR(back->gpu[1].serial, "[N/A]");
	CHECK_EQ_U(back->gpu[0].gi[1].share_pct, 30);
	/* Hand-written files may leave out the checksum, and carry comments. */
	char hand[2048];
	snprintf(hand, sizeof(hand), "%s# a comment\nend\n", sample_body);
	CHECK_EQ_I(vmig_state_parse(hand, strlen(hand), back, NULL), 0);
	CHECK(same_state(st, back));
	free(text);
	free(st);
	free(back);
}

TEST(random_states_round_trip)
{
	struct vmig_state *st = new_state(), *back = new_state();
	struct vmig_err e = {0};
	unsigned with_gis = 0, with_cis = 0;
	for (uint64_t seed = 1; seed <= 400; seed++) {
		gen_state(st, seed, 1 + seed % 9);
		if (vmig_state_validate(st, &e) != 0) {
			HARNESS_FAIL("seed %llu: generated state invalid: %s",
				     (unsigned long long)seed, e.msg);
			break;
		}
		size_t len;
		char *text = text_of(st, &len);
		int rc = vmig_state_parse(text, len, back, &e);
		CHECK_EQ_I(rc, 0);
		if (rc)
			fprintf(stderr, "  %s\n", e.msg);
		CHECK_EQ_I(vmig_state_validate(back, NULL), 0);
		char *again = text_of(back, NULL);
		CHECK_STR(again, text);
		for (unsigned i = 0; i < st->ngpu; i++) {
			with_gis += st->gpu[i].ngi > 0;
			for (unsigned j = 0; j < st->gpu[i].ngi; j++)
				with_cis += st->gpu[i].gi[j].nci > 0;
		}
		free(text);
		free(again);
	}
	/* The generator must really exercise instances, or the test proves little. */
	CHECK(with_gis > 200);
	CHECK(with_cis > 200);
	free(st);
	free(back);
}

/* A real file of several GPUs with instances, for the corruption tests. */
static char *real_file(size_t *len)
{
	struct vmig_state *st = new_state();
	sample_state(st);
	struct vmig_state *more = new_state();
	gen_state(more, 12345, 4);
	for (unsigned i = 0; i < 3; i++) {
		st->gpu[st->ngpu] = more->gpu[i];
		st->gpu[st->ngpu].minor = 10 + i;
		st->ngpu++;
	}
	CHECK_EQ_I(vmig_state_validate(st, NULL), 0);
	char *text = text_of(st, len);
	free(st);
	free(more);
	return text;
}

TEST(truncation_at_every_byte_is_refused)
{
	size_t len;
	char *text = real_file(&len);
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	CHECK(len > 600);
	for (size_t n = 0; n < len; n++) {
		char *cut = malloc(n + 1); /* exact size: ASan sees reads past the end */
		memcpy(cut, text, n);
		int rc = vmig_state_parse(cut, n, st, &e);
		if (rc != -VMIG_E_CORRUPT)
			HARNESS_FAIL("truncated to %zu bytes: rc %d", n, rc);
		free(cut);
	}
	/* The same without the checksum: the end marker alone still catches every cut. */
	char *end = strstr(text, "end crc32=");
	strcpy(end, "end\n");
	len = strlen(text);
	CHECK_EQ_I(vmig_state_parse(text, len, st, NULL), 0);
	for (size_t n = 0; n < len; n++)
		if (vmig_state_parse(text, n, st, NULL) != -VMIG_E_CORRUPT)
			HARNESS_FAIL("truncated (no checksum) to %zu bytes: accepted", n);
	free(text);
	free(st);
}

TEST(every_bit_flip_is_refused)
{
	size_t len;
	char *text = real_file(&len);
	struct vmig_state *st = new_state();
	unsigned refused = 0, newer = 0;
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			text[i] ^= (char)(1 << bit);
			int rc = vmig_state_parse(text, len, st, NULL);
			text[i] ^= (char)(1 << bit);
			if (rc == -VMIG_E_CORRUPT)
				refused++;
			else if (rc == -VMIG_E_NEWER_VERSION && i == 11)
				newer++; /* "vmig-state 1" became 3, 5 or 9 */
			else
				HARNESS_FAIL("flip of bit %d at byte %zu: rc %d", bit, i, rc);
		}
	}
	CHECK_EQ_U(refused + newer, len * 8);
	CHECK(newer >= 1);
	/* Bytes swapped and lines swapped are caught by the checksum too. */
	char *nl = strchr(text + 13, '\n');
	char save = nl[1];
	nl[1] = nl[2];
	nl[2] = save;
	CHECK_EQ_I(vmig_state_parse(text, len, st, NULL), -VMIG_E_CORRUPT);
	free(text);
	free(st);
}

TEST(versions)
{
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	const char *v2 = "vmig-state 2\nwhatever the future holds\n";
	CHECK_EQ_I(vmig_state_parse(v2, strlen(v2), st, &e), -VMIG_E_NEWER_VERSION);
	CHECK(strstr(e.msg, "version 2") != NULL);
	CHECK(strstr(e.msg, "newer") != NULL);
	const char *v99 = "vmig-state 99\n";
	CHECK_EQ_I(vmig_state_parse(v99, strlen(v99), st, &e), -VMIG_E_NEWER_VERSION);
	static const char *const bad[] = {
	    "vmig-state 0\ngeneration 0\nend\n",
	    "vmig-state 01\ngeneration 0\nend\n",
	    "vmig-state\ngeneration 0\nend\n",
	    "vmig-state  1\ngeneration 0\nend\n",
	    "vmig-state -1\ngeneration 0\nend\n",
	    "VMIG-STATE 1\ngeneration 0\nend\n",
	    "{\"json\": true}\n",
	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = vmig_state_parse(bad[i], strlen(bad[i]), st, &e);
		if (rc != -VMIG_E_CORRUPT)
			HARNESS_FAIL("header case %zu: rc %d", i, rc);
	}
	const char *empty = "vmig-state 1\ngeneration 0\nend\n";
	CHECK_EQ_I(vmig_state_parse(empty, strlen(empty), st, &e), 0);
	CHECK_EQ_U(st->ngpu, 0);
	free(st);
}

#define GPU0                                                                                       \
	"gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 "               \
	"serial=1650924060123 pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated\n"
#define HEAD "vmig-state 1\ngeneration 5\n"
#define GI1  "gi gpu=0 id=1 profile=9 start=4 size=4 share=0\n"

/* Malformed files: each is refused with CORRUPT and a message naming the line. */
static const struct {
	const char *text, *msg;
} malformed[] = {
    {HEAD GPU0
     "gpu index=1 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a0 "
     "serial=1 pci=00000000:08:00.0 minor=1 mig=0 mig_pending=0 flags=simulated colour=red\n"
     "end\n",
     "line 4: gpu: unknown key 'colour'"},
    {HEAD "gpu index=0 index=0\nend\n", "line 3: gpu: duplicate key 'index'"},
    {HEAD "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated gi_numbering=halves\n"
	  "end\n",
     "line 3: gpu: bad GI numbering 'halves' (heap or swapped)"},
    {HEAD "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated gi_numbering=\n"
	  "end\n",
     "line 3: gpu: bad GI numbering ''"},
    {HEAD "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 gi_numbering=heap flags=simulated "
	  "gi_numbering=swapped\nend\n",
     "line 3: gpu: duplicate key 'gi_numbering'"},
    {HEAD "gpu index=0 model=h100-80gb\nend\n", "line 3: gpu: missing key 'uuid'"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=0 owner=1000\nend\n",
     "line 4: gi: bad owner '1000' (UID:GID)"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=0 owner=1000:\nend\n",
     "line 4: owner: bad number ''"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=0 owner=-1:0\nend\n",
     "line 4: owner: bad number '-1'"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=0 owner=4294967295:0\nend\n",
     "line 4: owner=4294967295 out of range"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=0 owner=1:1 owner=1:1\nend\n",
     "line 4: gi: duplicate key 'owner'"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 owner=01:1 size=4 share=0\nend\n",
     "line 4: owner: bad number '01'"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=0 policy=fair\nend\n",
     "line 4: gi: unknown share policy 'fair'"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=0 policy=cap policy=cap\nend\n",
     "line 4: gi: duplicate key 'policy'"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=0 policy=\nend\n",
     "line 4: gi: unknown share policy ''"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share=101\nend\n",
     "line 4: share=101 out of range"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=99999999999999999999999 share=0\nend\n",
     "line 4: size: "},
    {HEAD GPU0 "gi gpu=0 id=01 profile=9 start=4 size=4 share=0\nend\n", "line 4: id: bad number"},
    {HEAD GPU0 "gi gpu=0 id=-1 profile=9 start=4 size=4 share=0\nend\n", "line 4: id: bad number"},
    {HEAD "gpu index=0 model=h900 uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated\nend\n",
     "line 3: unknown GPU model 'h900'"},
    {HEAD "gpu index=0 model=h100-80gb uuid=GPU-9E4AEB94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated\nend\n",
     "line 3: malformed GPU UUID"},
    {HEAD "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=0000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated\nend\n",
     "line 3: pci: bad bus id"},
    {HEAD "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=soft,soft\nend\n",
     "line 3: flags: bad flag list"},
    {HEAD "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=00000000:07:00.0 minor=0 mig=2 mig_pending=1 flags=simulated\nend\n",
     "line 3: mig=2 out of range"},
    {HEAD "gpu index=1 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	  "pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated\nend\n",
     "line 3: GPU index 1 out of sequence"},
    {HEAD GPU0 "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 "
	       "pci=00000000:07:00.0 minor=0 mig=1 mig_pending=1 flags=simulated\nend\n",
     "line 4: GPU index 0 out of sequence"},
    {HEAD GPU0 "gi gpu=1 id=1 profile=9 start=4 size=4 share=0\nend\n",
     "line 4: GPU instance on GPU 1, which no earlier gpu line defines"},
    {HEAD GPU0 GI1 GI1 "end\n", "line 5: duplicate GPU instance 1 on GPU 0"},
    {HEAD GPU0 "ci gpu=0 gi=1 id=0 profile=0 start=0 size=1\nend\n",
     "line 4: compute instance in GPU instance 1 of GPU 0, which no earlier gi line defines"},
    {HEAD GPU0 GI1 "ci gpu=0 gi=1 id=0 profile=0 start=0 size=1\n"
		   "ci gpu=0 gi=1 id=0 profile=0 start=1 size=1\nend\n",
     "line 6: duplicate compute instance 0"},
    {HEAD GPU0 "disk gpu=0\nend\n", "line 4: unknown record 'disk'"},
    {HEAD GPU0, "no end marker after line 3"},
    {HEAD GPU0 "end", "line 4: unterminated last line"},
    {HEAD GPU0 "end\ngpu index=1\n", "line 5: text after the end marker"},
    {HEAD GPU0 "end\n\n", "line 5: text after the end marker"},
    {HEAD GPU0 "\nend\n", "line 4: empty line"},
    {HEAD GPU0 "gi  gpu=0\nend\n", "line 4: stray space"},
    {HEAD GPU0 GI1 "end \n", "line 5: stray space"},
    {HEAD GPU0 "end\r\n", "line 4: unexpected byte 0x0d"},
    {HEAD GPU0 "end crc32=00000000\n", "line 4: checksum mismatch"},
    {HEAD GPU0 "end crc32=0000000\n", "line 4: malformed end marker"},
    {HEAD GPU0 "end crc=00000000\n", "line 4: malformed end marker"},
    {HEAD GPU0 "end crc32=0000000A\n", "line 4: malformed end marker"},
    {HEAD GPU0 "end crc32=0000000g\n", "line 4: malformed end marker"},
    {HEAD GPU0 "end crc32=00000000 x\n", "line 4: malformed end marker"},
    {"vmig-state 1\n" GPU0 "end\n", "line 2: expected 'generation N'"},
    {HEAD "generation 6\nend\n", "line 3: duplicate generation line"},
    {HEAD "generation\nend\n", "line 3: duplicate generation line"},
    {"vmig-state 1\ngeneration 18446744073709551616\nend\n",
     "line 2: generation: number out of range"},
    {HEAD GPU0 "gi gpu=0 id=1 profile=9 start=4 size=4 share\nend\n",
     "line 4: gi: field 'share' is not key=value"},
    {HEAD "gpu index=0 model=h100-80gb uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 "
	  "serial=12345678901234567890123456789012 pci=00000000:07:00.0 minor=0 mig=1 "
	  "mig_pending=1 flags=simulated\nend\n",
     "line 3: serial: bad length 32"},
};

TEST(malformed_files_are_refused_with_the_line)
{
	struct vmig_state *st = new_state();
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct vmig_err e = {0};
		int rc = vmig_state_parse(malformed[i].text, strlen(malformed[i].text), st, &e);
		if (rc != -VMIG_E_CORRUPT || !strstr(e.msg, malformed[i].msg))
			HARNESS_FAIL("case %zu: rc %d, message \"%s\", wanted \"%s\"", i, rc, e.msg,
				     malformed[i].msg);
	}
	/* A NUL byte inside the text. */
	char nul[] = HEAD GPU0 "end\n";
	nul[20] = '\0';
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_state_parse(nul, sizeof(nul) - 1, st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "unexpected byte 0x00") != NULL);
	/* ret is written only on success. */
	memset(st, 0xAB, sizeof(*st));
	CHECK_EQ_I(vmig_state_parse(nul, sizeof(nul) - 1, st, NULL), -VMIG_E_CORRUPT);
	CHECK_EQ_U(st->ngpu, 0xABABABABu);
	free(st);
}

TEST(limits_on_counts)
{
	/* 65 GPUs, 17 GIs on one GPU, 9 CIs in one GI: each refused by the parser. */
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	size_t n = (size_t)snprintf(buf, cap, HEAD);
	for (unsigned i = 0; i < 65; i++)
		n += (size_t)snprintf(
		    buf + n, cap - n,
		    "gpu index=%u model=a30 uuid=GPU-00000000-0000-0000-0000-%012u "
		    "serial=1 pci=00000000:%02X:00.0 minor=%u mig=1 mig_pending=1 "
		    "flags=simulated\n",
		    i, i, i, i);
	snprintf(buf + n, cap - n, "end\n");
	CHECK_EQ_I(vmig_state_parse(buf, strlen(buf), st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "line 67: index=64 out of range") != NULL);

	n = (size_t)snprintf(buf, cap, HEAD GPU0);
	for (unsigned i = 0; i < 17; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "gi gpu=0 id=%u profile=19 start=0 size=1 share=0\n", i);
	snprintf(buf + n, cap - n, "end\n");
	CHECK_EQ_I(vmig_state_parse(buf, strlen(buf), st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "line 20: more than 16 GPU instances") != NULL);

	n = (size_t)snprintf(buf, cap, HEAD GPU0 GI1);
	for (unsigned i = 0; i < 9; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "ci gpu=0 gi=1 id=%u profile=0 start=0 size=1\n", i);
	snprintf(buf + n, cap - n, "end\n");
	CHECK_EQ_I(vmig_state_parse(buf, strlen(buf), st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "line 13: more than 8 compute instances") != NULL);
	free(buf);
	free(st);
}

/* Broken invariants: each is refused by vmig_state_validate with a message. */
TEST(validate_refuses_broken_invariants)
{
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
#define EXPECT_INVALID(mutation, text)                                                             \
	do {                                                                                       \
		sample_state(st);                                                                  \
		mutation;                                                                          \
		int rc_ = vmig_state_validate(st, &e);                                             \
		if (rc_ != -VMIG_E_CORRUPT || !strstr(e.msg, text))                                \
			HARNESS_FAIL("%s: rc %d, \"%s\"", #mutation, rc_, e.msg);                  \
	} while (0)
	struct vmig_gpu_state *g = &st->gpu[0];
	sample_state(st);
	CHECK_EQ_I(vmig_state_validate(st, &e), 0);
	EXPECT_INVALID(g->gi[1].start = 4, "overlaps another GPU instance");
	EXPECT_INVALID((g->gi[1].profile_id = 19, g->gi[1].size = 1, g->gi[1].start = 5),
		       "overlaps another GPU instance");
	EXPECT_INVALID(g->gi[1].id = 2,
		       "GPU 0: GPU instance 2 (profile 14, placement 0:2): duplicate ID");
	EXPECT_INVALID(g->gi[1].id = 0, "not in ID order");
	EXPECT_INVALID(g->gi[1].start = 1, "placement not valid for its profile");
	EXPECT_INVALID(g->gi[1].size = 3, "placement not valid for its profile");
	EXPECT_INVALID(g->gi[1].start = 0xFFFFFFFFu, "placement not valid for its profile");
	EXPECT_INVALID(g->gi[1].profile_id = 77, "no such GPU instance profile");
	EXPECT_INVALID(g->gi[1].share_pct = 101, "compute share above 100%");
	EXPECT_INVALID((g->gi[1].profile_id = 9, g->gi[1].size = 4, g->gi[1].start = 0, g->ngi = 3,
			g->gi[2] = g->gi[1], g->gi[2].id = 4),
		       "overlaps another GPU instance");
	EXPECT_INVALID((g->gi[1].profile_id = 20, g->gi[1].size = 1, g->gi[1].start = 0, g->ngi = 3,
			g->gi[2] = g->gi[1], g->gi[2].id = 4, g->gi[2].start = 1),
		       "more instances of its profile than the GPU allows");
	EXPECT_INVALID(g->mig_current = 0, "GPU 0: GPU instances while MIG mode is disabled");
	EXPECT_INVALID(g->gi[0].ci[1].start = 0, "overlaps another compute instance");
	EXPECT_INVALID(g->gi[0].ci[1].id = 0,
		       "compute instance 0 (profile 0, placement 2:1): duplicate ID");
	EXPECT_INVALID(g->gi[0].ci[1].profile_id = 99, "no such compute instance profile");
	EXPECT_INVALID(g->gi[0].ci[1].size = 3, "placement not valid for its profile");
	EXPECT_INVALID(
	    (g->gi[0].ci[1].profile_id = 1, g->gi[0].ci[1].size = 2, g->gi[0].ci[1].start = 0),
	    "overlaps another compute instance");
	EXPECT_INVALID(
	    (g->gi[1].nci = 2,
	     g->gi[1].ci[0] =
		 (struct vmig_ci_state){.id = 0, .profile_id = 7, .start = 0, .size = 1},
	     g->gi[1].ci[1] =
		 (struct vmig_ci_state){.id = 1, .profile_id = 7, .start = 1, .size = 1}),
	    "compute instance 1 (profile 7, placement 1:1): more instances of its profile than "
	    "the GPU instance allows");
	EXPECT_INVALID(g->gi[0].nci = 9, "9 compute instances");
	EXPECT_INVALID(g->ngi = 17, "too many GPU instances");
	static struct vmig_model fake;
	fake = *vmig_model_find("a30");
	EXPECT_INVALID(g->model = &fake, "GPU 0: model not in the catalogue");
	EXPECT_INVALID(g->model = NULL, "GPU 0: model not in the catalogue");
	EXPECT_INVALID(g->uuid[5] = 'X', "GPU 0: malformed UUID");
	EXPECT_INVALID(memset(g->uuid, 'a', sizeof(g->uuid)), "GPU 0: malformed UUID");
	EXPECT_INVALID(strcpy(g->serial, "12 3"), "malformed serial number");
	EXPECT_INVALID(g->serial[0] = '\0', "malformed serial number");
	EXPECT_INVALID(g->pci_bus = 0x100, "bad PCI bus id");
	EXPECT_INVALID(g->minor = 255, "bad minor number");
	EXPECT_INVALID(g->mig_pending = 2, "bad MIG mode");
	EXPECT_INVALID(g->flags = 1u << 7, "unknown flags");
	EXPECT_INVALID(strcpy(st->gpu[1].uuid, g->uuid), "GPUs 0 and 1 have the same UUID");
	EXPECT_INVALID(strcpy(st->gpu[1].serial, g->serial),
		       "GPUs 0 and 1 have the same serial number");
	EXPECT_INVALID((st->gpu[1].model = vmig_model_find("rtx-4090"), st->gpu[1].ngi = 0,
			st->gpu[1].mig_current = st->gpu[1].mig_pending = 1,
			st->gpu[1].flags = VMIG_GPU_SIMULATED),
		       "GPU 1: MIG mode on a model without MIG");
	EXPECT_INVALID(
	    (st->gpu[1].pci_domain = 0, st->gpu[1].pci_bus = 7, st->gpu[1].pci_device = 0),
	    "GPUs 0 and 1 have the same PCI bus id");
	EXPECT_INVALID(st->gpu[1].minor = 0, "GPUs 0 and 1 have the same minor number");
	EXPECT_INVALID(st->ngpu = 65, "65 GPUs (at most 64)");
	CHECK_EQ_I(vmig_state_validate(NULL, &e), -VMIG_E_INVALID_ARGUMENT);
#undef EXPECT_INVALID
	free(st);
}

/* What the parser accepts line by line but the validator refuses, through text. */
TEST(parsed_overlaps_are_refused_by_validate)
{
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	const char *text = HEAD GPU0 GI1 "gi gpu=0 id=2 profile=5 start=0 size=4 share=0\n"
					 "gi gpu=0 id=3 profile=15 start=2 size=2 share=0\nend\n";
	CHECK_EQ_I(vmig_state_parse(text, strlen(text), st, &e), 0);
	CHECK_EQ_I(vmig_state_validate(st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "GPU instance 3 (profile 15, placement 2:2): placement overlaps") !=
	      NULL);
	free(st);
}

/*
 * The GI numbering of a GPU: absent in a file (as every file written before
 * it existed) means heap, swapped is written and read back, and every GI ID
 * must be the one its placement has under the GPU's numbering.
 */
TEST(gi_numbering_is_kept_and_checked)
{
	struct vmig_state *st = new_state(), *back = new_state();
	struct vmig_err e = {0};
	sample_state(st);
	CHECK_EQ_U(st->gpu[0].gi_numbering, VMIG_GI_NUMBERING_HEAP);
	/* The sample's text has no gi_numbering key and reads as heap. */
	char *text = text_of(st, NULL);
	CHECK(strstr(text, "gi_numbering") == NULL);
	CHECK_EQ_I(vmig_state_parse(text, strlen(text), back, &e), 0);
	CHECK_EQ_U(back->gpu[0].gi_numbering, VMIG_GI_NUMBERING_HEAP);
	free(text);
	/* Swapped: the 3g at 4:4 is 1 and the 2g at 0:2 is 5. */
	st->gpu[0].gi_numbering = VMIG_GI_NUMBERING_SWAPPED;
	CHECK_EQ_I(vmig_state_validate(st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "GPU 0: GPU instance 2 (profile 9, placement 4:4): the ID of that "
			    "placement is 1 under swapped GI numbering") != NULL);
	st->gpu[0].gi[0].id = 1;
	st->gpu[0].gi[1].id = 5;
	CHECK_EQ_I(vmig_state_validate(st, &e), 0);
	text = text_of(st, NULL);
	CHECK(strstr(text, "flags=simulated gi_numbering=swapped\ngi gpu=0 id=1 profile=9") !=
	      NULL);
	CHECK_EQ_I(vmig_state_parse(text, strlen(text), back, &e), 0);
	CHECK(same_state(st, back));
	CHECK_EQ_U(back->gpu[0].gi_numbering, VMIG_GI_NUMBERING_SWAPPED);
	free(text);
	/* "heap" written out by hand is accepted too. */
	const char *explicit_heap =
	    "vmig-state 1\ngeneration 1\ngpu index=0 model=a30 "
	    "uuid=GPU-00000000-1111-2222-3333-444444444444 serial=1 pci=00000000:07:00.0 minor=0 "
	    "mig=1 mig_pending=1 gi_numbering=heap flags=simulated\n"
	    "gi gpu=0 id=2 profile=5 start=2 size=2 share=0\nend\n";
	CHECK_EQ_I(vmig_state_parse(explicit_heap, strlen(explicit_heap), back, &e), 0);
	CHECK_EQ_I(vmig_state_validate(back, &e), 0);
	back->gpu[0].gi_numbering = VMIG_GI_NUMBERING_SWAPPED;
	CHECK_EQ_I(vmig_state_validate(back, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "is 1 under swapped GI numbering") != NULL);
	/* A value that is no numbering. */
	sample_state(st);
	st->gpu[1].gi_numbering = 7;
	CHECK_EQ_I(vmig_state_validate(st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "GPU 1: unknown GI numbering") != NULL);
	free(st);
	free(back);
}

/*
 * A GI's owner: absent in a file (every file written before owners existed)
 * reads as unowned and is written back without the key; an owner is written
 * last on the gi line and read back, anywhere on the line.
 */
TEST(gi_owner_is_optional_and_kept)
{
	struct vmig_state *st = new_state(), *back = new_state();
	struct vmig_err e = {0};
	sample_state(st);
	char *text = text_of(st, NULL);
	CHECK(strstr(text, "owner") == NULL);
	CHECK_EQ_I(vmig_state_parse(text, strlen(text), back, &e), 0);
	CHECK(!back->gpu[0].gi[0].owned);
	free(text);
	st->gpu[0].gi[0].owned = true;
	st->gpu[0].gi[0].owner_uid = 1000;
	st->gpu[0].gi[0].owner_gid = 4294967294u;
	text = text_of(st, NULL);
	CHECK(strstr(text, "share=0 owner=1000:4294967294\nci gpu=0 gi=2") != NULL);
	CHECK_EQ_I(vmig_state_parse(text, strlen(text), back, &e), 0);
	CHECK(same_state(st, back));
	CHECK(back->gpu[0].gi[0].owned && !back->gpu[0].gi[1].owned);
	CHECK_EQ_U(back->gpu[0].gi[0].owner_uid, 1000);
	CHECK_EQ_U(back->gpu[0].gi[0].owner_gid, 4294967294u);
	free(text);
	const char *first =
	    HEAD GPU0 "gi owner=0:0 gpu=0 id=1 profile=9 start=4 size=4 share=0\nend\n";
	CHECK_EQ_I(vmig_state_parse(first, strlen(first), back, &e), 0);
	CHECK(back->gpu[0].gi[0].owned && back->gpu[0].gi[0].owner_uid == 0);
	free(st);
	free(back);
}

/*
 * A GI's share policy: absent (the default, share) it is not written, so
 * files of before stay canonical; cap is written last on the gi line, after
 * the owner, and read back anywhere on it.
 */
TEST(gi_share_policy_is_optional_and_kept)
{
	struct vmig_state *st = new_state(), *back = new_state();
	struct vmig_err e = {0};
	sample_state(st);
	char *text = text_of(st, NULL);
	CHECK(strstr(text, "policy") == NULL);
	free(text);
	st->gpu[0].gi[0].share_policy = VMIG_SHARE_POLICY_CAP;
	st->gpu[0].gi[0].owned = true;
	text = text_of(st, NULL);
	CHECK(strstr(text, "share=0 owner=0:0 policy=cap\nci gpu=0 gi=2") != NULL);
	CHECK_EQ_I(vmig_state_parse(text, strlen(text), back, &e), 0);
	CHECK(same_state(st, back));
	CHECK_EQ_U(back->gpu[0].gi[0].share_policy, VMIG_SHARE_POLICY_CAP);
	CHECK_EQ_U(back->gpu[0].gi[1].share_policy, VMIG_SHARE_POLICY_SHARE);
	free(text);
	const char *first =
	    HEAD GPU0 "gi policy=share gpu=0 id=1 profile=9 start=4 size=4 share=0\nend\n";
	CHECK_EQ_I(vmig_state_parse(first, strlen(first), back, &e), 0);
	CHECK_EQ_U(back->gpu[0].gi[0].share_policy, VMIG_SHARE_POLICY_SHARE);
	back->gpu[0].gi[0].share_policy = 7;
	CHECK(vmig_state_validate(back, &e) < 0);
	CHECK(strstr(e.msg, "unknown share policy") != NULL);
	free(st);
	free(back);
}

TEST(format_refuses_what_it_cannot_write)
{
	struct vmig_state *st = new_state();
	char *buf = NULL;
	size_t len = 0;
	sample_state(st);
	st->gpu[1].model = NULL;
	CHECK_EQ_I(vmig_state_format(st, &buf, &len), -VMIG_E_INVALID_ARGUMENT);
	sample_state(st);
	st->gpu[0].gi[0].nci = 100;
	CHECK_EQ_I(vmig_state_format(st, &buf, &len), -VMIG_E_INVALID_ARGUMENT);
	CHECK(buf == NULL);
	CHECK_EQ_I(vmig_state_format(NULL, &buf, &len), -VMIG_E_INVALID_ARGUMENT);
	free(st);
}

int main(void)
{
	RUN(default_state_is_one_h100);
	RUN(added_gpus_follow_dgx_bus_ids);
	RUN(format_writes_the_documented_text);
	RUN(random_states_round_trip);
	RUN(truncation_at_every_byte_is_refused);
	RUN(every_bit_flip_is_refused);
	RUN(versions);
	RUN(malformed_files_are_refused_with_the_line);
	RUN(limits_on_counts);
	RUN(validate_refuses_broken_invariants);
	RUN(parsed_overlaps_are_refused_by_validate);
	RUN(gi_numbering_is_kept_and_checked);
	RUN(gi_owner_is_optional_and_kept);
	RUN(gi_share_policy_is_optional_and_kept);
	RUN(format_refuses_what_it_cannot_write);
	return harness_done();
}
