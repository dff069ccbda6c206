/*
 * cuda_api.h — the part of the CUDA driver API that libvmig-cuda.so touches,
 * declared here from the published ABI facts (cuda.h's typedefs, struct
 * layouts and signatures), so the interposer builds without a CUDA toolkit.
 *
 * It has three parts: the types and constants; one signature macro pair per
 * family of hooked functions (SIG_x_P = the parameter list, SIG_x_A = the
 * argument list), which hooks.def names; and the prototypes, generated from
 * hooks.def for the hooked functions and written out for the few unhooked
 * ones the interposer calls (events, stream capture).  Every function
 * pointer in the interposer is declared with __typeof__ of one of these
 * prototypes, never with an empty parameter list.
 */
#ifndef VMIG_CUDA_API_H
#define VMIG_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

/* ---- Scalars and handles ------------------------------------------------ */

/* CUresult is an enum in cuda.h; all its values fit an int. */
typedef enum vmig_cu_result {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_NOT_READY = 600,
	CUDA_ERROR_NOT_SUPPORTED = 801,
	CUDA_ERROR_UNKNOWN = 999,
} CUresult;

typedef unsigned long long CUdeviceptr; /* 64-bit since CUDA 3.2 (_v2 names) */
typedef unsigned int CUdeviceptr_v1;	/* the pre-3.2 32-bit form */
typedef int CUdevice;
typedef uint64_t cuuint64_t;
typedef unsigned long long CUmemGenericAllocationHandle;
typedef struct CUctx_st *CUcontext;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUarray_st *CUarray;
typedef struct CUmipmappedArray_st *CUmipmappedArray;
typedef struct CUmemPoolHandle_st *CUmemoryPool;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphNode_st *CUgraphNode;
typedef struct CUgraphExec_st *CUgraphExec;
typedef struct CUlaunchAttribute_st CUlaunchAttribute; /* only pointed to */

/* Special stream handles usable with every stream-taking function. */
#define CU_STREAM_LEGACY       ((CUstream)0x1)
#define CU_STREAM_PER_THREAD   ((CUstream)0x2)
#define CU_STREAM_NON_BLOCKING 0x1 /* cuStreamCreate: no implicit wait on the legacy stream */

/* cuGetProcAddress flags and symbolStatus values. */
#define CU_GET_PROC_ADDRESS_DEFAULT		      0
#define CU_GET_PROC_ADDRESS_LEGACY_STREAM	      (1ULL << 0)
#define CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM (1ULL << 1)
typedef enum vmig_cu_proc_status {
	CU_GET_PROC_ADDRESS_SUCCESS = 0,
	CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND = 1,
	CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT = 2,
} CUdriverProcAddressQueryResult;

/* ---- Arrays ------------------------------------------------------------- */

typedef enum vmig_cu_array_format {
	CU_AD_FORMAT_UNSIGNED_INT8 = 0x01,
	CU_AD_FORMAT_UNSIGNED_INT16 = 0x02,
	CU_AD_FORMAT_UNSIGNED_INT32 = 0x03,
	CU_AD_FORMAT_SIGNED_INT8 = 0x08,
	CU_AD_FORMAT_SIGNED_INT16 = 0x09,
	CU_AD_FORMAT_SIGNED_INT32 = 0x0a,
	CU_AD_FORMAT_HALF = 0x10,
	CU_AD_FORMAT_FLOAT = 0x20,
} CUarray_format;

#define CUDA_ARRAY3D_LAYERED 0x01
#define CUDA_ARRAY3D_CUBEMAP 0x04

typedef struct {
	size_t Width, Height;
	CUarray_format Format;
	unsigned int NumChannels;
} CUDA_ARRAY_DESCRIPTOR;

typedef struct {
	unsigned int Width, Height;
	CUarray_format Format;
	unsigned int NumChannels;
} CUDA_ARRAY_DESCRIPTOR_v1;

typedef struct {
	size_t Width, Height, Depth;
	CUarray_format Format;
	unsigned int NumChannels;
	unsigned int Flags;
} CUDA_ARRAY3D_DESCRIPTOR;

typedef struct {
	unsigned int Width, Height, Depth;
	CUarray_format Format;
	unsigned int NumChannels;
	unsigned int Flags;
} CUDA_ARRAY3D_DESCRIPTOR_v1;

/* ---- Virtual memory management, pools, graph memory nodes -------------- */

#define CU_MEM_LOCATION_TYPE_DEVICE 1

typedef struct {
	int type; /* CUmemLocationType */
	int id;
} CUmemLocation;

