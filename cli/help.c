/*
 * help.c — the text of `vmig --help`, `vmig mig --help` and `vmig sim
 * --help`.  The list of verbs comes from verbs.def, so a new verb shows up
 * here without a second list to keep in step.
 */
#include "cli.h"

void cli_help_top(FILE *f)
{
	fputs("vmig " VMIG_VERSION
	      " - Multi-Instance GPU partitioning for simulated and real GPUs\n"
	      "\n"
	      "Usage: vmig [OPTIONS]\n"
	      "       vmig COMMAND [OPTIONS]\n"
	      "\n"
	      "With no options, a summary of the GPUs: index, name, UUID, MIG mode and the\n"
	      "number of GPU and compute instances; simulated GPUs are marked [simulated].\n"
	      "\n"
	      "Options (nvidia-smi's main command line):\n"
	      "  -i,   --id=IDS            GPUs to act on: indexes, PCI bus ids or UUIDs,\n"
	      "                           comma-separated (default: all GPUs)\n"
	      "  -L,   --list-gpus         list GPUs and their MIG devices\n"
	      "  -mig, --multi-instance-gpu=MODE\n"
	      "                           enable or disable MIG mode: 0/DISABLED, 1/ENABLED;\n"
	      "                           on Ampere GPUs the change is pending until a reset\n"
	      "  -r,   --gpu-reset         reset the GPUs: a pending MIG mode takes effect and\n"
	      "                           all GPU and compute instances are destroyed\n"
	      "        --query-gpu=FIELDS  print fields of each GPU: index, name, uuid,\n"
	      "                           pci.bus_id, memory.total, mig.mode.current,\n"
	      "                           mig.mode.pending ([N/A] on GPUs without MIG)\n"
	      "        --format=FORMAT     with --query-gpu: csv[,noheader][,nounits]\n"
	      "        --backend=NAME      sim, nvml, soft or auto (default: $VMIG_BACKEND,\n"
	      "                           else auto: nvml when it finds GPUs, else sim)\n"
	      "        --soft              the soft backend: MIG in software on any GPU\n"
	      "                           (same as --backend=soft; docs/soft.md)\n"
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

void cli_help_mig(FILE *f)
{
	fputs("Usage: vmig mig [OPTIONS]\n"
	      "\n"
	      "GPU instances (GIs) and compute instances (CIs), in nvidia-smi mig's dialect.\n"
	      "Without -i, every MIG-enabled GPU is used.\n"
	      "\n"
	      "Selectors:\n"
	      "  -i,     --id=IDS                  GPUs: indexes, PCI bus ids or UUIDs,\n"
	      "                                   comma-separated\n"
	      "  -gi,    --gpu-instance-id=IDS     GPU instance IDs, comma-separated\n"
	      "  -ci,    --compute-instance-id=IDS compute instance IDs, comma-separated\n"
	      "\n"
	      "Operations (one per command):\n"
	      "  -lgip,  --list-gpu-instance-profiles\n"
	      "                                   list the GPU instance profiles (-i)\n"
	      "  -lgipp, --list-gpu-instance-possible-placements\n"
	      "                                   list the possible placements of each GPU\n"
	      "                                   instance profile as {Start,...}:Size (-i)\n"
	      "  -cgi,   --create-gpu-instance=LIST\n"
	      "                                   create GPU instances for a comma-separated\n"
	      "                                   list of tuples PROFILE[:START]; PROFILE is a\n"
	      "                                   profile ID (9), name (3g.40gb) or full name\n"
	      "                                   (MIG 3g.40gb), START a placement start; done\n"
	      "                                   left to right, stopping at the first failure\n"
	      "  -C,     --default-compute-instance\n"
	      "                                   with -cgi: also create the default compute\n"
	      "                                   instance in each new GPU instance\n"
	      "  -dgi,   --destroy-gpu-instance    destroy GPU instances (-i, -gi)\n"
	      "  -lgi,   --list-gpu-instances      list GPU instances (-i, -gi)\n"
	      "  -lcip,  --list-compute-instance-profiles\n"
	      "                                   list compute instance profiles of each GPU\n"
	      "                                   instance; * marks the default (-i, -gi)\n"
	      "  -lcipp, --list-compute-instance-possible-placements\n"
	      "                                   list the possible placements of each compute\n"
	      "                                   instance profile, in compute slices (-i, -gi)\n"
	      "  -cci,   --create-compute-instance[=LIST]\n"
	      "                                   create compute instances for CI profile IDs or\n"
	      "                                   names (PROFILE[:START]); the default profile\n"
	      "                                   when no list is given (-i, -gi)\n"
	      "  -dci,   --destroy-compute-instance\n"
	      "                                   destroy compute instances (-i, -gi, -ci)\n"
	      "  -lci,   --list-compute-instances  list compute instances (-i, -gi, -ci)\n"
	      "  -rg,    --compute-share=PERCENT   software partitions: give GPU instances\n"
	      "                                   PERCENT (1-100) of the GPU's compute time,\n"
	      "                                   also while programs run in them (-i, -gi)\n"
	      "\n"
	      "Other options:\n"
	      "          --backend=NAME            sim, nvml, soft or auto\n"
	      "          --soft                    the soft backend (--backend=soft)\n"
	      "  -h,     --help                    this help\n"
	      "\n"
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
	      "  add MODEL [--count N]     add N simulated GPUs of a model (default 1)\n"
	      "  remove INDEX [--force]    remove a simulated GPU; one that holds GPU\n"
	      "                            instances only with --force; later GPUs move\n"
	      "                            down one index\n"
	      "  reset [MODEL...]          replace the simulated GPUs by new ones of the given\n"
	      "                            models (default: one " VMIG_SIM_DEFAULT_MODEL
	      "), without instances\n"
	      "\n"
	      "Options: -n, --count=N; -f, --force; -h, --help.\n",
	      f);
}
