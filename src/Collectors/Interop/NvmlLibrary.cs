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
public sealed unsafe partial class NvmlLibrary : INvml
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
