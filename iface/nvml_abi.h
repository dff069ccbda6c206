/*
 * nvml_abi.h — the part of NVML's C ABI that vmig implements and consumes,
 * written from the documented facts (types, constants, struct layouts,
 * prototypes).  It serves two sides: the simulated libnvidia-ml.so.1 in nvml/
 * defines these functions, and the nvml backend in lib/backend/ types its
 * dlsym() table from them with __typeof__.  Every struct's size and field
 * offsets are pinned with _Static_assert to the x86_64 layout of NVIDIA's
 * header, so a drift breaks the build instead of a client.
 *
 * Order: return codes, handles, constants, structs (with their version
 * words), then prototypes grouped as init/system, device queries,
 * telemetry, MIG.  Functions NVML exports but vmig does not give meaning to
 * are not declared here; nvml/symbols.def lists every exported name.
 */
#ifndef VMIG_NVML_ABI_H
#define VMIG_NVML_ABI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Return codes                                                              */
/* ------------------------------------------------------------------------ */

typedef enum nvmlReturn_enum {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_NOT_SUPPORTED = 3,
	NVML_ERROR_NO_PERMISSION = 4,
	NVML_ERROR_ALREADY_INITIALIZED = 5,
	NVML_ERROR_NOT_FOUND = 6,
	NVML_ERROR_INSUFFICIENT_SIZE = 7,
	NVML_ERROR_INSUFFICIENT_POWER = 8,
	NVML_ERROR_DRIVER_NOT_LOADED = 9,
	NVML_ERROR_TIMEOUT = 10,
	NVML_ERROR_IRQ_ISSUE = 11,
	NVML_ERROR_LIBRARY_NOT_FOUND = 12,
	NVML_ERROR_FUNCTION_NOT_FOUND = 13,
	NVML_ERROR_CORRUPTED_INFOROM = 14,
	NVML_ERROR_GPU_IS_LOST = 15,
	NVML_ERROR_RESET_REQUIRED = 16,
	NVML_ERROR_OPERATING_SYSTEM = 17,
	NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
	NVML_ERROR_IN_USE = 19,
	NVML_ERROR_MEMORY = 20,
	NVML_ERROR_NO_DATA = 21,
	NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22,
	NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
	NVML_ERROR_FREQ_NOT_SUPPORTED = 24,
	NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
	NVML_ERROR_DEPRECATED = 26,
	NVML_ERROR_NOT_READY = 27,
	NVML_ERROR_GPU_NOT_FOUND = 28,
	NVML_ERROR_INVALID_STATE = 29,
	NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30,
	NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

/* ------------------------------------------------------------------------ */
/* Handles (opaque pointers; MIG devices are nvmlDevice_t too)              */
/* ------------------------------------------------------------------------ */

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef struct nvmlComputeInstance_st *nvmlComputeInstance_t;

/* ------------------------------------------------------------------------ */
/* Constants                                                                 */
/* ------------------------------------------------------------------------ */

/* Low 24 bits: the struct's size; bits 24-31: its version number. */
#define NVML_STRUCT_VERSION(data, ver)                                                             \
	((unsigned int)(sizeof(nvml##data##_v##ver##_t) | ((unsigned int)(ver) << 24)))

#define NVML_INIT_FLAG_NO_GPUS	  1u
#define NVML_INIT_FLAG_NO_ATTACH  2u
#define NVML_INIT_FLAG_FORCE_INIT 4u

#define NVML_DEVICE_UUID_BUFFER_SIZE	       80
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE	       96
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE   80
#define NVML_DEVICE_NAME_BUFFER_SIZE	       64
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE	       96
#define NVML_DEVICE_SERIAL_BUFFER_SIZE	       30
#define NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE  32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE     32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE  16

#define NVML_CUDA_DRIVER_VERSION_MAJOR(v) ((v) / 1000)
#define NVML_CUDA_DRIVER_VERSION_MINOR(v) (((v) % 1000) / 10)

#define NVML_VALUE_NOT_AVAILABLE (-1)

#define NVML_DEVICE_MIG_DISABLE 0x0
#define NVML_DEVICE_MIG_ENABLE	0x1

#define NVML_GPU_INSTANCE_PROFILE_1_SLICE	 0x0
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE	 0x1
#define NVML_GPU_INSTANCE_PROFILE_3_SLICE	 0x2
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE	 0x3
#define NVML_GPU_INSTANCE_PROFILE_7_SLICE	 0x4
#define NVML_GPU_INSTANCE_PROFILE_8_SLICE	 0x5
#define NVML_GPU_INSTANCE_PROFILE_6_SLICE	 0x6
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1	 0x7
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1	 0x8
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2	 0x9
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX	 0xA
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX	 0xB
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX	 0xC
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME	 0xD
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME	 0xE
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME 0xF
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME 0x10
#define NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX	 0x11
#define NVML_GPU_INSTANCE_PROFILE_COUNT		 0x12

#define NVML_GPU_INSTANCE_PROFILE_CAPS_P2P     0x1
#define NVML_GPU_INSTANCE_PROFILE_CAPS_GFX     0x2
#define NVML_COMPUTE_INSTANCE_PROFILE_CAPS_GFX 0x1

#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE	   0x0
#define NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE	   0x1
#define NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE	   0x2
#define NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE	   0x3
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE	   0x4
#define NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE	   0x5
#define NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE	   0x6
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1 0x7
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE_NVL  0x8
#define NVML_COMPUTE_INSTANCE_PROFILE_COUNT	   0x9

#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED 0x0
#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT  0x1

typedef enum nvmlEnableState_enum {
	NVML_FEATURE_DISABLED = 0,
	NVML_FEATURE_ENABLED = 1
} nvmlEnableState_t;

typedef unsigned int nvmlDeviceArchitecture_t;
#define NVML_DEVICE_ARCH_KEPLER	   2
#define NVML_DEVICE_ARCH_MAXWELL   3
#define NVML_DEVICE_ARCH_PASCAL	   4
#define NVML_DEVICE_ARCH_VOLTA	   5
#define NVML_DEVICE_ARCH_TURING	   6
#define NVML_DEVICE_ARCH_AMPERE	   7
#define NVML_DEVICE_ARCH_ADA	   8
#define NVML_DEVICE_ARCH_HOPPER	   9
#define NVML_DEVICE_ARCH_BLACKWELL 10
#define NVML_DEVICE_ARCH_UNKNOWN   0xffffffff

typedef enum nvmlBrandType_enum {
	NVML_BRAND_UNKNOWN = 0,
	NVML_BRAND_QUADRO = 1,
	NVML_BRAND_TESLA = 2,
	NVML_BRAND_NVS = 3,
	NVML_BRAND_GRID = 4,
	NVML_BRAND_GEFORCE = 5,
	NVML_BRAND_TITAN = 6,
	NVML_BRAND_NVIDIA_VAPPS = 7,
	NVML_BRAND_NVIDIA_VPC = 8,
	NVML_BRAND_NVIDIA_VCS = 9,
	NVML_BRAND_NVIDIA_VWS = 10
} nvmlBrandType_t;

typedef enum nvmlTemperatureSensors_enum { NVML_TEMPERATURE_GPU = 0 } nvmlTemperatureSensors_t;

typedef enum nvmlTemperatureThresholds_enum {
	NVML_TEMPERATURE_THRESHOLD_SHUTDOWN = 0,
	NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1,
	NVML_TEMPERATURE_THRESHOLD_MEM_MAX = 2,
	NVML_TEMPERATURE_THRESHOLD_GPU_MAX = 3
} nvmlTemperatureThresholds_t;

typedef enum nvmlClockType_enum {
	NVML_CLOCK_GRAPHICS = 0,
	NVML_CLOCK_SM = 1,
	NVML_CLOCK_MEM = 2,
	NVML_CLOCK_VIDEO = 3
} nvmlClockType_t;

typedef enum nvmlClockId_enum {
	NVML_CLOCK_ID_CURRENT = 0,
	NVML_CLOCK_ID_APP_CLOCK_TARGET = 1,
	NVML_CLOCK_ID_APP_CLOCK_DEFAULT = 2,
	NVML_CLOCK_ID_CUSTOMER_BOOST_MAX = 3
} nvmlClockId_t;

typedef enum nvmlPStates_enum { NVML_PSTATE_0 = 0, NVML_PSTATE_UNKNOWN = 32 } nvmlPstates_t;

typedef enum nvmlComputeMode_enum {
	NVML_COMPUTEMODE_DEFAULT = 0,
	NVML_COMPUTEMODE_EXCLUSIVE_THREAD = 1,
	NVML_COMPUTEMODE_PROHIBITED = 2,
	NVML_COMPUTEMODE_EXCLUSIVE_PROCESS = 3
} nvmlComputeMode_t;

typedef enum nvmlMemoryErrorType_enum {
	NVML_MEMORY_ERROR_TYPE_CORRECTED = 0,
	NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
} nvmlMemoryErrorType_t;

typedef enum nvmlEccCounterType_enum {
	NVML_VOLATILE_ECC = 0,
	NVML_AGGREGATE_ECC = 1
} nvmlEccCounterType_t;

/* Reasons for clocks below their maximum (GetCurrentClocksThrottleReasons). */
#define nvmlClocksThrottleReasonGpuIdle			  0x1ull
#define nvmlClocksThrottleReasonApplicationsClocksSetting 0x2ull
#define nvmlClocksThrottleReasonSwPowerCap		  0x4ull
#define nvmlClocksThrottleReasonHwSlowdown		  0x8ull

/* ------------------------------------------------------------------------ */
/* Structs (x86_64 layouts; offsets pinned below)                            */
/* ------------------------------------------------------------------------ */

typedef struct nvmlPciInfo_st {
	char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
	unsigned int domain;
	unsigned int bus;
	unsigned int device;
	unsigned int pciDeviceId; /* device id << 16 | vendor id */
	unsigned int pciSubSystemId;
	char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvmlPciInfo_t;

typedef struct nvmlPciInfoExt_v1_st {
	unsigned int version;
	unsigned int domain;
	unsigned int bus;
	unsigned int device;
	unsigned int pciDeviceId;
	unsigned int pciSubSystemId;
	unsigned int baseClass;
	unsigned int subClass;
	char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvmlPciInfoExt_v1_t;
typedef nvmlPciInfoExt_v1_t nvmlPciInfoExt_t;
#define nvmlPciInfoExt_v1 NVML_STRUCT_VERSION(PciInfoExt, 1)

typedef struct nvmlMemory_st {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used; /* reserved + allocated */
} nvmlMemory_t;

typedef struct nvmlMemory_v2_st {
	unsigned int version;
	unsigned long long total;
	unsigned long long reserved;
	unsigned long long free;
	unsigned long long used; /* allocated only */
} nvmlMemory_v2_t;
#define nvmlMemory_v2 NVML_STRUCT_VERSION(Memory, 2)

typedef struct nvmlBAR1Memory_st {
	unsigned long long bar1Total;
	unsigned long long bar1Free;
	unsigned long long bar1Used;
} nvmlBAR1Memory_t;

typedef struct nvmlUtilization_st {
	unsigned int gpu;
	unsigned int memory;
} nvmlUtilization_t;

/*
 * One process's utilisation over the driver's last sample period
 * (nvmlDeviceGetProcessUtilization): percentages of that period, and the
 * CPU time in microseconds the sample was taken at.
 */
typedef struct nvmlProcessUtilizationSample_st {
	unsigned int pid;
	unsigned long long timeStamp;
	unsigned int smUtil;
	unsigned int memUtil;
	unsigned int encUtil;
	unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

/*
 * Running-process entries: the legacy (unsuffixed) queries write v1 (pid,
 * memory), the _v2 and _v3 queries this layout, which adds the GI and CI
 * (0xFFFFFFFF outside MIG).
 */
typedef struct nvmlProcessInfo_v1_st {
	unsigned int pid;
	unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

typedef struct nvmlProcessInfo_st {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct nvmlDeviceAttributes_st {
	unsigned int multiprocessorCount;
	unsigned int sharedCopyEngineCount;
	unsigned int sharedDecoderCount;
	unsigned int sharedEncoderCount;
	unsigned int sharedJpegCount;
	unsigned int sharedOfaCount;
	unsigned int gpuInstanceSliceCount;
	unsigned int computeInstanceSliceCount;
	unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;

typedef struct nvmlGpuInstancePlacement_st {
	unsigned int start; /* first occupied memory slice */
	unsigned int size;  /* memory slices */
} nvmlGpuInstancePlacement_t;

typedef struct nvmlGpuInstanceProfileInfo_st {
	unsigned int id;
	unsigned int isP2pSupported;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int copyEngineCount;
	unsigned int decoderCount;
	unsigned int encoderCount;
	unsigned int jpegCount;
	unsigned int ofaCount;
	unsigned long long memorySizeMB;
} nvmlGpuInstanceProfileInfo_t;

typedef struct nvmlGpuInstanceProfileInfo_v2_st {
	unsigned int version;
	unsigned int id;
	unsigned int isP2pSupported;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int copyEngineCount;
	unsigned int decoderCount;
	unsigned int encoderCount;
	unsigned int jpegCount;
	unsigned int ofaCount;
	unsigned long long memorySizeMB;
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
} nvmlGpuInstanceProfileInfo_v2_t;
#define nvmlGpuInstanceProfileInfo_v2 NVML_STRUCT_VERSION(GpuInstanceProfileInfo, 2)

typedef struct nvmlGpuInstanceProfileInfo_v3_st {
	unsigned int version;
	unsigned int id;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int copyEngineCount;
	unsigned int decoderCount;
	unsigned int encoderCount;
	unsigned int jpegCount;
	unsigned int ofaCount;
	unsigned long long memorySizeMB;
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	unsigned int capabilities; /* NVML_GPU_INSTANCE_PROFILE_CAPS_* */
} nvmlGpuInstanceProfileInfo_v3_t;
#define nvmlGpuInstanceProfileInfo_v3 NVML_STRUCT_VERSION(GpuInstanceProfileInfo, 3)

typedef struct nvmlGpuInstanceInfo_st {
	nvmlDevice_t device; /* the parent GPU */
	unsigned int id;
	unsigned int profileId;
	nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

typedef struct nvmlComputeInstancePlacement_st {
	unsigned int start; /* first compute slice, within the GPU instance */
	unsigned int size;
} nvmlComputeInstancePlacement_t;

typedef struct nvmlComputeInstanceProfileInfo_st {
	unsigned int id;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int sharedCopyEngineCount;
	unsigned int sharedDecoderCount;
	unsigned int sharedEncoderCount;
	unsigned int sharedJpegCount;
	unsigned int sharedOfaCount;
} nvmlComputeInstanceProfileInfo_t;

typedef struct nvmlComputeInstanceProfileInfo_v2_st {
	unsigned int version;
	unsigned int id;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int sharedCopyEngineCount;
	unsigned int sharedDecoderCount;
	unsigned int sharedEncoderCount;
	unsigned int sharedJpegCount;
	unsigned int sharedOfaCount;
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
} nvmlComputeInstanceProfileInfo_v2_t;
#define nvmlComputeInstanceProfileInfo_v2 NVML_STRUCT_VERSION(ComputeInstanceProfileInfo, 2)

typedef struct nvmlComputeInstanceProfileInfo_v3_st {
	unsigned int version;
	unsigned int id;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int sharedCopyEngineCount;
	unsigned int sharedDecoderCount;
	unsigned int sharedEncoderCount;
	unsigned int sharedJpegCount;
	unsigned int sharedOfaCount;
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	unsigned int capabilities; /* NVML_COMPUTE_INSTANCE_PROFILE_CAPS_* */
} nvmlComputeInstanceProfileInfo_v3_t;
#define nvmlComputeInstanceProfileInfo_v3 NVML_STRUCT_VERSION(ComputeInstanceProfileInfo, 3)

typedef struct nvmlComputeInstanceInfo_st {
	nvmlDevice_t device; /* the parent GPU */
	nvmlGpuInstance_t gpuInstance;
	unsigned int id;
	unsigned int profileId;
	nvmlComputeInstancePlacement_t placement;
} nvmlComputeInstanceInfo_t;

/* Layout pins: sizes, and the offset of every field whose place is not obvious. */
#define NVML_ABI_PIN(type, size) _Static_assert(sizeof(type) == (size), #type " size")
#define NVML_ABI_AT(type, field, off)                                                              \
	_Static_assert(offsetof(type, field) == (off), #type "." #field " offset")
NVML_ABI_PIN(nvmlPciInfo_t, 68);
NVML_ABI_AT(nvmlPciInfo_t, domain, 16);
NVML_ABI_AT(nvmlPciInfo_t, pciDeviceId, 28);
NVML_ABI_AT(nvmlPciInfo_t, pciSubSystemId, 32);
NVML_ABI_AT(nvmlPciInfo_t, busId, 36);
NVML_ABI_PIN(nvmlPciInfoExt_v1_t, 64);
NVML_ABI_AT(nvmlPciInfoExt_v1_t, baseClass, 24);
NVML_ABI_AT(nvmlPciInfoExt_v1_t, busId, 32);
NVML_ABI_PIN(nvmlMemory_t, 24);
NVML_ABI_AT(nvmlMemory_t, used, 16);
NVML_ABI_PIN(nvmlMemory_v2_t, 40);
NVML_ABI_AT(nvmlMemory_v2_t, total, 8);
NVML_ABI_AT(nvmlMemory_v2_t, reserved, 16);
NVML_ABI_AT(nvmlMemory_v2_t, free, 24);
NVML_ABI_AT(nvmlMemory_v2_t, used, 32);
NVML_ABI_PIN(nvmlBAR1Memory_t, 24);
NVML_ABI_PIN(nvmlUtilization_t, 8);
NVML_ABI_PIN(nvmlProcessUtilizationSample_t, 32);
NVML_ABI_AT(nvmlProcessUtilizationSample_t, timeStamp, 8);
NVML_ABI_AT(nvmlProcessUtilizationSample_t, smUtil, 16);
NVML_ABI_AT(nvmlProcessUtilizationSample_t, decUtil, 28);
NVML_ABI_PIN(nvmlProcessInfo_t, 24);
NVML_ABI_PIN(nvmlProcessInfo_v1_t, 16);
NVML_ABI_PIN(nvmlDeviceAttributes_t, 40);
NVML_ABI_AT(nvmlDeviceAttributes_t, gpuInstanceSliceCount, 24);
NVML_ABI_AT(nvmlDeviceAttributes_t, computeInstanceSliceCount, 28);
NVML_ABI_AT(nvmlDeviceAttributes_t, memorySizeMB, 32);
NVML_ABI_PIN(nvmlGpuInstancePlacement_t, 8);
NVML_ABI_PIN(nvmlGpuInstanceProfileInfo_t, 48);
NVML_ABI_AT(nvmlGpuInstanceProfileInfo_t, ofaCount, 36);
NVML_ABI_AT(nvmlGpuInstanceProfileInfo_t, memorySizeMB, 40);
NVML_ABI_PIN(nvmlGpuInstanceProfileInfo_v2_t, 152);
NVML_ABI_AT(nvmlGpuInstanceProfileInfo_v2_t, ofaCount, 40);
NVML_ABI_AT(nvmlGpuInstanceProfileInfo_v2_t, memorySizeMB, 48);
NVML_ABI_AT(nvmlGpuInstanceProfileInfo_v2_t, name, 56);
NVML_ABI_PIN(nvmlGpuInstanceProfileInfo_v3_t, 152);
NVML_ABI_AT(nvmlGpuInstanceProfileInfo_v3_t, memorySizeMB, 40);
NVML_ABI_AT(nvmlGpuInstanceProfileInfo_v3_t, name, 48);
NVML_ABI_AT(nvmlGpuInstanceProfileInfo_v3_t, capabilities, 144);
NVML_ABI_PIN(nvmlGpuInstanceInfo_t, 24);
NVML_ABI_AT(nvmlGpuInstanceInfo_t, id, 8);
NVML_ABI_AT(nvmlGpuInstanceInfo_t, profileId, 12);
NVML_ABI_AT(nvmlGpuInstanceInfo_t, placement, 16);
NVML_ABI_PIN(nvmlComputeInstancePlacement_t, 8);
NVML_ABI_PIN(nvmlComputeInstanceProfileInfo_t, 36);
NVML_ABI_AT(nvmlComputeInstanceProfileInfo_t, sharedOfaCount, 32);
NVML_ABI_PIN(nvmlComputeInstanceProfileInfo_v2_t, 136);
NVML_ABI_AT(nvmlComputeInstanceProfileInfo_v2_t, name, 40);
NVML_ABI_PIN(nvmlComputeInstanceProfileInfo_v3_t, 140);
NVML_ABI_AT(nvmlComputeInstanceProfileInfo_v3_t, capabilities, 136);
NVML_ABI_PIN(nvmlComputeInstanceInfo_t, 32);
NVML_ABI_AT(nvmlComputeInstanceInfo_t, gpuInstance, 8);
NVML_ABI_AT(nvmlComputeInstanceInfo_t, id, 16);
NVML_ABI_AT(nvmlComputeInstanceInfo_t, profileId, 20);
NVML_ABI_AT(nvmlComputeInstanceInfo_t, placement, 24);

/* The version words, as NVIDIA's header computes them. */
_Static_assert(nvmlGpuInstanceProfileInfo_v2 == 0x02000098u, "GI profile info v2 word");
_Static_assert(nvmlGpuInstanceProfileInfo_v3 == 0x03000098u, "GI profile info v3 word");
_Static_assert(nvmlComputeInstanceProfileInfo_v2 == 0x02000088u, "CI profile info v2 word");
_Static_assert(nvmlComputeInstanceProfileInfo_v3 == 0x0300008Cu, "CI profile info v3 word");
_Static_assert(nvmlMemory_v2 == 0x02000028u, "memory v2 word");
_Static_assert(nvmlPciInfoExt_v1 == 0x01000040u, "PCI info ext v1 word");

/* ------------------------------------------------------------------------ */
/* Prototypes                                                                */
/* ------------------------------------------------------------------------ */

#ifndef NVML_EXPORT
#define NVML_EXPORT
#endif
#define NVML_FN(ret, name, args) NVML_EXPORT ret name args

/* Init, shutdown, errors, versions. */
NVML_FN(nvmlReturn_t, nvmlInit, (void));
NVML_FN(nvmlReturn_t, nvmlInit_v2, (void));
NVML_FN(nvmlReturn_t, nvmlInitWithFlags, (unsigned int flags));
NVML_FN(nvmlReturn_t, nvmlShutdown, (void));
NVML_FN(const char *, nvmlErrorString, (nvmlReturn_t result));
NVML_FN(nvmlReturn_t, nvmlSystemGetDriverVersion, (char *version, unsigned int length));
NVML_FN(nvmlReturn_t, nvmlSystemGetNVMLVersion, (char *version, unsigned int length));
NVML_FN(nvmlReturn_t, nvmlSystemGetCudaDriverVersion, (int *cudaDriverVersion));
NVML_FN(nvmlReturn_t, nvmlSystemGetCudaDriverVersion_v2, (int *cudaDriverVersion));

/* Enumeration and identity. */
NVML_FN(nvmlReturn_t, nvmlDeviceGetCount, (unsigned int *deviceCount));
NVML_FN(nvmlReturn_t, nvmlDeviceGetCount_v2, (unsigned int *deviceCount));
NVML_FN(nvmlReturn_t, nvmlDeviceGetHandleByIndex, (unsigned int index, nvmlDevice_t *device));
NVML_FN(nvmlReturn_t, nvmlDeviceGetHandleByIndex_v2, (unsigned int index, nvmlDevice_t *device));
NVML_FN(nvmlReturn_t, nvmlDeviceGetHandleByUUID, (const char *uuid, nvmlDevice_t *device));
NVML_FN(nvmlReturn_t, nvmlDeviceGetHandleBySerial, (const char *serial, nvmlDevice_t *device));
NVML_FN(nvmlReturn_t, nvmlDeviceGetHandleByPciBusId, (const char *pciBusId, nvmlDevice_t *device));
NVML_FN(nvmlReturn_t, nvmlDeviceGetHandleByPciBusId_v2,
	(const char *pciBusId, nvmlDevice_t *device));
NVML_FN(nvmlReturn_t, nvmlDeviceGetName, (nvmlDevice_t device, char *name, unsigned int length));
NVML_FN(nvmlReturn_t, nvmlDeviceGetUUID, (nvmlDevice_t device, char *uuid, unsigned int length));
NVML_FN(nvmlReturn_t, nvmlDeviceGetSerial,
	(nvmlDevice_t device, char *serial, unsigned int length));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPciInfo, (nvmlDevice_t device, nvmlPciInfo_t *pci));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPciInfo_v2, (nvmlDevice_t device, nvmlPciInfo_t *pci));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPciInfo_v3, (nvmlDevice_t device, nvmlPciInfo_t *pci));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPciInfoExt, (nvmlDevice_t device, nvmlPciInfoExt_t *pci));
NVML_FN(nvmlReturn_t, nvmlDeviceGetIndex, (nvmlDevice_t device, unsigned int *index));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMinorNumber, (nvmlDevice_t device, unsigned int *minorNumber));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMemoryInfo, (nvmlDevice_t device, nvmlMemory_t *memory));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMemoryInfo_v2, (nvmlDevice_t device, nvmlMemory_v2_t *memory));
NVML_FN(nvmlReturn_t, nvmlDeviceGetAttributes,
	(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes));
NVML_FN(nvmlReturn_t, nvmlDeviceGetAttributes_v2,
	(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes));
NVML_FN(nvmlReturn_t, nvmlDeviceGetCudaComputeCapability,
	(nvmlDevice_t device, int *major, int *minor));
NVML_FN(nvmlReturn_t, nvmlDeviceGetArchitecture,
	(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch));
NVML_FN(nvmlReturn_t, nvmlDeviceGetBrand, (nvmlDevice_t device, nvmlBrandType_t *type));

/* Telemetry and settings monitoring tools read. */
NVML_FN(nvmlReturn_t, nvmlDeviceGetPersistenceMode, (nvmlDevice_t device, nvmlEnableState_t *mode));
NVML_FN(nvmlReturn_t, nvmlDeviceSetPersistenceMode, (nvmlDevice_t device, nvmlEnableState_t mode));
NVML_FN(nvmlReturn_t, nvmlDeviceGetTemperature,
	(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType, unsigned int *temp));
NVML_FN(nvmlReturn_t, nvmlDeviceGetTemperatureThreshold,
	(nvmlDevice_t device, nvmlTemperatureThresholds_t thresholdType, unsigned int *temp));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPowerUsage, (nvmlDevice_t device, unsigned int *power));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPowerManagementLimit,
	(nvmlDevice_t device, unsigned int *limit));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPowerManagementDefaultLimit,
	(nvmlDevice_t device, unsigned int *defaultLimit));
NVML_FN(nvmlReturn_t, nvmlDeviceGetEnforcedPowerLimit, (nvmlDevice_t device, unsigned int *limit));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPowerManagementLimitConstraints,
	(nvmlDevice_t device, unsigned int *minLimit, unsigned int *maxLimit));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPowerManagementMode,
	(nvmlDevice_t device, nvmlEnableState_t *mode));
