/*
 * config.h — the records of a parsed mig-parted config, shared by its
 * parser (config.c) and its selection (config_select.c) and nobody else.
 */
#ifndef VMIG_CONFIG_H
#define VMIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "vmig/vmig.h"

#define CFG_MAX_FILTERS 32
#define CFG_MAX_INDEX	999999u
#define CFG_MAX_PAIRS	4096
/* Node visits allowed in one walk: aliases can share a node many times. */
#define CFG_BUDGET (1ul << 20)

struct cfg_filter {
	uint32_t id, sub;
	bool has_sub;
};

struct cfg_dev {
	char text[40]; /* the key as written */
	struct vmig_profile_name name;
	unsigned count;
	unsigned line, col;
};

struct cfg_entry {
	unsigned line, col;	      /* the entry (a mapping) */
	unsigned devs_line, devs_col; /* its devices value */
	unsigned migd_line, migd_col; /* its mig-devices value */
	unsigned nfilter;
	struct cfg_filter filter[CFG_MAX_FILTERS];
	bool all;      /* devices: all */
	uint64_t mask; /* devices: [indexes] (those below VMIG_MAX_GPUS; others match nothing) */
	bool enabled;
	unsigned ndev;
	struct cfg_dev dev[VMIG_LAYOUT_MAX_DEVS];
};

struct cfg_label {
	char *name;
	size_t n;
	struct cfg_entry *e;
};

struct vmig_config {
	char *file;
	size_t nlabel;
	struct cfg_label *label;
};

/* Replace control characters in err's message by '?' (it quotes the file); returns r. */
int vmig__config_scrub(struct vmig_err *err, int r);

#endif
