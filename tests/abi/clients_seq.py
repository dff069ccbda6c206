#!/usr/bin/env python3
"""clients_seq.py — the call sequences of gpustat and nvitop, replayed with
ctypes against the simulated libnvidia-ml.so.1 (argv[1]), on the state that
clients.sh prepared: GPU 0 an H100 with MIG on and two instances, GPU 1 an
A100 40GB with MIG off, and one `vmig run` program (pid argv[2]) in GPU
instance argv[3] of GPU 0.  Each call must answer as the real library does
for such GPUs: success with plausible values, or NOT_SUPPORTED where the
real library has nothing to say (utilisation on a MIG-enabled GPU, fans on
passively cooled boards).  nvitop's sequence also runs on every MIG device
handle, as nvitop walks them.  Prints one "ok - " / "FAIL - " line per check.
"""
import ctypes as C
import sys

lib = C.CDLL(sys.argv[1])
run_pid, run_gi = int(sys.argv[2]), int(sys.argv[3])
lib.nvmlErrorString.restype = C.c_char_p
SUCCESS, NOT_SUPPORTED, INSUFFICIENT_SIZE = 0, 3, 7
failed = 0


def step(name, cond, why=""):
    global failed
    print(("ok - seq/%s" % name) if cond else ("FAIL - seq/%s: %s" % (name, why)))
    failed += 0 if cond else 1


def rc(fn, *args):
    return getattr(lib, fn)(*args)


def expect(name, fn, allowed, *args):
    r = rc(fn, *args)
    step(name, r in allowed, "%s returned %d (%s)" % (fn, r, lib.nvmlErrorString(r).decode()))
    return r


class Memory(C.Structure):
    _fields_ = [("total", C.c_ulonglong), ("free", C.c_ulonglong), ("used", C.c_ulonglong)]


class MemoryV2(C.Structure):
    _fields_ = [("version", C.c_uint), ("total", C.c_ulonglong), ("reserved", C.c_ulonglong),
                ("free", C.c_ulonglong), ("used", C.c_ulonglong)]


class Utilization(C.Structure):
    _fields_ = [("gpu", C.c_uint), ("memory", C.c_uint)]


class ProcessInfo(C.Structure):
    _fields_ = [("pid", C.c_uint), ("usedGpuMemory", C.c_ulonglong),
                ("gpuInstanceId", C.c_uint), ("computeInstanceId", C.c_uint)]


class PciInfo(C.Structure):
    _fields_ = [("busIdLegacy", C.c_char * 16), ("domain", C.c_uint), ("bus", C.c_uint),
                ("device", C.c_uint), ("pciDeviceId", C.c_uint),
                ("pciSubSystemId", C.c_uint), ("busId", C.c_char * 32)]


def processes(fn, handle):
    """The two-call pattern both tools use: count first, then the array."""
    n = C.c_uint(0)
    r = rc(fn, handle, C.byref(n), None)
    if r == SUCCESS:
        return []
    if r != INSUFFICIENT_SIZE:
        raise RuntimeError("%s: %d" % (fn, r))
    arr = (ProcessInfo * (n.value + 4))()
    n = C.c_uint(n.value + 4)
    r = rc(fn, handle, C.byref(n), arr)
    if r != SUCCESS:
        raise RuntimeError("%s: %d" % (fn, r))
    return list(arr[:n.value])


