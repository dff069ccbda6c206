/*
 * nvml_note.h — how vmig's nvml backend recognises vmig's own
 * libnvidia-ml.so.1 (docs/backends.md, "Simulated GPUs through NVML").
 *
 * The simulated library exports exactly NVML's names, so no symbol can say
 * whose it is.  It carries instead an ELF note, an SHT_NOTE section that the
 * linker puts in a PT_NOTE segment and the loader maps with the library:
 * owner "vmig", type VMIG_NVML_NOTE_TYPE, a 4-byte descriptor holding the
 * state-file version it reads.  The backend walks the program headers of
 * the library it loaded (dl_iterate_phdr) and looks for the note in memory;
 * only when it is there does the backend read vmig's state store, so a
 * `vmig -L` on a machine with NVIDIA's driver never opens a vmig state file.
 */
#ifndef VMIG_IFACE_NVML_NOTE_H
#define VMIG_IFACE_NVML_NOTE_H

#include <stdint.h>

#define VMIG_NVML_NOTE_OWNER "vmig"
#define VMIG_NVML_NOTE_TYPE  0x564d4e4cu /* "VMNL" */

/* The note as it lies in memory: header, owner padded to 4 bytes, descriptor. */
struct vmig_nvml_note {
	uint32_t namesz; /* sizeof(VMIG_NVML_NOTE_OWNER), NUL included */
	uint32_t descsz; /* 4 */
	uint32_t type;	 /* VMIG_NVML_NOTE_TYPE */
	char name[8];	 /* VMIG_NVML_NOTE_OWNER, padded */
	uint32_t state_version;
};

/* Define the note in the simulated library (once, in one of its files). */
#define VMIG_NVML_NOTE_DEFINE(version)                                                             \
	__attribute__((used, section(".note.vmig"),                                                \
		       aligned(4))) static const struct vmig_nvml_note vmig_nvml_note = {          \
	    sizeof(VMIG_NVML_NOTE_OWNER), 4, VMIG_NVML_NOTE_TYPE, VMIG_NVML_NOTE_OWNER, (version)}

#endif
