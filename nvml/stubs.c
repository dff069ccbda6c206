/*
 * stubs.c — everything nvml/symbols.def lists that vmig gives no meaning to.
 * Each such name is exported and returns NVML_ERROR_NOT_SUPPORTED without
 * reading or writing its arguments, so any client (including go-nvml, which
 * dies on a missing symbol) can call it.  The arguments are left undeclared:
 * on the platform ABI a caller may pass arguments a function ignores.
 *
 * The same list also makes every implemented name referenced here, so a
 * name marked NVML_IMPL but not defined fails the link (-z defs) instead of
 * silently vanishing from the exports.
 */
#include "nv.h"

#define NVML_IMPL(name)
#define NVML_STUB(name)                                                                            \
	NVML_EXPORT nvmlReturn_t name(void);                                                       \
	NVML_EXPORT nvmlReturn_t name(void)                                                        \
	{                                                                                          \
		return NVML_ERROR_NOT_SUPPORTED;                                                   \
	}
#include "symbols.def"
#undef NVML_IMPL
#undef NVML_STUB

typedef void (*nv_any_fn)(void);
#define NVML_IMPL(name) (nv_any_fn) name,
#define NVML_STUB(name)
__attribute__((used)) static const nv_any_fn implemented[] = {
#include "symbols.def"
};
#undef NVML_IMPL
#undef NVML_STUB