NVML_FN(nvmlReturn_t, nvmlDeviceGetTotalEnergyConsumption,
	(nvmlDevice_t device, unsigned long long *energy));
NVML_FN(nvmlReturn_t, nvmlDeviceGetClockInfo,
	(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMaxClockInfo,
	(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock));
NVML_FN(nvmlReturn_t, nvmlDeviceGetClock,
	(nvmlDevice_t device, nvmlClockType_t clockType, nvmlClockId_t clockId,
	 unsigned int *clockMHz));
NVML_FN(nvmlReturn_t, nvmlDeviceGetSupportedMemoryClocks,
	(nvmlDevice_t device, unsigned int *count, unsigned int *clocksMHz));
NVML_FN(nvmlReturn_t, nvmlDeviceGetSupportedGraphicsClocks,
	(nvmlDevice_t device, unsigned int memoryClockMHz, unsigned int *count,
	 unsigned int *clocksMHz));
NVML_FN(nvmlReturn_t, nvmlDeviceGetApplicationsClock,
	(nvmlDevice_t device, nvmlClockType_t clockType, unsigned int *clockMHz));
NVML_FN(nvmlReturn_t, nvmlDeviceGetDefaultApplicationsClock,
	(nvmlDevice_t device, nvmlClockType_t clockType, unsigned int *clockMHz));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMaxCustomerBoostClock,
	(nvmlDevice_t device, nvmlClockType_t clockType, unsigned int *clockMHz));
