/*
 * cli.h — what the files of the vmig command share.
 *
 * The command is split in two halves that meet in struct cli_cmd: a pure
 * parser (args.c, args_verbs.c, list.c) turns argv into a cli_cmd without
 * touching anything outside its arguments, so the fuzz target can call it
 * on any input; the executors (gpu.c, mig_list.c, mig_ops.c, sim.c) carry a
 * parsed command out through libvmig.  Verbs are one table (verbs.def), the
 * options of `vmig mig` another (mig_opts.def); run.c holds both halves of
 * `vmig run`.
 *
 * Cross-file names here use the cli_ prefix: the command is an executable,
 * its names never reach another process, and the prefix keeps them apart
 * from libvmig's vmig__ internals, which share its link.
 */
#ifndef VMIG_CLI_H
#define VMIG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vmig/vmig.h"

#define CLI_MAX_ITEMS 64 /* items of one comma list */
#define CLI_ITEM_LEN  96 /* bytes of one list item, NUL included */
#define CLI_ERR_LEN   256

/* A comma list of words (GPU selectors, profile tuples, model keys). */
struct cli_list {
	unsigned n;
	char item[CLI_MAX_ITEMS][CLI_ITEM_LEN];
};

/* A comma list of instance IDs. */
struct cli_ids {
	unsigned n;
	unsigned v[CLI_MAX_ITEMS];
};

/* Fields of --query-gpu: X(enum suffix, name, csv header). */
#define CLI_QUERY_FIELDS(X)                                                                        \
	X(INDEX, "index", "index")                                                                 \
	X(NAME, "name", "name")                                                                    \
	X(UUID, "uuid", "uuid")                                                                    \
	X(PCI_BUS_ID, "pci.bus_id", "pci.bus_id")                                                  \
	X(MEMORY_TOTAL, "memory.total", "memory.total [MiB]")                                      \
	X(MIG_CURRENT, "mig.mode.current", "mig.mode.current")                                     \
	X(MIG_PENDING, "mig.mode.pending", "mig.mode.pending")                                     \
	X(DRIVER_VERSION, "driver_version", "driver_version")                                      \
	X(COMPUTE_CAP, "compute_cap", "compute_cap")                                               \
	X(PERSISTENCE_MODE, "persistence_mode", "persistence_mode")                                \
	X(MEMORY_USED, "memory.used", "memory.used [MiB]")                                         \
	X(MEMORY_FREE, "memory.free", "memory.free [MiB]")                                         \
	X(PCI_DEVICE_ID, "pci.device_id", "pci.device_id")                                         \
	X(SERIAL, "serial", "serial")                                                              \
	X(COUNT, "count", "count")

enum cli_query_field {
#define CLI_QF_ENUM(e, name, header) CLI_QF_##e,
	CLI_QUERY_FIELDS(CLI_QF_ENUM)
#undef CLI_QF_ENUM
	    CLI_QF__COUNT
};

/* What a command line asks for. */
enum cli_action {
	CLI_NONE,
	/* top level (nvidia-smi's main options) */
	CLI_TABLE,   /* no option: nvidia-smi's default table */
	CLI_SUMMARY, /* --summary: vmig's one-line-per-GPU summary */
	CLI_SET_PM,  /* -pm 0|1 */
	CLI_HELP,
	CLI_VERSION,
	CLI_LIST_GPUS, /* -L */
	CLI_SET_MIG,   /* -mig 0|1 */
	CLI_RESET,     /* -r */
	CLI_QUERY,     /* --query-gpu */
	/* vmig mig */
	CLI_MIG_HELP,
	CLI_LGIP,
	CLI_LGIPP,
	CLI_LGI,
	CLI_LCIP,
	CLI_LCIPP,
	CLI_LCI,
	CLI_CGI,
	CLI_DGI,
	CLI_CCI,
	CLI_DCI,
	CLI_RG, /* -rg: compute share of software GPU instances */
	/* vmig sim */
	CLI_SIM_HELP,
	CLI_SIM_MODELS,
	CLI_SIM_ADD,
	CLI_SIM_LIST,
	CLI_SIM_REMOVE,
	CLI_SIM_RESET,
	/* vmig run (run.c) */
	CLI_RUN_HELP,
	CLI_RUN,
	/* vmig config (config.c) */
	CLI_CONFIG_HELP,
	CLI_CONFIG_VALIDATE,
	CLI_CONFIG_APPLY,
	CLI_CONFIG_ASSERT,
	CLI_CONFIG_EXPORT,
	CLI_CONFIG_GENERATE,
	/* vmig cdi (cdi.c) */
	CLI_CDI_HELP,
	CLI_CDI_GENERATE,
	CLI_CDI_ENABLE,
	CLI_CDI_DISABLE,
	CLI_CDI_STATUS,
	/* vmig slurm (slurm.c) */
	CLI_SLURM_HELP,
	CLI_SLURM_GRES_CONF,
	CLI_SLURM_TASK_PROLOG,
	/* vmig k8s (k8s.c) */
	CLI_K8S_HELP,
	CLI_K8S_LABELS,
};

