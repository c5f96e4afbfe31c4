"""CPU time of each NVML call the agent makes, in the agent's order, on the GPUs of this machine.

An independent binding (nvidia-ml-py, `import pynvml`), so the figures do not depend on the agent's.
One fast-lane pass per tick, the slow-lane calls every 20th tick (5 s at 250 ms), per GPU 0:

    python3 bench/nvml/calls.py [ticks]
"""
import collections
import ctypes
import sys
import time

import pynvml as n

ALL_LINKS = 0xFFFFFFFF
TICKS = int(sys.argv[1]) if len(sys.argv) > 1 else 160


def main():
    n.nvmlInit()
    h = n.nvmlDeviceGetHandleByIndex(0)
    get_fields = n._nvmlGetFunctionPointer("nvmlDeviceGetFieldValues")

    def fields(pairs):
        arr = (n.c_nvmlFieldValue_t * len(pairs))()
        for i, (fid, scope) in enumerate(pairs):
            arr[i].fieldId = fid
            arr[i].scopeId = scope
        get_fields(h, ctypes.c_int(len(pairs)), arr)
        return {f.fieldId: (f.nvmlReturn, f.valueType) for f in arr}

    # What the agent asks in its fast batch: the fields the GPU supports (it asks again for the
    # others on the slow cadence only).
    answered = fields([(82, 0), (138, ALL_LINKS), (139, ALL_LINKS), (197, 0), (198, 0)])
    fast_batch = [(f, ALL_LINKS if f in (138, 139) else 0) for f, (rc, _) in answered.items() if rc == 0]
    probe = fields([(f, 0) for f in (251, 252, 253, 269, 270, 271)])
    moved = [f for f in (269, 270, 271) if probe[f] == (0, 3)] or [f for f in (251, 252, 253) if probe[f] == (0, 3)]
    memory_v2 = getattr(n, "nvmlMemory_v2", None)
    fast = [
        ("GetUtilizationRates", lambda: n.nvmlDeviceGetUtilizationRates(h)),
        ("GetMemoryInfo_v2", lambda: n.nvmlDeviceGetMemoryInfo(h, memory_v2) if memory_v2 else n.nvmlDeviceGetMemoryInfo(h)),
        ("GetPowerUsage", lambda: n.nvmlDeviceGetPowerUsage(h)),
        ("GetTemperature", lambda: n.nvmlDeviceGetTemperature(h, 0)),
        ("GetClockInfo SM, memory", lambda: (n.nvmlDeviceGetClockInfo(h, 1), n.nvmlDeviceGetClockInfo(h, 2))),
        ("GetCurrentClocksEventReasons", lambda: n.nvmlDeviceGetCurrentClocksEventReasons(h)),
        ("fields %s" % ",".join(str(f) for f, _ in fast_batch), lambda: fields(fast_batch) if fast_batch else None),
    ]
    slow = [
        ("GetTotalEnergyConsumption", lambda: n.nvmlDeviceGetTotalEnergyConsumption(h)),
        ("GetTotalEccErrors x4", lambda: [n.nvmlDeviceGetTotalEccErrors(h, t, c) for t in (0, 1) for c in (0, 1)]),
        ("slow fields (142-145, 29-31, 94, 74-76, 91, %s)" % ",".join(map(str, moved)),
         lambda: fields([(f, 0) for f in [142, 143, 144, 145, 29, 30, 31, 94, 74, 75, 76, 91] + moved])),
        ("NVLink error fields, 18 links x 4", lambda: [fields([(f, link) for link in range(18)]) for f in (38, 45, 52, 59)]),
        ("GetNvLinkState x18", lambda: [n.nvmlDeviceGetNvLinkState(h, link) for link in range(18)]),
        ("PCIe link generation and width x4", lambda: (n.nvmlDeviceGetCurrPcieLinkGeneration(h), n.nvmlDeviceGetMaxPcieLinkGeneration(h),
                                                      n.nvmlDeviceGetCurrPcieLinkWidth(h), n.nvmlDeviceGetMaxPcieLinkWidth(h))),
        ("GetComputeRunningProcesses", lambda: n.nvmlDeviceGetComputeRunningProcesses(h)),
    ]
    cpu = collections.Counter()
    calls = collections.Counter()
    for tick in range(TICKS):
        for name, call in fast + (slow if tick % 20 == 0 else []):
            t0 = time.thread_time_ns()
            try:
                call()
            except n.NVMLError:
                pass
            cpu[name] += time.thread_time_ns() - t0
            calls[name] += 1
        time.sleep(0.05)
    print("driver %s, %s" % (n.nvmlSystemGetDriverVersion(), n.nvmlDeviceGetName(h)))
    for name, _ in fast + slow:
        print("%-55s %9.1f us per call (%d calls)" % (name, cpu[name] / calls[name] / 1000, calls[name]))
    per_tick = sum(cpu[name] for name, _ in fast) / TICKS / 1000
    per_walk = sum(cpu[name] for name, _ in slow) / (TICKS / 20) / 1000
    print("fast lane: %.1f us per tick; slow lane: %.1f us per discovery (%.1f us a tick at 250 ms and 5 s)" % (per_tick, per_walk, per_walk / 20))
    n.nvmlShutdown()


main()