NVML_FN(nvmlReturn_t, nvmlDeviceGetCurrentClocksThrottleReasons,
	(nvmlDevice_t device, unsigned long long *clocksThrottleReasons));
NVML_FN(nvmlReturn_t, nvmlDeviceGetCurrentClocksEventReasons,
	(nvmlDevice_t device, unsigned long long *clocksEventReasons));
NVML_FN(nvmlReturn_t, nvmlDeviceGetSupportedClocksThrottleReasons,
	(nvmlDevice_t device, unsigned long long *supportedClocksThrottleReasons));
NVML_FN(nvmlReturn_t, nvmlDeviceGetSupportedClocksEventReasons,
	(nvmlDevice_t device, unsigned long long *supportedClocksEventReasons));
NVML_FN(nvmlReturn_t, nvmlDeviceGetUtilizationRates,
	(nvmlDevice_t device, nvmlUtilization_t *utilization));
NVML_FN(nvmlReturn_t, nvmlDeviceGetFanSpeed, (nvmlDevice_t device, unsigned int *speed));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPerformanceState, (nvmlDevice_t device, nvmlPstates_t *pState));
NVML_FN(nvmlReturn_t, nvmlDeviceGetPowerState, (nvmlDevice_t device, nvmlPstates_t *pState));
NVML_FN(nvmlReturn_t, nvmlDeviceGetComputeMode, (nvmlDevice_t device, nvmlComputeMode_t *mode));
NVML_FN(nvmlReturn_t, nvmlDeviceGetDisplayMode, (nvmlDevice_t device, nvmlEnableState_t *display));
NVML_FN(nvmlReturn_t, nvmlDeviceGetDisplayActive,
	(nvmlDevice_t device, nvmlEnableState_t *isActive));