/* The options of `vmig cdi` (cdi.c); NULL: not given. */
struct cli_cdi_opts {
	const char *output;	/* --output DIR, or "-" (stdout) */
	const char *kind;	/* --kind VENDOR/CLASS */
	const char *mig_minors; /* --mig-minors FILE */
	const char *dev_root;	/* --dev-root DIR */
	bool watch;		/* --watch */
	unsigned interval_ms;	/* --interval MS (--watch's period; 500 when not given) */
	bool remove;		/* disable --remove */
	unsigned given;		/* the options given, a bit per option of cdi.c */
};

/* The options of `vmig slurm` (slurm.c); NULL / false: not given. */
struct cli_slurm_opts {
	const char *output;	/* gres-conf --output FILE */
	const char *node;	/* gres-conf --node NAME */
	const char *gres_conf;	/* task-prolog --gres-conf FILE */
	const char *mig_minors; /* --mig-minors FILE */
	const char *dev_root;	/* --dev-root DIR */
	bool autodetect;	/* gres-conf --autodetect */
};

/* The options of `vmig k8s` (k8s.c); NULL: not given. */
struct cli_k8s_opts {
	const char *output; /* labels --output FILE, or "-" (stdout) */
	const char *domain; /* labels --domain DOMAIN */
};

/* The options of `vmig config` (config.c); NULL / false: not given (the MIG_PARTED_* variables
 * apply). */
struct cli_config_opts {
	const char *file;	 /* -f, --config-file */
	const char *label;	 /* -c, --selected-config */
	const char *hooks;	 /* -k, --hooks-config-file */
	const char *format;	 /* -o, --output-format */
	const char *out_label;	 /* -l, --config-label */
	const char *output_file; /* generate: -f, --output-file */
	bool mode_only, skip_reset, valid_config, debug, dry_run;
};

/* Verbs: the single table, verbs.def. */
enum cli_verb {
	CLI_VERB_TOP = 0, /* no verb: nvidia-smi's main options */
#define VMIG_VERB(name, parse, exec, summary) CLI_VERB_##name,
#include "verbs.def"
#undef VMIG_VERB
	CLI_VERB__COUNT
};

struct cli_cmd {
	enum cli_verb verb;
	enum cli_action action;
	const char *action_opt; /* the option that chose the action, as typed */
	const char *backend;	/* --backend; NULL = $VMIG_BACKEND or the default */

	bool has_gpus, has_gi, has_ci;
	struct cli_list gpus; /* -i: indexes, PCI bus ids, UUIDs */
	struct cli_ids gi;    /* -gi */
	struct cli_ids ci;    /* -ci */

	bool has_profiles;
	struct cli_list profiles; /* -cgi / -cci tuples */
	bool default_ci;	  /* -C */
	const char *owner;	  /* -cgi --owner USER[:GROUP], resolved when run */
	bool show_owners;	  /* -lgi --owners */

	unsigned mig_mode; /* -mig: 0, 1, or N >= 2 (split into N GPU instances) */
	unsigned pm_mode;  /* -pm */

