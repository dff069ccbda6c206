/*
 * help.c — the text of `vmig --help`, `vmig mig --help` and `vmig sim
 * --help`.  The list of verbs comes from verbs.def and the options of
 * `vmig mig` from mig_opts.def, so a new verb or option shows up here
 * without a second list to keep in step.
 */
#include <string.h>

#include "cli.h"

void cli_help_top(FILE *f)
{
	fputs("vmig " VMIG_VERSION
	      " - Multi-Instance GPU partitioning for simulated and real GPUs\n"
	      "\n"
	      "Usage: vmig [OPTIONS]\n"
	      "       vmig COMMAND [OPTIONS]\n"
	      "\n"
	      "With no options, nvidia-smi's table of the GPUs, their MIG devices and the\n"
	      "processes on them.\n"
	      "\n"
	      "Options (nvidia-smi's main command line):\n"
	      "  -i,   --id=IDS            GPUs to act on: indexes, PCI bus ids or UUIDs,\n"
	      "                           comma-separated (default: all GPUs)\n"
	      "  -L,   --list-gpus         list GPUs and their MIG devices\n"
	      "  -mig, --multi-instance-gpu=MODE\n"
	      "                           enable or disable MIG mode: 0/DISABLED/off,\n"
	      "                           1/ENABLED/on; on Ampere GPUs that another process\n"
	      "                           holds or that may not be reset the change stays\n"
	      "                           pending.  N (2 or more): enable MIG and split\n"
	      "                           the GPU into N GPU instances as equal as its\n"
	      "                           geometry allows, each with its default CI, keeping\n"
	      "                           busy instances (also --mig)\n"
	      "  -pm,  --persistence-mode=MODE\n"
	      "                           persistence mode: 0/DISABLED, 1/ENABLED\n"
	      "  -gi IDS -rg PERCENT       software partitions: the compute share of GPU\n"
	      "                           instances (as vmig mig -gi IDS -rg PERCENT)\n"
	      "  -r,   --gpu-reset         reset the GPUs: a pending MIG mode takes effect and\n"
	      "                           all GPU and compute instances are destroyed\n"
	      "        --query-gpu=FIELDS  print fields of each GPU: index, name, uuid,\n"
	      "                           pci.bus_id, pci.device_id, serial, count,\n"
	      "                           driver_version, compute_cap, persistence_mode,\n"
	      "                           memory.total, memory.used, memory.free,\n"
	      "                           mig.mode.current, mig.mode.pending\n"
	      "        --format=FORMAT     with --query-gpu: csv[,noheader][,nounits]\n"
	      "        --backend=NAME      sim, nvml, soft or auto (default: $VMIG_BACKEND,\n"
	      "                           else auto: nvml when it finds GPUs, else sim)\n"
	      "        --soft              the soft backend: MIG in software on any GPU\n"
	      "                           (same as --backend=soft; docs/soft.md)\n"
	      "        --summary           vmig's summary: index, name, UUID, MIG mode and\n"
	      "                           instance counts; simulated GPUs marked [simulated]\n"
	      "  -h,   --help              this help\n"
	      "        --version           the version of vmig\n"
	      "\n"
	      "Commands:\n",
	      f);
#define VMIG_VERB(name, parse, exec, summary) fprintf(f, "  %-6s %s\n", #name, summary);
#include "verbs.def"
#undef VMIG_VERB
	fputs("\n"
	      "Run 'vmig COMMAND --help' for a command's options.\n"
	      "\n"
	      "Environment: VMIG_BACKEND (the backend), VMIG_STATE_DIR (where simulated GPUs\n"
	      "and software partitions are kept).\n"
	      "\n"
	      "Exit status: 0 on success; otherwise the NVML error number of the failure\n"
	      "(2 invalid argument, 3 not supported, 6 not found, 19 in use, 23 insufficient\n"
	      "resources, 255 other errors); 2 for a bad command line.\n",
	      f);
}