NVML_FN(nvmlReturn_t, nvmlDeviceGetEccMode,
	(nvmlDevice_t device, nvmlEnableState_t *current, nvmlEnableState_t *pending));
NVML_FN(nvmlReturn_t, nvmlDeviceGetDefaultEccMode,
	(nvmlDevice_t device, nvmlEnableState_t *defaultMode));
NVML_FN(nvmlReturn_t, nvmlDeviceGetTotalEccErrors,
	(nvmlDevice_t device, nvmlMemoryErrorType_t errorType, nvmlEccCounterType_t counterType,
	 unsigned long long *eccCounts));
NVML_FN(nvmlReturn_t, nvmlDeviceGetCurrPcieLinkGeneration,
	(nvmlDevice_t device, unsigned int *currLinkGen));
NVML_FN(nvmlReturn_t, nvmlDeviceGetCurrPcieLinkWidth,
	(nvmlDevice_t device, unsigned int *currLinkWidth));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMaxPcieLinkGeneration,
	(nvmlDevice_t device, unsigned int *maxLinkGen));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuMaxPcieLinkGeneration,
	(nvmlDevice_t device, unsigned int *maxLinkGenDevice));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMaxPcieLinkWidth,
	(nvmlDevice_t device, unsigned int *maxLinkWidth));