	unsigned nfields; /* --query-gpu */
	enum cli_query_field fields[CLI_MAX_ITEMS];
	bool csv_header, csv_units;

	struct cli_list models; /* sim add / sim reset */
	unsigned count;		/* sim add --count */
	unsigned index;		/* sim remove */
	bool force;		/* sim remove --force, config apply --force */
	unsigned gi_numbering;	/* sim add / reset --gi-numbering (enum vmig_gi_numbering) */
	bool gi_numbering_seen;
	bool sim_vm; /* sim add/reset --vm: GPUs in a VM that may not reset them */

	struct cli_config_opts config; /* vmig config */
	struct cli_cdi_opts cdi;       /* vmig cdi */
	struct cli_slurm_opts slurm;   /* vmig slurm */
	struct cli_k8s_opts k8s;       /* vmig k8s */

	const char *device; /* run -d */
	unsigned share;	    /* mig -rg, 1-100; 0 with --share-policy alone */
	bool has_policy;    /* mig -rg --share-policy */
	int share_policy;   /* enum vmig_share_policy */

	/* Arguments after "--", for verbs that start programs. */
	int rest_argc;
	char *const *rest_argv;
};

/* ---- parsing (pure: no I/O, no globals written) ---- */

/*
 * Parse argv (argv[0] is the program name) into *cmd.  Returns 0, or -1 with
 * a one-line message (no "vmig: " prefix, no newline) in err.
 */
int cli_parse(int argc, char *const argv[], struct cli_cmd *cmd, char *err, size_t errsize);

/* Option tables and the loop over them, shared by the verb parsers (args.c). */
enum cli_arg { CLI_ARG_NONE, CLI_ARG_REQ, CLI_ARG_OPT };
struct cli_opt {
	const char *s; /* "-gi", or NULL */
	const char *l; /* "--gpu-instance-id", or NULL */
	enum cli_arg arg;
	int id;
};
struct cli_parser {
	int argc, i; /* argv[i] is the next word */
	char *const *argv;
	char *err;
	size_t errsize;
	const char *opt_name; /* the last option's name, as typed (short or long) */
};
/*
 * Next word of argv: an option of the table (*ret_opt set, *ret_val its value
 * or NULL), or a positional word (*ret_opt NULL, *ret_val the word).  Returns
 * 1, 0 at the end, -1 on error (unknown option, missing or unwanted value).
 */
int cli_next(struct cli_parser *p, const struct cli_opt *table, const struct cli_opt **ret_opt,
	     const char **ret_val);
