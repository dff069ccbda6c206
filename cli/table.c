/*
 * table.c — what `vmig` prints with no options: nvidia-smi's default output
 * in its newest layout (R580): a date line, the GPU table, the "MIG devices"
 * table with each GPU instance's memory and BAR1, and the "Processes" table.
 * Every line is 91 columns; docs/layouts.md gives each column.  The figures
 * come from libvmig (vmig_gpu_memory, vmig_bar1, vmig_gpu_board), the same
 * functions the simulated NVML library answers with, so both agree.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define WIDTH 89 /* between the outer bars */
#define MIB   (1024ull * 1024ull)

static void rule(char c)
{
	char line[WIDTH + 1];
	memset(line, c, WIDTH);
	line[WIDTH] = '\0';
	printf("+%s+\n", line);
}

/*
 * A border across the cells of a table (w: the width of each cell): '+'
 * between cells, edge at both ends ('+' for a border, '|' for the rule
 * under the headers), fill along the cells.
 */
static void cells(char edge, char fill, const unsigned *w, unsigned n)
{
	putchar(edge);
	for (unsigned k = 0; k < n; k++) {
		for (unsigned i = 0; i < w[k]; i++)
			putchar(fill);
		putchar(k + 1 < n ? '+' : edge);
	}
	putchar('\n');
}

/* One line of text in the full width: "| text...   |". */
static void line(const char *text)
{
	printf("|%-*s|\n", WIDTH, text);
}

static const unsigned gpu_cells[] = {41, 24, 22};
static const unsigned mig_cells[] = {18, 34, 11, 23};

/*
 * The time the output describes: now, or $SOURCE_DATE_EPOCH when set (the
 * reproducible-output convention; the test suite uses it).
 */
static void date_line(void)
{
	time_t t = time(NULL);
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	unsigned secs;
	if (epoch && cli_parse_uint(epoch, 4000000000u, &secs) == 0)
		t = (time_t)secs;
	struct tm tm;
	char buf[64];
	if (!localtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm))
		snprintf(buf, sizeof(buf), "?");
	printf("%s\n", buf);
}

static void banner(const struct vmig_versions *ver)
{
	char cuda[16];
	if (ver->cuda)
		snprintf(cuda, sizeof(cuda), "%u.%u", ver->cuda / 1000, ver->cuda % 1000 / 10);
	else
		snprintf(cuda, sizeof(cuda), "N/A");
	rule('-');
	printf("| NVIDIA-SMI %-23sDriver Version: %-15sCUDA Version: %-9s|\n", ver->driver,
	       ver->driver, cuda);
	cells('+', '-', gpu_cells, 3);
	printf("| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile "
	       "Uncorr. ECC |\n");
	printf("| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  "
	       "Compute M. |\n");
	printf("|                                         |                        |            "
	       "   MIG M. |\n");
	cells('|', '=', gpu_cells, 3);
}

/* Memory the processes on a GPU (gi VMIG_PROC_WHOLE_GPU: all of them) or in one GI use. */
static uint64_t allocated_mib(const struct vmig_proc *p, size_t n, unsigned gpu, unsigned gi)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i].gpu == gpu && p[i].kind != VMIG_PROC_NVML &&
		    (gi == VMIG_PROC_WHOLE_GPU || p[i].gi == gi))
			bytes += p[i].mem_bytes;
	return (uint64_t)((bytes + MIB - 1) / MIB);
}

/* A name cut to the 27 columns of its field as nvidia-smi cuts it: 24 characters and "...". */
static const char *short_name(const char *name, char buf[32])
{
	if (strlen(name) <= 27)
		return name;
	snprintf(buf, 32, "%.24s...", name);
	return buf;
}

static void gpu_rows(unsigned x, const struct vmig_gpu_state *g, const struct vmig_proc *procs,
		     size_t nprocs)
{
	const struct vmig_model *m = g->model;
	bool mig = m && (m->flags & VMIG_MF_MIG);
	char bus[32], name[32], temp[16], pwr[16], cap[16], mode[16];
	struct vmig_mem mem;
	cli_bus_id(g, bus);
	vmig_gpu_memory(m, NULL, allocated_mib(procs, nprocs, x, VMIG_PROC_WHOLE_GPU), &mem);
	snprintf(temp, sizeof(temp), "%uC", vmig_gpu_temp_c(m, x));
	snprintf(pwr, sizeof(pwr), "%uW", vmig_gpu_power_w(m, x));
	snprintf(cap, sizeof(cap), "%uW", vmig_gpu_board(m)->tdp_w);
	if (!mig)
		snprintf(mode, sizeof(mode), "N/A");
	else
		snprintf(mode, sizeof(mode), "%s%s", g->mig_pending ? "Enabled" : "Disabled",
			 g->mig_pending != g->mig_current ? "*" : "");
	const char *ecc = g->mig_current ? "On" : strstr(m->name, "GeForce") ? "N/A" : "0";
	printf("|%4u  %-27s %5s  |%19s %3s |%21s |\n", x, short_name(m->name, name),
	       (g->flags & VMIG_GPU_NO_PERSISTENCE) ? "Off" : "On", bus, "Off", ecc);
	printf("| %-3s%6s%6s%16s / %5s |%8" PRIu64 "MiB / %6" PRIu64 "MiB |%8s %12s |\n", "N/A",
	       temp, "P0", pwr, cap, mem.used_mib, mem.total_mib, g->mig_current ? "N/A" : "0%",
	       "Default");
	printf("|%41s|%24s|%21s |\n", "", "", mode);
	cells('+', '-', gpu_cells, 3);
}