NVML_FN(nvmlReturn_t, nvmlDeviceGetBAR1MemoryInfo,
	(nvmlDevice_t device, nvmlBAR1Memory_t *bar1Memory));
NVML_FN(nvmlReturn_t, nvmlDeviceGetVbiosVersion,
	(nvmlDevice_t device, char *version, unsigned int length));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMemoryBusWidth, (nvmlDevice_t device, unsigned int *busWidth));
NVML_FN(nvmlReturn_t, nvmlDeviceGetNumGpuCores, (nvmlDevice_t device, unsigned int *numCores));
NVML_FN(nvmlReturn_t, nvmlDeviceGetComputeRunningProcesses,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_v1_t *infos));
NVML_FN(nvmlReturn_t, nvmlDeviceGetComputeRunningProcesses_v2,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos));
NVML_FN(nvmlReturn_t, nvmlDeviceGetComputeRunningProcesses_v3,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGraphicsRunningProcesses,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_v1_t *infos));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGraphicsRunningProcesses_v2,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGraphicsRunningProcesses_v3,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMPSComputeRunningProcesses,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_v1_t *infos));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMPSComputeRunningProcesses_v2,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMPSComputeRunningProcesses_v3,
	(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos));

/* MIG mode and GPU instances. */
NVML_FN(nvmlReturn_t, nvmlDeviceSetMigMode,
	(nvmlDevice_t device, unsigned int mode, nvmlReturn_t *activationStatus));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMigMode,
	(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstanceProfileInfo,
	(nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_t *info));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstanceProfileInfoV,
	(nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_v2_t *info));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstanceProfileInfoByIdV,
	(nvmlDevice_t device, unsigned int profileId, nvmlGpuInstanceProfileInfo_v2_t *info));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstancePossiblePlacements,
	(nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placements,
	 unsigned int *count));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstancePossiblePlacements_v2,
	(nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placements,
	 unsigned int *count));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstanceRemainingCapacity,
	(nvmlDevice_t device, unsigned int profileId, unsigned int *count));