int cli_fail(struct cli_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Verbs whose first word is a command ("vmig cdi generate ..."): the
 * commands, each with the options it takes (a bit per option id;
 * CLI_EVERY_OPTION: all of the verb's, which its option function then
 * checks), and the
 * verb's option table and function.  cli_parse_commands reads the command,
 * then every option through option(), and answers each mistake with one
 * line naming the verb and its commands (list, "generate, enable or status").
 */
#define CLI_EVERY_OPTION 0xffffffffu
struct cli_command {
	const char *name;
	enum cli_action action;
	unsigned opts;
};
struct cli_commands {
	const char *verb; /* "cdi" */
	const char *list; /* the command names for messages */
	const struct cli_command *cmd;
	size_t n;
	const struct cli_opt *opts;
	int help_id;	      /* the option that asks for the help */
	enum cli_action help; /* and the action it selects */
	int (*option)(struct cli_parser *p, struct cli_cmd *cmd, int id, const char *v);
};
int cli_parse_commands(struct cli_parser *p, struct cli_cmd *cmd, const struct cli_commands *c);
/* Choose the action; a second, different one is a conflict. */
int cli_set_action(struct cli_parser *p, struct cli_cmd *cmd, enum cli_action a, const char *opt);

/* ---- the options of vmig mig: one list, mig_opts.def ---- */

enum cli_mig_opt_id {
#define VMIG_MIG_OPT(id, s, l, arg, metavar, action, gi, ci, section, help) CLI_MO_##id,
#include "mig_opts.def"
#undef VMIG_MIG_OPT
	CLI_MO__COUNT
};
/* Whether an operation takes -gi / -ci. */
enum cli_mig_use { CLI_MIG_USE_NO, CLI_MIG_USE_YES, CLI_MIG_USE_NEED };
/* The part of `vmig mig --help` that lists an option. */
enum cli_mig_section { CLI_MIG_SEC_SEL, CLI_MIG_SEC_OP, CLI_MIG_SEC_OTHER };
struct cli_mig_opt {
	const char *s, *l; /* short name or NULL, long name */
	enum cli_arg arg;
	const char *metavar;	/* the value's name in the help, NULL without a value */
	enum cli_action action; /* the operation it selects; CLI_NONE: selector, modifier */
	enum cli_mig_use gi, ci;
	enum cli_mig_section section;
	const char *help; /* one paragraph; the help wraps it */
};
/* The list expanded, indexed by enum cli_mig_opt_id (args_verbs.c). */
extern const struct cli_mig_opt cli_mig_opts[CLI_MO__COUNT];

/* --backend NAME. */
int cli_parse_backend(struct cli_parser *p, struct cli_cmd *cmd, const char *v);
/* -rg PERCENT: a compute share, 1 to 100 (mig -rg, and -rg at the top level). */
int cli_parse_share(struct cli_parser *p, struct cli_cmd *cmd, const char *v);
int cli_parse_policy(struct cli_parser *p, struct cli_cmd *cmd, const char *v);
/* -i / --id: a comma list of GPU selectors. */
int cli_parse_gpu_ids(struct cli_parser *p, struct cli_cmd *cmd, const char *v);

/* Lists (list.c).  what names the list in messages ("GPU instance ID"). */
int cli_parse_ids(const char *s, const char *what, struct cli_ids *ret, char *err, size_t errsize);
int cli_parse_words(const char *s, const char *what, struct cli_list *ret, char *err,
		    size_t errsize);
/* A decimal number without sign, at most max; -1 if s is not one. */
int cli_parse_uint(const char *s, unsigned max, unsigned *ret);
/* "[domain:]bus:device.function" in hex; -1 if malformed. */
int cli_parse_bus_id(const char *s, unsigned *ret_domain, unsigned *ret_bus, unsigned *ret_dev,
		     unsigned *ret_fn);
/* Check the syntax of a GPU selector: index, PCI bus id or UUID. */
int cli_check_gpu_selector(const char *s);

/* Verb parsers and executors, declared from the table. */
#define VMIG_VERB(name, parse, exec, summary)                                                      \
	int parse(struct cli_parser *p, struct cli_cmd *cmd);                                      \
	int exec(const struct cli_cmd *cmd);
#include "verbs.def"
#undef VMIG_VERB

/* --soft: the soft backend, as --backend soft (args.c). */
int cli_parse_soft(struct cli_parser *p, struct cli_cmd *cmd);

/* ---- execution ---- */

/* Carry out a parsed command; returns the exit status. */
int cli_exec(const struct cli_cmd *cmd);

/* Exit status of a vmig error code, as nvidia-smi gives it (the NVML number; 999 -> 255). */
int cli_status(int code);
/* "vmig: <msg>" on stderr; returns the exit status for e. */
int cli_report(const struct vmig_err *e);
/*
 * After an nvidia-smi-style failure line: the detail on stderr ("vmig: ...")
 * where NVML has no word for the cause (code 999) or the cause is vmig's own
 * (TIMEOUT: which process holds the state's lock; OTHER_OWNER: hardware MIG
 * and software partitions on one GPU).
 */
void cli_detail(int r, const struct vmig_err *err);
/* "vmig: <formatted>" on stderr; returns status. */
int cli_errorf(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A snapshot taken through a backend, with the GPUs a command targets. */
struct cli_view {
	struct vmig_ctx *ctx;
	struct vmig_state *st;
	bool sel[VMIG_MAX_GPUS]; /* GPUs chosen by -i (all when -i is absent) */
};
/* Open the backend and take a snapshot; on failure the error is printed. */
/*
 * Run a command's changes as one commit (vmig_hold/vmig_release): each
 * change is still refused or made on its own, with its own message, and the
 * ones made are written once at the end.
 */
int cli_held(const struct cli_cmd *cmd, struct cli_view *v,
	     int (*change)(const struct cli_cmd *, struct cli_view *));
int cli_view_open(const struct cli_cmd *cmd, struct cli_view *v, int *ret_status);
void cli_view_close(struct cli_view *v);
/* Re-read the state after changes. */
int cli_view_refresh(struct cli_view *v, int *ret_status);
/* Index of the GPU a selector (index, PCI bus id or UUID) names in a state; -1 if none. */
int cli_match_gpu(const char *s, const struct vmig_state *st);
/* Resolve -i against a state; an unmatched selector is an error (printed). */
int cli_select(const struct cli_cmd *cmd, const struct vmig_state *st, bool sel[VMIG_MAX_GPUS],
	       int *ret_status);

/*
 * May this process attach to software partition GI gi of GPU gpu, whose
 * limits l are?  The checks the interposer makes (run.c; docs/tenancy.md).
 */
struct vmig_soft_limits;
int cli_soft_check(unsigned gpu, unsigned gi, const struct vmig_soft_limits *l,
		   struct vmig_err *err);

/* "00000000:07:00.0" */
void cli_bus_id(const struct vmig_gpu_state *g, char out[32]);
/* GIs of a GPU in nvidia-smi's listing order: by profile in -lgip order, then ID. */
unsigned cli_gi_order(const struct vmig_gpu_state *g,
		      const struct vmig_gi_state *out[VMIG_MAX_GIS]);
/* The GI profile of a GI (NULL only for a state the library would reject). */
const struct vmig_gi_profile *cli_gi_profile(const struct vmig_gpu_state *g,
					     const struct vmig_gi_state *gi);
/* Name of a CI profile ("1c.3g.40gb"); "?" when it cannot be formed. */
const char *cli_ci_name(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp,
			char *buf, size_t size);
bool cli_ids_has(const struct cli_ids *ids, unsigned v);

/* The GPUs a mig operation targets: selected, MIG capable and (need_enabled) in MIG mode. */
int cli_mig_targets(const struct cli_cmd *cmd, const struct cli_view *v, bool need_enabled,
		    bool out[VMIG_MAX_GPUS], int *ret_status);
/* Targeted GIs of a GPU in listing order (-gi filters). */
unsigned cli_mig_gis(const struct cli_cmd *cmd, const struct vmig_gpu_state *g,
		     const struct vmig_gi_state *out[VMIG_MAX_GIS]);
bool cli_ci_wanted(const struct cli_cmd *cmd, const struct vmig_ci_state *ci);
/* Every -gi / -ci ID must name an instance on a targeted GPU (else printed error). */
int cli_check_instances(const struct cli_cmd *cmd, const struct cli_view *v,
			const bool tgt[VMIG_MAX_GPUS], int *ret_status);

/* Help texts (help.c). */
void cli_help_top(FILE *f);
void cli_help_mig(FILE *f);
void cli_help_sim(FILE *f);
void cli_help_config(FILE *f);

/* Top-level actions (gpu.c). */
int cli_exec_top(const struct cli_cmd *cmd);
/* nvidia-smi's default output: the GPU table, MIG devices and processes (table.c). */
int cli_table(struct cli_view *v);
/* -L (gpu.c); mig listings (mig_list.c); changes, -rg included (mig_ops.c). */
int cli_mig_list(const struct cli_cmd *cmd, struct cli_view *v);
int cli_mig_change(const struct cli_cmd *cmd, struct cli_view *v);
/* -mig N (N >= 2) and -rg at the top level, through libvmig's layouts (layout_cmds.c). */
int cli_mig_split(const struct cli_cmd *cmd, struct cli_view *v);
int cli_top_share(const struct cli_cmd *cmd);

#endif