/* The two lines of one MIG device (a CI) and the border under them. */
static void mig_device(unsigned x, const struct vmig_gpu_state *g, const struct vmig_gi_state *gi,
		       const struct vmig_ci_state *ci, unsigned dev, const struct vmig_proc *procs,
		       size_t nprocs)
{
	const struct vmig_gi_profile *gp = cli_gi_profile(g, gi);
	const struct vmig_ci_profile *cp = gp ? vmig_ci_profile_by_id(gp, ci->profile_id) : NULL;
	struct vmig_mem mem, bar1;
	if (!gp || !cp)
		return; /* a state the library would have refused */
	vmig_gpu_memory(g->model, gp, allocated_mib(procs, nprocs, x, gi->id), &mem);
	vmig_bar1(g->model, gp, &bar1);
	printf("|%3u%5u%4u%4u  |%16" PRIu64 "MiB / %5" PRIu64
	       "MiB    | %2u%7u |%3u%4u%5u%5u%5u |\n",
	       x, gi->id, ci->id, dev, mem.used_mib, mem.total_mib, cp->sm, 0u, gp->ce, gp->enc,
	       gp->dec, gp->ofa, gp->jpeg);
	printf("|%18s|%16" PRIu64 "MiB / %5" PRIu64 "MiB    |%11s|%23s|\n", "", bar1.used_mib,
	       bar1.total_mib, "", "");
	cells('+', '-', mig_cells, 4);
}

/* Only when some GPU shown has MIG enabled, as nvidia-smi does. */
static void mig_devices(const struct cli_view *v, const struct vmig_proc *procs, size_t nprocs)
{
	bool any = false;
	unsigned shown = 0;
	for (unsigned x = 0; x < v->st->ngpu; x++)
		any = any || (v->sel[x] && v->st->gpu[x].mig_current);
	if (!any)
		return;
	printf("\n");
	rule('-');
	line(" MIG devices:");
	cells('+', '-', mig_cells, 4);
	printf(
	    "| GPU  GI  CI  MIG |              Shared Memory-Usage |        Vol|        Shared   "
	    "      |\n");
	printf(
	    "|      ID  ID  Dev |                Shared BAR1-Usage | SM     Unc| CE ENC  DEC  OFA "
	    " JPG |\n");
	printf(
	    "|                  |                                  |        ECC|                 "
	    "      |\n");
	cells('|', '=', mig_cells, 4);
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		const struct vmig_gpu_state *g = &v->st->gpu[x];
		unsigned dev = 0;
		if (!v->sel[x] || !g->mig_current)
			continue;
		/* GIs and CIs are sorted by ID in the state: (GI ID, CI ID) order. */
		for (unsigned k = 0; k < g->ngi; k++)
			for (unsigned c = 0; c < g->gi[k].nci; c++, shown++)
				mig_device(x, g, &g->gi[k], &g->gi[k].ci[c], dev++, procs, nprocs);
	}
	if (shown == 0) {
		line("  No MIG devices found");
		rule('-');
	}
}

/* The program a process runs, as the kernel gives its first argument; "N/A" if unknown. */
static const char *process_name(int32_t pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 && buf[i] != '\0')
			buf[i] = '?';
	if (!buf[0])
		snprintf(buf, size, "N/A");
	return buf;
}

static void process_row(const struct vmig_proc *p)
{
	char gi[16], ci[16], mem[32], name[256];
	snprintf(gi, sizeof(gi), p->gi == VMIG_PROC_WHOLE_GPU ? "N/A" : "%u", p->gi);
	snprintf(ci, sizeof(ci), p->ci == VMIG_PROC_WHOLE_GPU ? "N/A" : "%u", p->ci);
	snprintf(mem, sizeof(mem), "%" PRIu64 "MiB", (uint64_t)((p->mem_bytes + MIB - 1) / MIB));
	const char *s = process_name(p->pid, name, sizeof(name));
	size_t len = strlen(s);
	char cut[40];
	if (len > 36) {
		snprintf(cut, sizeof(cut), "...%s", s + len - 33);
		s = cut;
	}
	printf("|%5u%5s%5s%17d%7s   %-36s%10s |\n", p->gpu, gi, ci, (int)p->pid, "C", s, mem);
}

/* Compute processes only: NVML clients that merely hold a GPU are not listed, as on real ones. */
static void processes(const struct cli_view *v, const struct vmig_proc *procs, size_t nprocs)
{
	unsigned shown = 0;
	printf("\n");
	rule('-');
	line(" Processes:");
	line("  GPU   GI   CI              PID   Type   Process name                        GPU "
	     "Memory");
	line("        ID   ID                                                               Usage");
	cells('|', '=', (const unsigned[]){WIDTH}, 1);
	for (unsigned x = 0; x < v->st->ngpu; x++)
		for (size_t i = 0; v->sel[x] && i < nprocs; i++)
			if (procs[i].gpu == x && procs[i].kind != VMIG_PROC_NVML) {
				process_row(&procs[i]);
				shown++;
			}
	if (!shown)
		line("  No running processes found");
	rule('-');
}

int cli_table(struct cli_view *v)
{
	struct vmig_versions ver;
	struct vmig_err err = {0};
	struct vmig_proc *procs = NULL;
	size_t nprocs = 0;
	if (vmig_versions(v->ctx, &ver, &err) < 0 || vmig_procs(v->ctx, &procs, &nprocs, &err) < 0)
		return cli_report(&err);
	date_line();
	banner(&ver);
	for (unsigned x = 0; x < v->st->ngpu; x++)
		if (v->sel[x] && v->st->gpu[x].model)
			gpu_rows(x, &v->st->gpu[x], procs, nprocs);
	mig_devices(v, procs, nprocs);
	processes(v, procs, nprocs);
	free(procs);
	return 0;
}