NVML_FN(nvmlReturn_t, nvmlDeviceCreateGpuInstance,
	(nvmlDevice_t device, unsigned int profileId, nvmlGpuInstance_t *gpuInstance));
NVML_FN(nvmlReturn_t, nvmlDeviceCreateGpuInstanceWithPlacement,
	(nvmlDevice_t device, unsigned int profileId, const nvmlGpuInstancePlacement_t *placement,
	 nvmlGpuInstance_t *gpuInstance));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceDestroy, (nvmlGpuInstance_t gpuInstance));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstances,
	(nvmlDevice_t device, unsigned int profileId, nvmlGpuInstance_t *gpuInstances,
	 unsigned int *count));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstanceById,
	(nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t *gpuInstance));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceGetInfo,
	(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info));

/* Compute instances. */
NVML_FN(nvmlReturn_t, nvmlGpuInstanceGetComputeInstanceProfileInfo,
	(nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,
	 nvmlComputeInstanceProfileInfo_t *info));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceGetComputeInstanceProfileInfoV,
	(nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,
	 nvmlComputeInstanceProfileInfo_v2_t *info));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceGetComputeInstanceRemainingCapacity,
	(nvmlGpuInstance_t gpuInstance, unsigned int profileId, unsigned int *count));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceGetComputeInstancePossiblePlacements,
	(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
	 nvmlComputeInstancePlacement_t *placements, unsigned int *count));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceCreateComputeInstance,
	(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
	 nvmlComputeInstance_t *computeInstance));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceCreateComputeInstanceWithPlacement,
	(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
	 const nvmlComputeInstancePlacement_t *placement, nvmlComputeInstance_t *computeInstance));