/* Layout of the option lists: descriptions start at HELP_COL, lines end by HELP_WIDTH. */
#define HELP_COL   35
#define HELP_WIDTH 80

/* "  -gi,    --gpu-instance-id=IDS": an option's names as the help shows them. */
static void opt_names(const struct cli_mig_opt *o, char *buf, size_t size)
{
	char sh[16];
	snprintf(sh, sizeof(sh), "%s%s", o->s ? o->s : "", o->s ? "," : "");
	snprintf(buf, size, "  %-8s%s%s%s%s", sh, o->l,
		 o->arg == CLI_ARG_OPT	 ? "[="
		 : o->arg == CLI_ARG_REQ ? "="
					 : "",
		 o->metavar ? o->metavar : "", o->arg == CLI_ARG_OPT ? "]" : "");
}

/*
 * The names, then the text word by word from HELP_COL, a line broken before
 * a word that would pass HELP_WIDTH.  Names that reach HELP_COL take their
 * own line.
 */
static void help_entry(FILE *f, const char *names, const char *text)
{
	size_t col = strlen(names);
	bool fresh = true; /* no word on this line yet */
	fputs(names, f);
	if (col >= HELP_COL) {
		fputc('\n', f);
		col = 0;
	}
	for (const char *w = text + strspn(text, " "); *w; w += strspn(w, " ")) {
		size_t len = strcspn(w, " ");
		if (!fresh && col + 1 + len > HELP_WIDTH) {
			fputc('\n', f);
			col = 0;
			fresh = true;
		}
		if (fresh)
			fprintf(f, "%*s", (int)(HELP_COL - col), "");
		else
			fputc(' ', f);
		col = (fresh ? HELP_COL : col + 1) + len;
		fwrite(w, 1, len, f);
		fresh = false;
		w += len;
	}
	fputc('\n', f);
}

/* The options of one section of mig_opts.def; an operation's text says which selectors it takes. */
static void help_section(FILE *f, enum cli_mig_section section)
{
	char names[128], text[512];
	for (unsigned k = 0; k < CLI_MO__COUNT; k++) {
		const struct cli_mig_opt *o = &cli_mig_opts[k];
		if (o->section != section)
			continue;
		opt_names(o, names, sizeof(names));
		if (o->section == CLI_MIG_SEC_OP && o->action != CLI_NONE)
			snprintf(text, sizeof(text), "%s (-i%s%s)", o->help,
				 o->gi != CLI_MIG_USE_NO ? ", -gi" : "",
				 o->ci != CLI_MIG_USE_NO ? ", -ci" : "");
		else
			snprintf(text, sizeof(text), "%s", o->help);
		help_entry(f, names, text);
	}
}

void cli_help_mig(FILE *f)
{
	fputs("Usage: vmig mig [OPTIONS]\n"
	      "\n"
	      "GPU instances (GIs) and compute instances (CIs), in nvidia-smi mig's dialect.\n"
	      "Without -i, every MIG-enabled GPU is used.\n"
	      "\n"
	      "Selectors:\n",
	      f);
	help_section(f, CLI_MIG_SEC_SEL);
	fputs("\nOperations (one per command):\n", f);
	help_section(f, CLI_MIG_SEC_OP);
	fputs("\nOther options:\n", f);
	help_section(f, CLI_MIG_SEC_OTHER);
	fputs("\n"
	      "Examples:\n"
	      "  vmig mig -cgi 9,3g.40gb -C       two 3g GPU instances with their CIs\n"
	      "  vmig mig -i 0 -cgi 19:6          a 1g GPU instance at placement start 6\n"
	      "  vmig mig -cci 0,0 -gi 1          two 1-slice CIs in GPU instance 1\n"
	      "  vmig mig -dci && vmig mig -dgi   remove every instance\n",
	      f);
}

