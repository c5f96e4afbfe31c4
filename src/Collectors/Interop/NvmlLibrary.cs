using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Text;
using EfaAgent.Collectors.Nvml;
using Native = EfaAgent.Collectors.Interop.Interop.Nvml;

namespace EfaAgent.Collectors.Interop;

/// <summary>
/// The real NVML: <c>libnvidia-ml.so.1</c> loaded from a path, behind <see cref="INvml"/>. Methods map
/// one to one onto NVML entry points; the ones the fast lane uses convert into caller-provided spans
/// and stack buffers and allocate nothing. Thread-safe as NVML is; the collector still calls it from
/// one worker thread (and waits for events on one more).
/// </summary>
public sealed unsafe class NvmlLibrary : INvml
{
    private readonly nint _handle;
    private readonly Native.EntryPoints _entry;
    private readonly ConcurrentDictionary<nint, Device> _devices = new();
    private readonly ConcurrentDictionary<NvmlReturn, string> _errorStrings = new();
    private int _disposed;

    private NvmlLibrary(string path, nint handle, Native.EntryPoints entry)
    {
        Path = path;
        _handle = handle;
        _entry = entry;
    }

    /// <summary>The path the library was loaded from.</summary>
    public string Path { get; }

    /// <summary>The entry point names that resolved, versioned or fallback.</summary>
    public IReadOnlyList<string> ResolvedFunctions => _entry.Resolved;

    /// <summary>Entry points this library lacks (metrics that need them are absent).</summary>
    public IReadOnlyList<string> MissingFunctions => _entry.Missing;

    /// <summary>
    /// Loads the library at <paramref name="path"/> (a bare soname such as <c>libnvidia-ml.so.1</c> goes
    /// through the normal library search) and resolves its entry points.
    /// </summary>
    /// <exception cref="DllNotFoundException">The library cannot be loaded; the message is the loader's.</exception>
    /// <exception cref="EntryPointNotFoundException">The library exports no <c>nvmlInit</c>: it is not NVML.</exception>
    public static NvmlLibrary Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var handle = NativeLibrary.Load(path);
        var entry = new Native.EntryPoints(handle);
        if (!entry.HasInit)
        {
            NativeLibrary.Free(handle);
            throw new EntryPointNotFoundException($"{path} exports neither nvmlInit_v2 nor nvmlInit: it is not an NVML library");
        }