NVML_FN(nvmlReturn_t, nvmlComputeInstanceDestroy, (nvmlComputeInstance_t computeInstance));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceGetComputeInstances,
	(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
	 nvmlComputeInstance_t *computeInstances, unsigned int *count));
NVML_FN(nvmlReturn_t, nvmlGpuInstanceGetComputeInstanceById,
	(nvmlGpuInstance_t gpuInstance, unsigned int id, nvmlComputeInstance_t *computeInstance));
NVML_FN(nvmlReturn_t, nvmlComputeInstanceGetInfo,
	(nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t *info));
NVML_FN(nvmlReturn_t, nvmlComputeInstanceGetInfo_v2,
	(nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t *info));

/* MIG device handles. */
NVML_FN(nvmlReturn_t, nvmlDeviceIsMigDeviceHandle,
	(nvmlDevice_t device, unsigned int *isMigDevice));
NVML_FN(nvmlReturn_t, nvmlDeviceGetGpuInstanceId, (nvmlDevice_t device, unsigned int *id));
NVML_FN(nvmlReturn_t, nvmlDeviceGetComputeInstanceId, (nvmlDevice_t device, unsigned int *id));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMaxMigDeviceCount, (nvmlDevice_t device, unsigned int *count));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMigDeviceHandleByIndex,
	(nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice));
NVML_FN(nvmlReturn_t, nvmlDeviceGetDeviceHandleFromMigDeviceHandle,
	(nvmlDevice_t migDevice, nvmlDevice_t *device));

/* ------------------------------------------------------------------------ */
/* Host topology, processes, events, units (nvml/host.c, nvml/events.c)     */
/* ------------------------------------------------------------------------ */

typedef struct nvmlUnit_st *nvmlUnit_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;

typedef enum nvmlAffinityScope_enum {
	NVML_AFFINITY_SCOPE_NODE = 0,
	NVML_AFFINITY_SCOPE_SOCKET = 1
} nvmlAffinityScope_t;

/* Event type bits (nvmlDeviceRegisterEvents, nvmlEventData_t.eventType). */
#define nvmlEventTypeSingleBitEccError 0x0000000000000001ULL
#define nvmlEventTypeDoubleBitEccError 0x0000000000000002ULL
#define nvmlEventTypePState	       0x0000000000000004ULL
#define nvmlEventTypeXidCriticalError  0x0000000000000008ULL
#define nvmlEventTypeClock	       0x0000000000000010ULL
#define nvmlEventTypePowerSourceChange 0x0000000000000080ULL
#define nvmlEventMigConfigChange       0x0000000000000100ULL
#define nvmlEventTypeNone	       0x0000000000000000ULL