typedef struct {
	int type;		  /* CUmemAllocationType */
	int requestedHandleTypes; /* CUmemAllocationHandleType */
	CUmemLocation location;
	void *win32HandleMetaData;
	struct {
		unsigned char compressionType;
		unsigned char gpuDirectRDMACapable;
		unsigned short usage;
		unsigned char reserved[4];
	} allocFlags;
} CUmemAllocationProp;

typedef struct {
	CUmemLocation location;
	int flags;
} CUmemAccessDesc;

typedef struct {
	int allocType;
	int handleTypes;
	CUmemLocation location;
	void *win32SecurityAttributes;
	size_t maxSize;
	unsigned short usage;
	unsigned char reserved[54];
} CUmemPoolProps;

typedef struct {
	CUmemPoolProps poolProps;
	const CUmemAccessDesc *accessDescs;
	size_t accessDescCount;
	size_t bytesize;
	CUdeviceptr dptr; /* out */
} CUDA_MEM_ALLOC_NODE_PARAMS;

/* ---- Launches ----------------------------------------------------------- */

typedef struct {
	unsigned int gridDimX, gridDimY, gridDimZ;
	unsigned int blockDimX, blockDimY, blockDimZ;
	unsigned int sharedMemBytes;
	CUstream hStream;
	CUlaunchAttribute *attrs;
	unsigned int numAttrs;
} CUlaunchConfig;

typedef enum vmig_cu_capture_status {
	CU_STREAM_CAPTURE_STATUS_NONE = 0,
	CU_STREAM_CAPTURE_STATUS_ACTIVE = 1,
	CU_STREAM_CAPTURE_STATUS_INVALIDATED = 2,
} CUstreamCaptureStatus;

_Static_assert(sizeof(CUmemAllocationProp) == 32, "CUmemAllocationProp layout");
_Static_assert(sizeof(CUmemPoolProps) == 88, "CUmemPoolProps layout");
_Static_assert(offsetof(CUDA_MEM_ALLOC_NODE_PARAMS, bytesize) == 104, "mem node layout");
_Static_assert(offsetof(CUlaunchConfig, hStream) == 32, "CUlaunchConfig layout");
_Static_assert(sizeof(CUDA_ARRAY3D_DESCRIPTOR) == 40, "CUDA_ARRAY3D_DESCRIPTOR layout");

/* ---- Signatures of the hooked families (named by hooks.def) ------------- */

#define SIG_INIT_P unsigned int Flags
#define SIG_INIT_A Flags
#define SIG_GPA1_P const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags
#define SIG_GPA1_A symbol, pfn, cudaVersion, flags
#define SIG_GPA2_P                                                                                 \
	const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,                         \
	    CUdriverProcAddressQueryResult *symbolStatus
#define SIG_GPA2_A symbol, pfn, cudaVersion, flags, symbolStatus

#define SIG_ALLOC1_P CUdeviceptr_v1 *dptr, unsigned int bytesize
#define SIG_ALLOC1_A dptr, bytesize
#define SIG_ALLOC_P  CUdeviceptr *dptr, size_t bytesize
#define SIG_ALLOC_A  dptr, bytesize
#define SIG_PITCH1_P                                                                               \
	CUdeviceptr_v1 *dptr, unsigned int *pPitch, unsigned int WidthInBytes,                     \
	    unsigned int Height, unsigned int ElementSizeBytes
#define SIG_PITCH1_A dptr, pPitch, WidthInBytes, Height, ElementSizeBytes
#define SIG_PITCH_P                                                                                \
	CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,                     \
	    unsigned int ElementSizeBytes
#define SIG_PITCH_A	dptr, pPitch, WidthInBytes, Height, ElementSizeBytes
#define SIG_MANAGED_P	CUdeviceptr *dptr, size_t bytesize, unsigned int flags
#define SIG_MANAGED_A	dptr, bytesize, flags
#define SIG_ASYNC_P	CUdeviceptr *dptr, size_t bytesize, CUstream hStream
#define SIG_ASYNC_A	dptr, bytesize, hStream
#define SIG_POOLASYNC_P CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream
#define SIG_POOLASYNC_A dptr, bytesize, pool, hStream
#define SIG_FREE1_P	CUdeviceptr_v1 dptr
#define SIG_FREE1_A	dptr
#define SIG_FREE_P	CUdeviceptr dptr
#define SIG_FREE_A	dptr
#define SIG_FREEASYNC_P CUdeviceptr dptr, CUstream hStream
#define SIG_FREEASYNC_A dptr, hStream
#define SIG_CREATE_P                                                                               \
	CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,        \
	    unsigned long long flags