# ---- gpustat 1.x: GPUStatCollection.new_query() ----
expect("gpustat/init", "nvmlInitWithFlags", (SUCCESS,), C.c_uint(0))
buf = C.create_string_buffer(96)
expect("gpustat/driver-version", "nvmlSystemGetDriverVersion", (SUCCESS,), buf, 96)
count = C.c_uint(0)
expect("gpustat/count", "nvmlDeviceGetCount_v2", (SUCCESS,), C.byref(count))
step("gpustat/two-gpus", count.value == 2, "count %d" % count.value)
for i in range(count.value):
    h = C.c_void_p()
    expect("gpustat/%d/handle" % i, "nvmlDeviceGetHandleByIndex_v2", (SUCCESS,), i, C.byref(h))
    expect("gpustat/%d/name" % i, "nvmlDeviceGetName", (SUCCESS,), h, buf, 96)
    expect("gpustat/%d/uuid" % i, "nvmlDeviceGetUUID", (SUCCESS,), h, buf, 96)
    t = C.c_uint(0)
    expect("gpustat/%d/temperature" % i, "nvmlDeviceGetTemperature", (SUCCESS,), h, 0,
           C.byref(t))
    step("gpustat/%d/temperature-plausible" % i, 20 <= t.value <= 60, "%d C" % t.value)
    expect("gpustat/%d/fan" % i, "nvmlDeviceGetFanSpeed", (NOT_SUPPORTED,), h, C.byref(t))
    mem = Memory()
    expect("gpustat/%d/memory" % i, "nvmlDeviceGetMemoryInfo", (SUCCESS,), h, C.byref(mem))
    step("gpustat/%d/memory-adds-up" % i, mem.used + mem.free == mem.total and mem.total > 0)
    u = Utilization()
    expect("gpustat/%d/utilization" % i, "nvmlDeviceGetUtilizationRates",
           (NOT_SUPPORTED,) if i == 0 else (SUCCESS,), h, C.byref(u))
    p = C.c_uint(0)
    expect("gpustat/%d/power" % i, "nvmlDeviceGetPowerUsage", (SUCCESS,), h, C.byref(p))
    expect("gpustat/%d/power-limit" % i, "nvmlDeviceGetEnforcedPowerLimit", (SUCCESS,), h,
           C.byref(p))
    compute = processes("nvmlDeviceGetComputeRunningProcesses_v3", h)
    graphics = processes("nvmlDeviceGetGraphicsRunningProcesses_v3", h)
    want = [run_pid] if i == 0 else []
    step("gpustat/%d/compute-processes" % i, [q.pid for q in compute] == want,
         "got %s, want %s" % ([q.pid for q in compute], want))
    step("gpustat/%d/graphics-processes" % i, graphics == [])
    for q in compute:
        step("gpustat/%d/process-ids" % i, q.gpuInstanceId == run_gi and
             q.computeInstanceId == 0 and q.usedGpuMemory == 0,
             "gi %d ci %d mem %d" % (q.gpuInstanceId, q.computeInstanceId, q.usedGpuMemory))
        expect("gpustat/%d/process-name" % i, "nvmlSystemGetProcessName", (SUCCESS,),
               q.pid, buf, 96)
        step("gpustat/%d/process-name-is-cat" % i, buf.value.endswith(b"cat"), buf.value)
lib.nvmlShutdown()


