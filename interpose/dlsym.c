/*
 * dlsym.c — the exported dlsym.
 *
 * glibc resolves dlsym(RTLD_NEXT, name) relative to the object that called
 * dlsym, which it finds from the return address.  A dlsym written in C that
 * calls the real one would make every RTLD_NEXT lookup relative to
 * libvmig-cuda.so, so another preloaded library asking for "the next
 * malloc" could be handed its own.  On x86-64 dlsym is therefore a
 * trampoline: RTLD_NEXT jumps straight into glibc's dlsym with the
 * caller's return address untouched; any other handle jumps to
 * vmig__dlsym_any (hooks.c), which swaps hooked driver addresses for our
 * wrappers.  Elsewhere a C version stands in, with RTLD_NEXT lookups
 * relative to this library (documented in docs/interpose.md).
 */
#include <dlfcn.h>

#include "internal.h"

#if defined(__x86_64__)

/* rdi = handle, rsi = name; RTLD_NEXT is (void *)-1. */
__asm__(".text\n"
	".globl dlsym\n"
	".type dlsym, @function\n"
	"dlsym:\n"
	"	cmpq $-1, %rdi\n"
	"	jne vmig__dlsym_any\n"
	"	movq vmig__real_dlsym(%rip), %rax\n"
	"	testq %rax, %rax\n"
	"	jz 1f\n"
	"	jmp *%rax\n"
	"1:	pushq %rdi\n" /* first call: load glibc's dlsym, keep the arguments */
	"	pushq %rsi\n"
	"	subq $8, %rsp\n"
	"	call vmig__dlsym_loader\n"
	"	addq $8, %rsp\n"
	"	popq %rsi\n"
	"	popq %rdi\n"
	"	testq %rax, %rax\n"
	"	jz 2f\n"
	"	jmp *%rax\n"
	"2:	ret\n"
	".size dlsym, .-dlsym\n");

#else

__attribute__((visibility("default"))) void *dlsym(void *handle, const char *name)
{
	if (handle == RTLD_NEXT) {
		vmig__dlsym_fn *real = vmig__dlsym_loader();
		return real ? real(handle, name) : NULL;
	}
	return vmig__dlsym_any(handle, name);
}

#endif