#define SIG_CREATE_A  handle, size, prop, flags
#define SIG_RELEASE_P CUmemGenericAllocationHandle handle
#define SIG_RELEASE_A handle
#define SIG_MAP_P                                                                                  \
	CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,          \
	    unsigned long long flags
#define SIG_MAP_A	   ptr, size, offset, handle, flags
#define SIG_UNMAP_P	   CUdeviceptr ptr, size_t size
#define SIG_UNMAP_A	   ptr, size
#define SIG_RETAIN_P	   CUmemGenericAllocationHandle *handle, void *addr
#define SIG_RETAIN_A	   handle, addr
#define SIG_ARRAY1_P	   CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR_v1 *pAllocateArray
#define SIG_ARRAY1_A	   pHandle, pAllocateArray
#define SIG_ARRAY_P	   CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray
#define SIG_ARRAY_A	   pHandle, pAllocateArray
#define SIG_ARRAY3D1_P	   CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR_v1 *pAllocateArray
#define SIG_ARRAY3D1_A	   pHandle, pAllocateArray
#define SIG_ARRAY3D_P	   CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray
#define SIG_ARRAY3D_A	   pHandle, pAllocateArray
#define SIG_ARRAYDESTROY_P CUarray hArray
#define SIG_ARRAYDESTROY_A hArray
#define SIG_MIPMAP_P                                                                               \
	CUmipmappedArray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,             \
	    unsigned int numMipmapLevels
#define SIG_MIPMAP_A	    pHandle, pMipmappedArrayDesc, numMipmapLevels
#define SIG_MIPMAPDESTROY_P CUmipmappedArray hMipmappedArray
#define SIG_MIPMAPDESTROY_A hMipmappedArray
#define SIG_MEMNODE_P                                                                              \
	CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,                 \
	    size_t numDependencies, CUDA_MEM_ALLOC_NODE_PARAMS *nodeParams
#define SIG_MEMNODE_A	phGraphNode, hGraph, dependencies, numDependencies, nodeParams
#define SIG_MEMINFO1_P	unsigned int *pfree, unsigned int *ptotal
#define SIG_MEMINFO1_A	pfree, ptotal
#define SIG_MEMINFO_P	size_t *pfree, size_t *ptotal
#define SIG_MEMINFO_A	pfree, ptotal
#define SIG_TOTALMEM1_P unsigned int *bytes, CUdevice dev
#define SIG_TOTALMEM1_A bytes, dev
#define SIG_TOTALMEM_P	size_t *bytes, CUdevice dev
#define SIG_TOTALMEM_A	bytes, dev

#define SIG_KERNEL_P                                                                               \
	CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,         \
	    unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,                \
	    unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra
#define SIG_KERNEL_A                                                                               \
	f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream, \
	    kernelParams, extra
#define SIG_KERNELEX_P const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra
#define SIG_KERNELEX_A config, f, kernelParams, extra
#define SIG_COOP_P                                                                                 \
	CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,         \
	    unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,                \
	    unsigned int sharedMemBytes, CUstream hStream, void **kernelParams
#define SIG_COOP_A                                                                                 \
	f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream, \
	    kernelParams
#define SIG_GRAPHLAUNCH_P CUgraphExec hGraphExec, CUstream hStream
#define SIG_GRAPHLAUNCH_A hGraphExec, hStream
#define SIG_LAUNCH_P	  CUfunction f
#define SIG_LAUNCH_A	  f
#define SIG_GRID_P	  CUfunction f, int grid_width, int grid_height
#define SIG_GRID_A	  f, grid_width, grid_height
#define SIG_GRIDASYNC_P	  CUfunction f, int grid_width, int grid_height, CUstream hStream
#define SIG_GRIDASYNC_A	  f, grid_width, grid_height, hStream

/* ---- Prototypes ---------------------------------------------------------- */

#define VMIG_HOOK(sym, base, since, ptsz, impl, sig) CUresult sym(sig##_P);
#include "hooks.def"
#undef VMIG_HOOK

/* Unhooked functions the compute-share code calls through the real driver. */
CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags);
CUresult cuEventRecord(CUevent hEvent, CUstream hStream);
CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream);
CUresult cuEventQuery(CUevent hEvent);
CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd);
CUresult cuEventDestroy_v2(CUevent hEvent);
CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags);
CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus);
CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus);
/* Unhooked (address space only, no memory); declared for programs that use the VMM idiom. */
CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
			     unsigned long long flags);
CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size);

#endif