# ---- nvitop --once: Device.all(), then every physical and MIG device ----
def nvitop_device(tag, h, mig):
    """The per-device queries of nvitop's snapshot, with the codes it accepts."""
    expect(tag + "/name", "nvmlDeviceGetName", (SUCCESS,), h, buf, 96)
    expect(tag + "/uuid", "nvmlDeviceGetUUID", (SUCCESS,), h, buf, 96)
    is_mig = C.c_uint(9)
    expect(tag + "/is-mig", "nvmlDeviceIsMigDeviceHandle", (SUCCESS,), h, C.byref(is_mig))
    step(tag + "/is-mig-right", is_mig.value == (1 if mig else 0))
    pci = PciInfo()
    expect(tag + "/pci", "nvmlDeviceGetPciInfo_v3", (SUCCESS,), h, C.byref(pci))
    m2 = MemoryV2(version=C.sizeof(MemoryV2) | (2 << 24))
    expect(tag + "/memory-v2", "nvmlDeviceGetMemoryInfo_v2", (SUCCESS,), h, C.byref(m2))
    step(tag + "/memory-v2-adds-up",
         m2.reserved + m2.free + m2.used == m2.total and m2.total > 0,
         "total %d reserved %d free %d used %d" % (m2.total, m2.reserved, m2.free, m2.used))
    procs = processes("nvmlDeviceGetComputeRunningProcesses_v3", h)
    if mig:
        gi = C.c_uint(0)
        expect(tag + "/gi-id", "nvmlDeviceGetGpuInstanceId", (SUCCESS,), h, C.byref(gi))
        want = [run_pid] if gi.value == run_gi else []
    else:
        mode, pend = C.c_uint(0), C.c_uint(0)
        r = rc("nvmlDeviceGetMigMode", h, C.byref(mode), C.byref(pend))
        want = [run_pid] if r == SUCCESS and mode.value and tag.startswith("nvitop/0") else []
    step(tag + "/processes", [q.pid for q in procs] == want,
         "got %s, want %s" % ([q.pid for q in procs], want))
    if mig:
        return
    t = C.c_uint(0)
    expect(tag + "/temperature", "nvmlDeviceGetTemperature", (SUCCESS,), h, 0, C.byref(t))
    expect(tag + "/power", "nvmlDeviceGetPowerUsage", (SUCCESS,), h, C.byref(t))
    expect(tag + "/power-limit", "nvmlDeviceGetPowerManagementLimit", (SUCCESS,), h,
           C.byref(t))
    expect(tag + "/pstate", "nvmlDeviceGetPerformanceState", (SUCCESS,), h, C.byref(t))
    expect(tag + "/persistence", "nvmlDeviceGetPersistenceMode", (SUCCESS,), h, C.byref(t))
    expect(tag + "/display-active", "nvmlDeviceGetDisplayActive", (SUCCESS,), h, C.byref(t))
    cur, pend = C.c_uint(0), C.c_uint(0)
    expect(tag + "/ecc-mode", "nvmlDeviceGetEccMode", (SUCCESS,), h, C.byref(cur),
           C.byref(pend))
    cnt = C.c_ulonglong(0)
    expect(tag + "/ecc-errors", "nvmlDeviceGetTotalEccErrors", (SUCCESS,), h, 1, 1,
           C.byref(cnt))
    expect(tag + "/clock", "nvmlDeviceGetClockInfo", (SUCCESS,), h, 0, C.byref(t))
    expect(tag + "/max-clock", "nvmlDeviceGetMaxClockInfo", (SUCCESS,), h, 0, C.byref(t))
    expect(tag + "/pcie-width", "nvmlDeviceGetCurrPcieLinkWidth", (SUCCESS,), h, C.byref(t))
    expect(tag + "/fan", "nvmlDeviceGetFanSpeed", (NOT_SUPPORTED,), h, C.byref(t))
    mask = (C.c_ulong * 4)()
    expect(tag + "/cpu-affinity", "nvmlDeviceGetCpuAffinity", (SUCCESS,), h, 4, mask)
    step(tag + "/cpu-affinity-has-cpu0", mask[0] & 1 == 1)


expect("nvitop/init", "nvmlInitWithFlags", (SUCCESS,), C.c_uint(0))
expect("nvitop/count", "nvmlDeviceGetCount_v2", (SUCCESS,), C.byref(count))
for i in range(count.value):
    h = C.c_void_p()
    expect("nvitop/%d/handle" % i, "nvmlDeviceGetHandleByIndex_v2", (SUCCESS,), i, C.byref(h))
    nvitop_device("nvitop/%d" % i, h, False)
    mode, pend, maxmig = C.c_uint(0), C.c_uint(0), C.c_uint(0)
    expect("nvitop/%d/mig-mode" % i, "nvmlDeviceGetMigMode", (SUCCESS,), h, C.byref(mode),
           C.byref(pend))
    expect("nvitop/%d/max-mig" % i, "nvmlDeviceGetMaxMigDeviceCount", (SUCCESS,), h,
           C.byref(maxmig))
    found = 0
    for k in range(maxmig.value):
        m = C.c_void_p()
        r = rc("nvmlDeviceGetMigDeviceHandleByIndex", h, k, C.byref(m))
        if r == 6:  # NOT_FOUND: an empty index, skipped
            continue
        step("nvitop/%d/mig%d/handle" % (i, k), r == SUCCESS, "returned %d" % r)
        nvitop_device("nvitop/%d/mig%d" % (i, k), m, True)
        found += 1
    step("nvitop/%d/mig-devices" % i, found == (2 if i == 0 else 0), "found %d" % found)
lib.nvmlShutdown()
sys.exit(1 if failed else 0)