/* nvmlEventSetWait_v2's record; the legacy nvmlEventSetWait writes the first three fields. */
typedef struct nvmlEventData_st {
	nvmlDevice_t device;
	unsigned long long eventType;
	unsigned long long eventData;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
} nvmlEventData_t;

typedef struct nvmlHwbcEntry_st {
	unsigned int hwbcId;
	char firmwareVersion[32];
} nvmlHwbcEntry_t;

typedef struct nvmlTemperature_v1_st {
	unsigned int version;
	nvmlTemperatureSensors_t sensorType;
	int temperature;
} nvmlTemperature_v1_t;
typedef nvmlTemperature_v1_t nvmlTemperature_t;
#define nvmlTemperature_v1 NVML_STRUCT_VERSION(Temperature, 1)

typedef enum nvmlDeviceAddressingModeType_enum {
	NVML_DEVICE_ADDRESSING_MODE_NONE = 0,
	NVML_DEVICE_ADDRESSING_MODE_HMM = 1,
	NVML_DEVICE_ADDRESSING_MODE_ATS = 2
} nvmlDeviceAddressingModeType_t;

typedef struct nvmlDeviceAddressingMode_v1_st {
	unsigned int version;
	unsigned int value; /* nvmlDeviceAddressingModeType_t */
} nvmlDeviceAddressingMode_v1_t;
typedef nvmlDeviceAddressingMode_v1_t nvmlDeviceAddressingMode_t;
#define nvmlDeviceAddressingMode_v1 NVML_STRUCT_VERSION(DeviceAddressingMode, 1)

NVML_ABI_PIN(nvmlEventData_t, 32);
NVML_ABI_AT(nvmlEventData_t, eventData, 16);
NVML_ABI_AT(nvmlEventData_t, gpuInstanceId, 24);
NVML_ABI_PIN(nvmlHwbcEntry_t, 36);
NVML_ABI_PIN(nvmlTemperature_v1_t, 12);
NVML_ABI_PIN(nvmlDeviceAddressingMode_v1_t, 8);
_Static_assert(nvmlTemperature_v1 == 0x0100000Cu, "temperature v1 word");
_Static_assert(nvmlDeviceAddressingMode_v1 == 0x01000008u, "addressing mode v1 word");

NVML_FN(nvmlReturn_t, nvmlSystemGetProcessName,
	(unsigned int pid, char *name, unsigned int length));
NVML_FN(nvmlReturn_t, nvmlSystemGetHicVersion,
	(unsigned int *hwbcCount, nvmlHwbcEntry_t *hwbcEntries));
NVML_FN(nvmlReturn_t, nvmlSystemGetTopologyGpuSet,
	(unsigned int cpuNumber, unsigned int *count, nvmlDevice_t *deviceArray));
NVML_FN(nvmlReturn_t, nvmlDeviceGetCpuAffinity,
	(nvmlDevice_t device, unsigned int cpuSetSize, unsigned long *cpuSet));
NVML_FN(nvmlReturn_t, nvmlDeviceGetCpuAffinityWithinScope,
	(nvmlDevice_t device, unsigned int cpuSetSize, unsigned long *cpuSet,
	 nvmlAffinityScope_t scope));
NVML_FN(nvmlReturn_t, nvmlDeviceGetMemoryAffinity,
	(nvmlDevice_t device, unsigned int nodeSetSize, unsigned long *nodeSet,
	 nvmlAffinityScope_t scope));
NVML_FN(nvmlReturn_t, nvmlDeviceSetCpuAffinity, (nvmlDevice_t device));
NVML_FN(nvmlReturn_t, nvmlDeviceClearCpuAffinity, (nvmlDevice_t device));
NVML_FN(nvmlReturn_t, nvmlDeviceGetTemperatureV,
	(nvmlDevice_t device, nvmlTemperature_t *temperature));
NVML_FN(nvmlReturn_t, nvmlDeviceGetAddressingMode,
	(nvmlDevice_t device, nvmlDeviceAddressingMode_t *mode));
NVML_FN(nvmlReturn_t, nvmlUnitGetCount, (unsigned int *unitCount));
NVML_FN(nvmlReturn_t, nvmlUnitGetHandleByIndex, (unsigned int index, nvmlUnit_t *unit));
NVML_FN(nvmlReturn_t, nvmlEventSetCreate, (nvmlEventSet_t * set));
NVML_FN(nvmlReturn_t, nvmlEventSetFree, (nvmlEventSet_t set));
NVML_FN(nvmlReturn_t, nvmlDeviceRegisterEvents,
	(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set));
NVML_FN(nvmlReturn_t, nvmlDeviceGetSupportedEventTypes,
	(nvmlDevice_t device, unsigned long long *eventTypes));
NVML_FN(nvmlReturn_t, nvmlEventSetWait,
	(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms));
NVML_FN(nvmlReturn_t, nvmlEventSetWait_v2,
	(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms));

/*
 * A type only, no prototype: vmig's own NVML library leaves this one
 * unimplemented (a stub of nvml/symbols.def), and the interposer finds the
 * real driver's with dlsym (interpose/nvsignal.c).
 */
typedef nvmlReturn_t nvml_process_utilization_fn(nvmlDevice_t device,
						 nvmlProcessUtilizationSample_t *utilization,
						 unsigned int *processSamplesCount,
						 unsigned long long lastSeenTimeStamp);

#ifdef __cplusplus
}
#endif
#endif /* VMIG_NVML_ABI_H */
