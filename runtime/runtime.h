/*
 * runtime.h — vmig-container-runtime's two halves: main.c (the command
 * line, the configuration, the exec of the real runtime) and oci.c (the
 * bundle's config.json: which devices it asks for, and the CDI edits that
 * give them).  docs/containers.md describes the behaviour.
 */
#ifndef VMIG_RUNTIME_H
#define VMIG_RUNTIME_H

#include <stddef.h>

#include "vmig/vmig.h"

/* The variables that name devices, in the container's process.env; the first one set wins. */
#define RT_ENV_VISIBLE_VMIG   "VMIG_VISIBLE_DEVICES"
#define RT_ENV_VISIBLE_NVIDIA "NVIDIA_VISIBLE_DEVICES"
/* Annotations whose keys start with this name devices as comma lists of KIND=NAME. */
#define RT_CDI_ANNOTATION "cdi.k8s.io/"

/* The real runtime to exec. */
#define RT_ENV_RUNTIME	   "VMIG_RUNTIME"
#define RT_RUNTIME_DEFAULT "runc"
/* A file of NAME=VALUE lines (VMIG_* variables) read at start; the environment wins. */
#define RT_ENV_CONFIG	  "VMIG_RUNTIME_CONFIG"
#define RT_CONFIG_DEFAULT "/etc/vmig/container-runtime.conf"
/* The global option that names it instead: --vmig-config=FILE. */
#define RT_OPT_CONFIG "vmig-config"

/*
 * Give the container of bundle dir the devices its config.json names: 0
 * when it names none (the file is untouched) or after the edits were
 * written (atomically), else a negated error with a message in *err and
 * the file untouched.
 */
int rt_edit_bundle(const char *bundle, const char *kind, struct vmig_err *err);

#endif