        return new NvmlLibrary(path, handle, entry);
    }

    /// <summary>Like <see cref="Load"/>, with the reason as a string instead of an exception.</summary>
    public static bool TryLoad(string path, [NotNullWhen(true)] out NvmlLibrary? library, [NotNullWhen(false)] out string? error)
    {
        try
        {
            library = Load(path);
            error = null;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            library = null;
            error = e.Message;
            return false;
        }
    }

    /// <inheritdoc />
    public NvmlReturn Init() => (NvmlReturn)_entry.Init();

    /// <inheritdoc />
    public NvmlReturn Shutdown() => (NvmlReturn)_entry.Shutdown();

    /// <inheritdoc />
    public string ErrorString(NvmlReturn result) => _errorStrings.GetOrAdd(result, static (r, entry) =>
    {
        // A static string owned by the library: read, never freed.
        var text = entry.ErrorString((int)r);
        return text == null ? $"NVML error {(int)r}" : Marshal.PtrToStringUTF8((nint)text) ?? $"NVML error {(int)r}";
    }, _entry);

    /// <inheritdoc />
    public NvmlReturn GetDriverVersion(out string version)
    {
        var buffer = stackalloc byte[Native.SystemStringBufferSize];
        var rc = (NvmlReturn)_entry.SystemGetDriverVersion(buffer, Native.SystemStringBufferSize);
        version = rc == NvmlReturn.Success ? ReadString(buffer, Native.SystemStringBufferSize) : "";
        return rc;
    }

    /// <inheritdoc />
    public NvmlReturn GetNvmlVersion(out string version)
    {
        var buffer = stackalloc byte[Native.SystemStringBufferSize];
        var rc = (NvmlReturn)_entry.SystemGetNvmlVersion(buffer, Native.SystemStringBufferSize);
        version = rc == NvmlReturn.Success ? ReadString(buffer, Native.SystemStringBufferSize) : "";
        return rc;
    }

    /// <inheritdoc />
    public NvmlReturn GetDeviceCount(out int count)
    {
        uint n = 0;
        var rc = (NvmlReturn)_entry.DeviceGetCount(&n);
        count = rc == NvmlReturn.Success ? (int)Math.Min(n, int.MaxValue) : 0;
        return rc;
    }

    /// <inheritdoc />
    public NvmlReturn GetDeviceByIndex(int index, out INvmlDevice? device)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        nint handle = 0;
        var rc = (NvmlReturn)_entry.DeviceGetHandleByIndex((uint)index, &handle);
        device = rc == NvmlReturn.Success && handle != 0 ? DeviceFor(handle) : null;
        return rc;
    }

    /// <inheritdoc />
    public NvmlReturn CreateEventSet(out INvmlEventSet? eventSet)
    {
        nint handle = 0;
        var rc = (NvmlReturn)_entry.EventSetCreate(&handle);
        eventSet = rc == NvmlReturn.Success && handle != 0 ? new EventSet(this, handle) : null;
        return rc;
    }

    /// <inheritdoc />
    public NvmlReturn GetPersistenceMode(INvmlDevice device, out bool enabled)
    {
        // Resolved here rather than in the entry-point table: only efa-agent doctor asks, once per GPU.
        enabled = false;
        if (device is not Device d)
        {
            return NvmlReturn.InvalidArgument;
        }

        if (!NativeLibrary.TryGetExport(_handle, "nvmlDeviceGetPersistenceMode", out var function))
        {
            return NvmlReturn.FunctionNotFound;
        }

        var mode = 0; // nvmlEnableState_t: 0 disabled, 1 enabled
        var rc = (NvmlReturn)((delegate* unmanaged[Cdecl]<nint, int*, int>)function)(d.Handle, &mode);
        enabled = mode == 1;
        return rc;
    }

    /// <summary>
    /// Unloads the library. Call only when no thread is inside it (the collector skips this when a call
    /// is still stuck). Does not call <c>nvmlShutdown</c>: whoever called <see cref="Init"/> does.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            NativeLibrary.Free(_handle);
        }
    }

    private Device DeviceFor(nint handle) => _devices.GetOrAdd(handle, static (h, lib) => new Device(lib._entry, h), this);

    private static string ReadString(byte* buffer, int length)
    {
        var span = new ReadOnlySpan<byte>(buffer, length);
        var end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }

    private sealed class Device(Native.EntryPoints entry, nint handle) : INvmlDevice
    {
        private const int MaxSamples = 256;
        private const int StackProcesses = 64;
        private bool _memoryV1;

        public nint Handle { get; } = handle;

        public NvmlReturn GetUuid(out string uuid)
        {
            var buffer = stackalloc byte[Native.DeviceStringBufferSize];
            var rc = (NvmlReturn)entry.DeviceGetUuid(Handle, buffer, Native.DeviceStringBufferSize);
            uuid = rc == NvmlReturn.Success ? ReadString(buffer, Native.DeviceStringBufferSize) : "";
            return rc;
        }

        public NvmlReturn GetName(out string name)
        {
            var buffer = stackalloc byte[Native.DeviceStringBufferSize];
            var rc = (NvmlReturn)entry.DeviceGetName(Handle, buffer, Native.DeviceStringBufferSize);
            name = rc == NvmlReturn.Success ? ReadString(buffer, Native.DeviceStringBufferSize) : "";
            return rc;
        }

        public NvmlReturn GetPciInfo(out NvmlPciInfo info)
        {
            Native.PciInfo pci = default;
            var rc = (NvmlReturn)entry.DeviceGetPciInfo(Handle, &pci);
            info = rc == NvmlReturn.Success
                ? new NvmlPciInfo(ReadString(pci.BusId, 32), pci.Domain, pci.Bus, pci.Device, pci.PciDeviceId, pci.PciSubSystemId)
                : new NvmlPciInfo("", 0, 0, 0, 0, 0);
            return rc;
        }

        public NvmlReturn GetSamples(NvmlSamplingType type, ulong lastSeenTimestamp, Span<NvmlSample> samples, out int count, out NvmlValueType valueType)
        {
            var capacity = Math.Min(samples.Length, MaxSamples);
            var native = stackalloc Native.Sample[Math.Max(capacity, 1)];
            var n = (uint)capacity;
            var vt = 0;
            var rc = (NvmlReturn)entry.DeviceGetSamples(Handle, (int)type, lastSeenTimestamp, &vt, &n, capacity == 0 ? null : native);
            valueType = (NvmlValueType)vt;
            count = (int)Math.Min(n, int.MaxValue);
            if (rc == NvmlReturn.Success && capacity > 0)
            {
                count = Math.Min(count, capacity);
                for (var i = 0; i < count; i++)
                {
                    samples[i] = new NvmlSample(native[i].TimeStamp, native[i].Value);
                }
            }

            return rc;
        }

        public NvmlReturn GetUtilizationRates(out NvmlUtilization utilization)
        {
            Native.Utilization u = default;
            var rc = (NvmlReturn)entry.DeviceGetUtilizationRates(Handle, &u);
            utilization = new NvmlUtilization(u.Gpu, u.Memory);
            return rc;
        }

        public NvmlReturn GetMemoryInfo(out NvmlMemory memory)
        {
            if (!_memoryV1 && entry.HasMemoryInfoV2)
            {
                var v2 = new Native.MemoryV2 { Version = Native.MemoryV2Version };
                var rc2 = (NvmlReturn)entry.DeviceGetMemoryInfoV2(Handle, &v2);
                if (rc2 is not (NvmlReturn.FunctionNotFound or NvmlReturn.ArgumentVersionMismatch or NvmlReturn.NotSupported))
                {
                    memory = new NvmlMemory(v2.Total, v2.Free, v2.Used);
                    return rc2;
                }

                // A driver that exports the v2 name but does not take the v2 struct: use v1 from now on.
                _memoryV1 = true;
            }

            Native.MemoryV1 v1 = default;
            var rc = (NvmlReturn)entry.DeviceGetMemoryInfoV1(Handle, &v1);
            memory = new NvmlMemory(v1.Total, v1.Free, v1.Used);
            return rc;
        }

        public NvmlReturn GetPcieLink(NvmlPcieLink query, out uint value)
        {
            uint v = 0;
            var rc = (NvmlReturn)entry.DeviceGetPcieLink(Handle, (int)query, &v);
            value = v;
            return rc;
        }

        public NvmlReturn GetNvLinkState(int link, out bool active)
        {
            var state = 0;
            var rc = (NvmlReturn)entry.DeviceGetNvLinkState(Handle, (uint)link, &state);
            active = rc == NvmlReturn.Success && state != 0;
            return rc;
        }

        public NvmlReturn GetPowerUsage(out uint milliwatts)
        {
            uint value = 0;
            var rc = (NvmlReturn)entry.DeviceGetPowerUsage(Handle, &value);
            milliwatts = value;
            return rc;
        }

        public NvmlReturn GetTotalEnergyConsumption(out ulong millijoules)
        {
            ulong value = 0;
            var rc = (NvmlReturn)entry.DeviceGetTotalEnergyConsumption(Handle, &value);
            millijoules = value;
            return rc;
        }

        public NvmlReturn GetTemperature(NvmlTemperatureSensor sensor, out uint celsius)
        {
            uint value = 0;
            var rc = (NvmlReturn)entry.DeviceGetTemperature(Handle, (int)sensor, &value);
            celsius = value;
            return rc;
        }

        public NvmlReturn GetClockInfo(NvmlClockType type, out uint megahertz)
        {
            uint value = 0;
            var rc = (NvmlReturn)entry.DeviceGetClockInfo(Handle, (int)type, &value);
            megahertz = value;
            return rc;
        }

        public NvmlReturn GetClocksEventReasons(out ulong reasons)
        {
            ulong value = 0;
            var rc = (NvmlReturn)entry.DeviceGetCurrentClocksEventReasons(Handle, &value);
            reasons = value;
            return rc;
        }

        public NvmlReturn GetFieldValues(Span<NvmlFieldValue> values)
        {
            if (values.Length > NvmlFieldValue.MaxBatch)
            {
                throw new ArgumentOutOfRangeException(nameof(values), values.Length, $"at most {NvmlFieldValue.MaxBatch} fields per call");
            }

            if (values.IsEmpty)
            {
                return NvmlReturn.Success;
            }

            var native = stackalloc Native.FieldValue[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                native[i] = new Native.FieldValue { FieldId = values[i].FieldId, ScopeId = values[i].ScopeId };
            }

            var rc = (NvmlReturn)entry.DeviceGetFieldValues(Handle, values.Length, native);
            for (var i = 0; i < values.Length; i++)
            {
                ref var v = ref values[i];
                if (rc == NvmlReturn.Success)
                {
                    v.Result = (NvmlReturn)native[i].NvmlReturn;
                    v.ValueType = (NvmlValueType)native[i].ValueType;
                    v.RawValue = native[i].Value;
                }
                else
                {
                    v.Result = rc;
                    v.RawValue = 0;
                }
            }

            return rc;
        }

        public NvmlReturn GetTotalEccErrors(NvmlMemoryErrorType errorType, NvmlEccCounterType counterType, out ulong count)
        {
            ulong value = 0;
            var rc = (NvmlReturn)entry.DeviceGetTotalEccErrors(Handle, (int)errorType, (int)counterType, &value);
            count = value;
            return rc;
        }

        public NvmlReturn GetComputeRunningProcesses(Span<NvmlProcessInfo> processes, out int count)
        {
            var native = processes.Length <= StackProcesses
                ? stackalloc Native.ProcessInfo[Math.Max(processes.Length, 1)]
                : new Native.ProcessInfo[processes.Length];
            var n = (uint)processes.Length;
            NvmlReturn rc;
            fixed (Native.ProcessInfo* p = native)
            {
                rc = (NvmlReturn)entry.DeviceGetComputeRunningProcesses(Handle, &n, processes.IsEmpty ? null : p);
            }

            count = (int)Math.Min(n, int.MaxValue);
            if (rc == NvmlReturn.Success)
            {
                count = Math.Min(count, processes.Length);
                for (var i = 0; i < count; i++)
                {
                    processes[i] = new NvmlProcessInfo(native[i].Pid, native[i].UsedGpuMemory);
                }
            }

            return rc;
        }
    }

    private sealed class EventSet(NvmlLibrary library, nint handle) : INvmlEventSet
    {
        private int _freed;

        public NvmlReturn Register(INvmlDevice device, NvmlEventType events)
        {
            if (device is not Device d)
            {
                throw new ArgumentException("the device does not come from this library", nameof(device));
            }

            return (NvmlReturn)library._entry.DeviceRegisterEvents(d.Handle, (ulong)events, handle);
        }

        public NvmlReturn Wait(uint timeoutMilliseconds, out NvmlEvent nvmlEvent)
        {
            Native.EventData data = default;
            var rc = (NvmlReturn)library._entry.EventSetWait(handle, &data, timeoutMilliseconds);
            nvmlEvent = rc == NvmlReturn.Success
                ? new NvmlEvent(library._devices.TryGetValue(data.Device, out var device) ? device : null, (NvmlEventType)data.EventType, data.Data)
                : default;
            return rc;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _freed, 1) == 0)
            {
                library._entry.EventSetFree(handle);
            }
        }
    }
}