void cli_help_sim(FILE *f)
{
	fputs("Usage: vmig sim COMMAND [ARGS]\n"
	      "\n"
	      "The simulated GPUs, kept in the state directory ($VMIG_STATE_DIR).\n"
	      "\n"
	      "Commands:\n"
	      "  models                    the GPU models that can be simulated\n"
	      "  list                      the GPUs in the state directory\n"
	      "  add MODEL [--count N] [--vm]\n"
	      "                            add N simulated GPUs of a model (default 1)\n"
	      "  remove INDEX [--force]    remove a simulated GPU; one that holds GPU\n"
	      "                            instances only with --force; later GPUs move\n"
	      "                            down one index\n"
	      "  reset [MODEL...] [--vm]   replace the simulated GPUs by new ones of the given\n"
	      "                            models (default: one " VMIG_SIM_DEFAULT_MODEL
	      "), without instances\n"
	      "\n"
	      "Options: -n, --count=N; -h, --help.\n"
	      "  -f, --force               (remove, reset) also take away the GPU instances\n"
	      "                            (remove) and software partitions of the GPUs that go\n"
	      "  --gi-numbering=heap|swapped  (add, reset) how the new GPUs number their GPU\n"
	      "                            instances: heap (default) or with the halves swapped\n"
	      "  --vm                      (add, reset) GPUs passed through to a VM without the\n"
	      "                            right to reset them: an Ampere MIG mode change stays\n"
	      "                            pending\n",
	      f);
}

void cli_help_config(FILE *f)
{
	fputs("Usage: vmig config COMMAND [OPTIONS]\n"
	      "\n"
	      "NVIDIA mig-parted's config files (version v1), read strictly: every error is\n"
	      "one line naming the file, line, column and key, exit status 2.\n"
	      "\n"
	      "Commands:\n"
	      "  validate   check a config against this node's GPUs (every label, or -c)\n"
	      "  apply      bring the GPUs to a label: hooks, MIG modes, then the devices\n"
	      "  assert     exit 0 if the node holds the label, else 1\n"
	      "  export     the node's layout as a config (label 'current')\n"
	      "  generate   mig-parted's generated labels for this node's GPU models\n"
	      "\n"
	      "Options (environment variable in brackets):\n"
	      "  -f, --config-file=FILE         the config, - = stdin [MIG_PARTED_CONFIG_FILE]\n"
	      "  -c, --selected-config=LABEL    the label; optional with a single label\n"
	      "                                 [MIG_PARTED_SELECTED_CONFIG]\n"
	      "  -k, --hooks-config-file=FILE   apply: hooks v1 [MIG_PARTED_HOOKS_FILE]\n"
	      "  -m, --mode-only                apply, assert: MIG modes only\n"
	      "                                 [MIG_PARTED_MODE_CHANGE_ONLY]\n"
	      "  -s, --skip-reset               apply: leave pending mode changes pending\n"
	      "                                 [MIG_PARTED_SKIP_RESET]\n"
	      "  -a, --valid-config             assert: only check the config and the label\n"
	      "                                 [MIG_PARTED_VALID_CONFIG]\n"
	      "  -o, --output-format=FORMAT     export, generate: yaml or json\n"
	      "                                 [MIG_PARTED_OUTPUT_FORMAT]\n"
	      "  -l, --config-label=LABEL       export: the label [MIG_PARTED_CONFIG_LABEL]\n"
	      "  -f, --output-file=FILE         generate: write to FILE, not stdout\n"
	      "  -d, --debug                    apply: show hook output [MIG_PARTED_DEBUG]\n"
	      "      --dry-run                  apply: print the plan, change and run nothing\n"
	      "      --force                    apply: idle instances may be moved\n"
	      "      --soft, --backend=NAME     the backend (as on vmig's main command line)\n"
	      "  -h, --help                     this help\n"
	      "\n"
	      "Exit status: 0 on success; 1 an assertion or a hook failed; 2 a bad command\n"
	      "line, file or variable; otherwise the NVML error number of the failure.\n",
	      f);
}
