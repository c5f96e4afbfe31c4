namespace EfaAgent.Collectors.Nvml;

/// <summary>
/// The part of NVML the GPU collector uses, one method per NVML entry point (nvml.h, API version 13). The real
/// binding (<c>Interop.NvmlLibrary</c>) and the simulator (<c>Gpu.SimulatedNvml</c>) implement it. Every
/// method returns NVML's own code; a method whose entry point the loaded library lacks returns
/// <see cref="NvmlReturn.FunctionNotFound"/>. Calls may block: the collector makes them only from its
/// worker thread. Methods used on every tick neither allocate nor throw.
/// </summary>
public interface INvml : IDisposable
{
    /// <summary><c>nvmlInit_v2</c> (falling back to <c>nvmlInit</c>); reference counted, paired with <see cref="Shutdown"/>.</summary>
    NvmlReturn Init();

    /// <summary><c>nvmlShutdown</c>.</summary>
    NvmlReturn Shutdown();

    /// <summary><c>nvmlErrorString</c>: NVML's text for a code.</summary>
    string ErrorString(NvmlReturn result);

    /// <summary><c>nvmlSystemGetDriverVersion</c>.</summary>
    NvmlReturn GetDriverVersion(out string version);

    /// <summary><c>nvmlSystemGetNVMLVersion</c>.</summary>
    NvmlReturn GetNvmlVersion(out string version);

    /// <summary><c>nvmlDeviceGetCount_v2</c>.</summary>
    NvmlReturn GetDeviceCount(out int count);

    /// <summary><c>nvmlDeviceGetHandleByIndex_v2</c>; the same handle always gives the same object.</summary>
    NvmlReturn GetDeviceByIndex(int index, out INvmlDevice? device);

    /// <summary><c>nvmlEventSetCreate</c>.</summary>
    NvmlReturn CreateEventSet(out INvmlEventSet? eventSet);

    /// <summary>Entry points the loaded library lacks (their metrics stay absent); empty when it has them all.</summary>
    IReadOnlyList<string> MissingFunctions { get; }

    /// <summary>
    /// <c>nvmlDeviceGetPersistenceMode</c> of <paramref name="device"/> (a device of this library), read by
    /// <c>efa-agent doctor</c>; <see cref="NvmlReturn.FunctionNotFound"/> where an implementation lacks it.
    /// </summary>
    NvmlReturn GetPersistenceMode(INvmlDevice device, out bool enabled)
    {
        enabled = false;
        return NvmlReturn.FunctionNotFound;
    }
}

/// <summary>One GPU (an <c>nvmlDevice_t</c>).</summary>
public interface INvmlDevice
{
    /// <summary><c>nvmlDeviceGetUUID</c>.</summary>
    NvmlReturn GetUuid(out string uuid);

    /// <summary><c>nvmlDeviceGetName</c>.</summary>
    NvmlReturn GetName(out string name);

    /// <summary><c>nvmlDeviceGetPciInfo_v3</c>.</summary>
    NvmlReturn GetPciInfo(out NvmlPciInfo info);

    /// <summary><c>nvmlDeviceGetUtilizationRates</c> (percent).</summary>
    NvmlReturn GetUtilizationRates(out NvmlUtilization utilization);

    /// <summary><c>nvmlDeviceGetMemoryInfo_v2</c>, falling back to <c>nvmlDeviceGetMemoryInfo</c>.</summary>
    NvmlReturn GetMemoryInfo(out NvmlMemory memory);

    /// <summary>
    /// <c>nvmlDeviceGetCurrPcieLinkGeneration</c>, <c>...MaxPcieLinkGeneration</c>, <c>...CurrPcieLinkWidth</c>
    /// or <c>...MaxPcieLinkWidth</c> (the max: what the GPU and the system together allow).
    /// </summary>
    NvmlReturn GetPcieLink(NvmlPcieLink query, out uint value);

    /// <summary><c>nvmlDeviceGetNvLinkState</c>: whether link <paramref name="link"/> is up.</summary>
    NvmlReturn GetNvLinkState(int link, out bool active);

    /// <summary><c>nvmlDeviceGetPowerUsage</c>.</summary>
    NvmlReturn GetPowerUsage(out uint milliwatts);

    /// <summary><c>nvmlDeviceGetTotalEnergyConsumption</c>: millijoules since the driver loaded.</summary>
    NvmlReturn GetTotalEnergyConsumption(out ulong millijoules);

    /// <summary><c>nvmlDeviceGetTemperature</c>.</summary>
    NvmlReturn GetTemperature(NvmlTemperatureSensor sensor, out uint celsius);

    /// <summary><c>nvmlDeviceGetClockInfo</c>.</summary>
    NvmlReturn GetClockInfo(NvmlClockType type, out uint megahertz);

    /// <summary><c>nvmlDeviceGetCurrentClocksEventReasons</c> (older drivers: <c>...ClocksThrottleReasons</c>).</summary>
    NvmlReturn GetClocksEventReasons(out ulong reasons);

    /// <summary>
    /// <c>nvmlDeviceGetFieldValues</c>: reads every requested field in one call; each entry gets its own
    /// <see cref="NvmlFieldValue.Result"/>. At most <see cref="NvmlFieldValue.MaxBatch"/> entries.
    /// </summary>
    NvmlReturn GetFieldValues(Span<NvmlFieldValue> values);

    /// <summary><c>nvmlDeviceGetTotalEccErrors</c>.</summary>
    NvmlReturn GetTotalEccErrors(NvmlMemoryErrorType errorType, NvmlEccCounterType counterType, out ulong count);

    /// <summary>
    /// <c>nvmlDeviceGetComputeRunningProcesses_v3</c>: fills <paramref name="processes"/>; when it is too
    /// small the result is <see cref="NvmlReturn.InsufficientSize"/> and <paramref name="count"/> is the number needed.
    /// </summary>
    NvmlReturn GetComputeRunningProcesses(Span<NvmlProcessInfo> processes, out int count);
}

/// <summary>An <c>nvmlEventSet_t</c>: devices registered for events, waited on by one thread.</summary>
public interface INvmlEventSet : IDisposable
{
    /// <summary><c>nvmlDeviceRegisterEvents</c>.</summary>
    NvmlReturn Register(INvmlDevice device, NvmlEventType events);

    /// <summary><c>nvmlEventSetWait_v2</c>: <see cref="NvmlReturn.Timeout"/> when nothing came within <paramref name="timeoutMilliseconds"/>.</summary>
    NvmlReturn Wait(uint timeoutMilliseconds, out NvmlEvent nvmlEvent);
}
