using System.Globalization;
using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Model;
using Microsoft.Extensions.Logging;
using M = EfaAgent.Collectors.Gpu.GpuMetrics;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// The worker-thread half of <see cref="GpuCollector"/>: every NVML call, the per-GPU state and the
/// frame the collector publishes. Only the worker thread calls into it (through
/// <see cref="INvmlJobRunner.Run"/>); the collector reads <see cref="Frame"/> and the flags only while
/// the worker is idle.
/// </summary>
internal sealed class GpuSampler : INvmlJobRunner, IDisposable
{
    private const int SlotNvmlUp = 0;
    private const int SlotNvmlStalled = 1;
    private const int SlotXidDropped = 2;
    private const int SlotXidUnattributed = 3;
    private const int FixedSlots = 4;
    private const int SampleBufferSize = 128;
    private const int MaxProcessAttempts = 4;

    /// <summary>NVML_FI_DEV_NVLINK_LINK_COUNT.</summary>
    private const uint NvlinkLinkCountField = 91;

    /// <summary>Key of a GPU NVML cannot identify (its handle or UUID query fails): known only by its index.</summary>
    private const string PlaceholderPrefix = "index:";

    private static readonly int[] FastFields = M.FieldOffsets(GpuLane.Fast);
    private static readonly int[] SlowFields = M.FieldOffsets(GpuLane.Slow);
    private static readonly int[] LinkFields = [M.OffNvlinkCrcFlit, M.OffNvlinkCrcData, M.OffNvlinkReplay, M.OffNvlinkRecovery];

    private static readonly (NvmlPcieLink Query, int Offset)[] PcieQueries =
    [
        (NvmlPcieLink.CurrentGeneration, M.OffPcieGeneration),
        (NvmlPcieLink.MaxGeneration, M.OffPcieMaxGeneration),
        (NvmlPcieLink.CurrentWidth, M.OffPcieWidth),
        (NvmlPcieLink.MaxWidth, M.OffPcieMaxWidth),
    ];

    private readonly GpuCollectorOptions _options;
    private readonly Func<INvml> _factory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly UnavailableSeries _unavailable;
    private readonly FrameState _frame = new();
    private readonly List<Gpu> _gpus = [];
    private readonly Dictionary<string, Gpu> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<INvmlDevice, Gpu> _byDevice = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, Gpu> _byDeviceKey = new(StringComparer.Ordinal);
    private readonly KernelXidReader? _kernel;

    private INvml? _nvml;
    private volatile XidWatcher? _watcher;
    private bool _initialised;
    private bool _layoutDirty = true;
    private bool _xidsChanged;
    private NvmlReturn _down;
    private string _downWhere = "";
    private string _driverVersion = "";
    private string _nvmlVersion = "";
    private int _driverMajor;
    private long _xidDroppedEarlier;
    private long _xidUnattributed;
    private NvmlReturn? _lastFailure;
    private bool _wantsDiscovery;
    private bool _loggedNoEvents;
    private NvmlReturn _lastEnumerationError;

    public GpuSampler(GpuCollectorOptions options, Func<INvml> factory, ILogger logger, TimeProvider time)
    {
        _options = options;
        _factory = factory;
        _logger = logger;
        _time = time;
        _unavailable = new UnavailableSeries(GpuCollector.CollectorName, logger);
        _kernel = options.KernelLogPath.Length > 0 ? new KernelXidReader(options.KernelLogPath, logger) : null;
        Rebuild();
    }

    /// <summary>The frame of the last finished job.</summary>
    public Frame Frame => _frame.Frame;

    /// <summary>Whether NVML is initialised.</summary>
    public bool Initialised => _initialised;

    /// <summary>GPUs known (lost ones included).</summary>
    public int DeviceCount => _initialised ? _gpus.Count : 0;

    /// <summary>The running Xid watcher, if any.</summary>
    public XidWatcher? Watcher => _watcher;

    /// <summary>
    /// While initialisation fails for a reason other than "no NVML here": what failed (Discover throws it
    /// every time, so the collector reads as failed until NVML answers). Null otherwise.
    /// </summary>
    public string? Failure { get; private set; }

    /// <summary>Whether something (a GPU lost, NVML gone) asks for a discovery before the slow cadence; cleared by reading.</summary>
    public bool TakeWantsDiscovery()
    {
        var w = _wantsDiscovery;
        _wantsDiscovery = false;
        return w;
    }

    /// <summary>
    /// Unloads the library once the worker has ended, if the Xid watcher has ended too (a wait still
    /// inside the library must not have it unloaded under it).
    /// </summary>
    /// <returns>True when the library was released (or none was loaded).</returns>
    public bool ReleaseLibrary()
    {
        if (_watcher is { HasExited: false })
        {
            return false;
        }

        _nvml?.Dispose();
        _nvml = null;
        _kernel?.Dispose();
        return true;
    }

    /// <inheritdoc />
    public void Dispose() => ReleaseLibrary();

    /// <inheritdoc />
    public void Run(NvmlJob job, long argument)
    {
        switch (job)
        {
            case NvmlJob.Discover:
                RunDiscover();
                break;
            case NvmlJob.Sample:
                RunSample();
                break;
            case NvmlJob.Shutdown:
                RunShutdown();
                break;
            default:
                break;
        }
    }

    private void RunDiscover()
    {
        _kernel?.TryOpen();
        if (!EnsureInitialised())
        {
            DrainXids();
            return;
        }

        Enumerate();
        if (CheckDown())
        {
            return;
        }

        if (_layoutDirty)
        {
            Rebuild();
        }

        var v = _frame.Values;
        foreach (var g in _gpus)
        {
            if (g.Device is not null && !g.Lost)
            {
                ReadSlow(g, v);
                if (_down != NvmlReturn.Success)
                {
                    break;
                }
            }
        }

        if (CheckDown())
        {
            return;
        }

        DrainXids();
        if (_layoutDirty)
        {
            Rebuild();
        }

        v = _frame.Values;
        foreach (var g in _gpus)
        {
            WriteDynamic(g, v);
        }

        _frame.SyncUnavailable(_unavailable);
    }

    private void RunSample()
    {
        if (!_initialised)
        {
            return;
        }

        DrainXids();
        if (_layoutDirty)
        {
            Rebuild();
        }

        var v = _frame.Values;
        if (_xidsChanged)
        {
            foreach (var g in _gpus)
            {
                WriteDynamic(g, v);
            }

            _xidsChanged = false;
        }

        foreach (var g in _gpus)
        {
            if (g.Device is not null && !g.Lost && g.Base >= 0)
            {
                SampleFast(g, v);
                if (_down != NvmlReturn.Success)
                {
                    break;
                }
            }
        }

        if (CheckDown())
        {
            return;
        }

        if (_layoutDirty)
        {
            Rebuild();
        }

        _frame.SyncUnavailable(_unavailable);
    }

    /// <summary>Stops the Xid watcher first, then shuts NVML down: a wait must never run on a shut-down library.</summary>
    private void RunShutdown()
    {
        if (StopWatcher() && _initialised && _nvml is not null)
        {
            _nvml.Shutdown();
            _initialised = false;
        }
    }

    /// <summary>Stops the Xid watcher and waits for its thread (at most two of its waits).</summary>
    /// <returns>True when no watcher runs any more.</returns>
    private bool StopWatcher()
    {
        var watcher = _watcher;
        if (watcher is null)
        {
            return true;
        }

        if (!watcher.Stop(XidWatcher.WaitTimeout + XidWatcher.WaitTimeout))
        {
            _logger.LogWarning("the Xid watcher did not stop; NVML is left initialised under it");
            return false;
        }

        _xidDroppedEarlier += watcher.Dropped;
        _watcher = null;
        return true;
    }

    /// <summary>Xid events dropped from a full queue, all watchers together.</summary>
    private long XidDropped => _xidDroppedEarlier + (_watcher?.Dropped ?? 0);

    /// <summary>Asks the Xid watcher to end without waiting (used when the worker itself is stuck).</summary>
    public void RequestWatcherStop() => _watcher?.RequestStop();

    private bool EnsureInitialised()
    {
        if (_initialised)
        {
            return true;
        }

        if (_nvml is null)
        {
            try
            {
                _nvml = _factory();
            }
            catch (DllNotFoundException e)
            {
                Fail(NvmlReturn.LibraryNotFound, e.Message);
                return false;
            }
            catch (Exception e) when (e is EntryPointNotFoundException or BadImageFormatException)
            {
                Fail(NvmlReturn.FunctionNotFound, e.Message);
                return false;
            }
        }

        var rc = _nvml.Init();
        if (rc != NvmlReturn.Success)
        {
            Fail(rc, _nvml.ErrorString(rc));
            return false;
        }

        _initialised = true;
        _down = NvmlReturn.Success;
        _lastFailure = null;
        Failure = null;
        _driverVersion = _nvml.GetDriverVersion(out var driver) == NvmlReturn.Success ? driver : "";
        _nvmlVersion = _nvml.GetNvmlVersion(out var version) == NvmlReturn.Success ? version : "";
        _driverMajor = DriverBranch.Major(_driverVersion);
        _logger.LogInformation("driver branch R{Major}: {Throttle}", _driverMajor, DriverBranch.Describe(_driverMajor));
        var missing = _nvml is Interop.NvmlLibrary lib && lib.MissingFunctions.Count > 0
            ? " (entry points missing from this driver, their metrics stay absent: " + string.Join(", ", lib.MissingFunctions) + ")"
            : "";
        _logger.LogInformation("NVML initialised from {Path}: driver {Driver}, NVML {Nvml}{Missing}",
            _options.LibraryPath, _driverVersion, _nvmlVersion, missing);

        StartWatcher();
        _layoutDirty = true;
        return true;
    }

    private void StartWatcher()
    {
        var rc = _nvml!.CreateEventSet(out var set);
        if (rc == NvmlReturn.Success && set is not null)
        {
            _watcher = new XidWatcher(set, _logger, _time);
            _loggedNoEvents = false;
        }
        else if (!_loggedNoEvents)
        {
            _logger.LogWarning("no NVML event set ({Error}, {Code}): Xid errors are not counted", _nvml.ErrorString(rc), (int)rc);
            _loggedNoEvents = true;
        }
    }

    private void Fail(NvmlReturn rc, string message)
    {
        // The runtime's DllNotFoundException is several lines of advice around the dlopen error; the
        // dlopen error (the last line) is the part worth a log line.
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        message = lines.Length > 1 ? lines[^1] : message.Trim();
        var missing = rc is NvmlReturn.LibraryNotFound or NvmlReturn.DriverNotLoaded;
        if (_lastFailure != rc)
        {
            if (missing)
            {
                _logger.LogInformation("NVML is not available ({Message}; {Code} {Number}): no GPU metrics; checked again on the slow cadence",
                    message, rc, (int)rc);
            }
            else
            {
                _logger.LogWarning("NVML initialisation failed: {Message} ({Code} {Number}); no GPU metrics until it succeeds (retried on the slow cadence)",
                    message, rc, (int)rc);
            }

            _lastFailure = rc;
        }

        Failure = missing ? null : $"NVML initialisation failed: {message} ({rc}, code {(int)rc}), library {_options.LibraryPath}";

        if (_frame.Layout.Count != FixedSlots || _layoutDirty)
        {
            Rebuild();
        }

        _frame.Values[SlotNvmlUp] = 0;
        _frame.Values[SlotNvmlStalled] = 0;
    }

    /// <summary>When a call said NVML itself is gone, drops every GPU series and arranges a re-initialisation.</summary>
    private bool CheckDown()
    {
        if (_down == NvmlReturn.Success)
        {
            return false;
        }

        var rc = _down;
        _down = NvmlReturn.Success;
        _logger.LogWarning("NVML stopped answering ({Error}; {Code} {Number}, from {Where}); GPU series are absent until it initialises again",
            _nvml!.ErrorString(rc), rc, (int)rc, _downWhere);
        if (StopWatcher())
        {
            _nvml.Shutdown();
        }

        _initialised = false;
        _lastFailure = rc;
        foreach (var g in _gpus)
        {
            g.Device = null;
            g.Registered = false;
        }

        _unavailable.RemoveWhere(static (_, _, _) => true);
        _wantsDiscovery = true;
        Rebuild();
        return true;
    }

    private void Enumerate()
    {
        var nvml = _nvml!;
        var rc = nvml.GetDeviceCount(out var count);
        if (Down(rc, "nvmlDeviceGetCount"))
        {
            return;
        }

        if (rc != NvmlReturn.Success)
        {
            if (rc != _lastEnumerationError)
            {
                _logger.LogWarning("cannot count GPUs: {Error} ({Code}); keeping the GPUs found before", nvml.ErrorString(rc), rc);
                _lastEnumerationError = rc;
            }

            return;
        }

        _lastEnumerationError = NvmlReturn.Success;
        var seen = new HashSet<Gpu>();
        for (var i = 0; i < count; i++)
        {
            rc = nvml.GetDeviceByIndex(i, out var device);
            var uuid = "";
            if (rc == NvmlReturn.Success && device is not null)
            {
                rc = device.GetUuid(out uuid);
            }

            if (Down(rc, "nvmlDeviceGetHandleByIndex/GetUUID"))
            {
                return;
            }

            if (rc != NvmlReturn.Success || device is null || uuid.Length == 0)
            {
                // Nothing identifies this GPU: keep what was known at that index, or a placeholder, as lost.
                var known = _gpus.Find(g => g.Index == i && !seen.Contains(g)) ?? AddGpu(Placeholder(i), "", i);
                seen.Add(known);
                MarkLost(known, rc == NvmlReturn.Success ? NvmlReturn.Unknown : rc, "nvmlDeviceGetHandleByIndex/GetUUID");
                continue;
            }

            if (_byKey.TryGetValue(Placeholder(i), out var placeholder) && !seen.Contains(placeholder))
            {
                RemoveGpu(placeholder);
            }

            if (!_byKey.TryGetValue(uuid, out var gpu))
            {
                gpu = AddGpu(uuid, uuid, i);
                _logger.LogInformation("found GPU {Index} {Uuid}", i, uuid);
            }

            seen.Add(gpu);
            if (gpu.Index != i)
            {
                gpu.SetIndex(i);
                _layoutDirty = true;
            }

            if (!ReferenceEquals(gpu.Device, device))
            {
                gpu.Device = device;
                gpu.Registered = false;
                _byDevice[device] = gpu;
            }

            if (gpu.NeedsIdentity)
            {
                ReadIdentity(gpu, device);
            }

            if (gpu.Lost)
            {
                // A lost GPU answers a cheap query again: it is back.
                var probe = device.GetTemperature(NvmlTemperatureSensor.Gpu, out _);
                if (Down(probe, "nvmlDeviceGetTemperature"))
                {
                    return;
                }

                if (IsLost(probe))
                {
                    gpu.LostReason = probe;
                    continue;
                }

                Recover(gpu);
            }

            if (!gpu.Registered && _watcher is { } watcher)
            {
                var reg = watcher.Set.Register(device, NvmlEventType.XidCriticalError);
                gpu.Registered = reg == NvmlReturn.Success;
                if (!gpu.Registered && reg != gpu.RegisterError)
                {
                    _logger.LogWarning("GPU {Index} {Uuid} cannot report Xid events: {Error} ({Code})", i, uuid, _nvml!.ErrorString(reg), reg);
                }

                gpu.RegisterError = reg;
            }
        }

        foreach (var g in _gpus.ToArray())
        {
            if (!seen.Contains(g))
            {
                if (g.Key.StartsWith(PlaceholderPrefix, StringComparison.Ordinal))
                {
                    RemoveGpu(g);
                }
                else
                {
                    MarkLost(g, NvmlReturn.GpuIsLost, "nvmlDeviceGetCount (no longer enumerated)");
                }
            }
        }
    }

    private static string Placeholder(int index) => PlaceholderPrefix + index.ToString(CultureInfo.InvariantCulture);

    private Gpu AddGpu(string key, string uuid, int index)
    {
        var g = new Gpu(key, uuid, index) { NeedsIdentity = uuid.Length > 0 };
        _gpus.Add(g);
        _byKey[key] = g;
        _layoutDirty = true;
        return g;
    }

    private void RemoveGpu(Gpu g)
    {
        _gpus.Remove(g);
        _byKey.Remove(g.Key);
        if (GpuPci.DeviceKey(g.BusId) is { } deviceKey && _byDeviceKey.GetValueOrDefault(deviceKey) == g)
        {
            _byDeviceKey.Remove(deviceKey);
        }
        var label = g.IndexLabel;
        _unavailable.RemoveWhere((d, _, _) => d == label);
        _layoutDirty = true;
    }

    private void ReadIdentity(Gpu g, INvmlDevice device)
    {
        g.Name = device.GetName(out var name) == NvmlReturn.Success ? name : "";
        var rc = device.GetPciInfo(out var pci);
        g.BusId = rc == NvmlReturn.Success ? pci.BusId : "";
        if (GpuPci.DeviceKey(g.BusId) is { } deviceKey)
        {
            _byDeviceKey[deviceKey] = g;
        }
        (g.NumaNode, g.PciRoot) = g.BusId.Length > 0 ? GpuPci.Locate(_options.SysfsRoot, g.BusId) : ("", "");
        Span<NvmlFieldValue> links = [new NvmlFieldValue(NvlinkLinkCountField)];
        var linkRc = device.GetFieldValues(links);
        g.LinkCountStatus = linkRc == NvmlReturn.Success ? links[0].Result : linkRc;
        g.LinkCount = g.LinkCountStatus == NvmlReturn.Success ? (int)Math.Min(links[0].ToUInt64(), (ulong)g.LinkBuffer.Length) : 0;
        g.NeedsIdentity = IsLost(rc);
        _layoutDirty = true;
    }

    private void MarkLost(Gpu g, NvmlReturn rc, string where)
    {
        if (!g.Lost)
        {
            _logger.LogWarning("GPU {Index} {Uuid} stopped answering: {Error} ({Code} {Number}, from {Where}); its series are absent and gpu_up is 0 until it answers again",
                g.Index, g.Uuid, _nvml!.ErrorString(rc), rc, (int)rc, where);
            _wantsDiscovery = true;
        }

        g.Lost = true;
        g.LostReason = rc;
        if (g.Processes.Count > 0)
        {
            g.Processes.Clear();
            _layoutDirty = true;
        }

        if (g.Base >= 0)
        {
            WriteFixed(g, _frame.Values);
        }
    }

    private void Recover(Gpu g)
    {
        _logger.LogInformation("GPU {Index} {Uuid} answers again", g.Index, g.Uuid);
        g.Lost = false;
        if (g.Base >= 0)
        {
            WriteFixed(g, _frame.Values);
        }
    }

    private void SampleFast(Gpu g, double[] v)
    {
        var d = g.Device!;
        var b = g.Base;
        ReadUtilization(g, d, v);
        if (Stopped(g))
        {
            return;
        }

        var rc = d.GetMemoryInfo(out var memory);
        if (Ok(g, rc, M.OffMemoryUsed, 3, v))
        {
            v[b + M.OffMemoryUsed] = memory.Used;
            v[b + M.OffMemoryFree] = memory.Free;
            v[b + M.OffMemoryTotal] = memory.Total;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetPowerUsage(out var milliwatts);
        if (Ok(g, rc, M.OffPower, 1, v))
        {
            v[b + M.OffPower] = milliwatts / 1000.0;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetTotalEnergyConsumption(out var millijoules);
        if (Ok(g, rc, M.OffEnergy, 1, v))
        {
            v[b + M.OffEnergy] = Count(g, M.OffEnergy, millijoules) / 1000.0;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetTemperature(NvmlTemperatureSensor.Gpu, out var celsius);
        if (Ok(g, rc, M.OffTemperature, 1, v))
        {
            v[b + M.OffTemperature] = celsius;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetClockInfo(NvmlClockType.Sm, out var sm);
        if (Ok(g, rc, M.OffSmClock, 1, v))
        {
            v[b + M.OffSmClock] = sm * 1e6;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetClockInfo(NvmlClockType.Memory, out var mem);
        if (Ok(g, rc, M.OffMemoryClock, 1, v))
        {
            v[b + M.OffMemoryClock] = mem * 1e6;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetClocksEventReasons(out var reasons);
        if (Ok(g, rc, M.OffClockEvents, M.ClockReasons.Length, v))
        {
            for (var k = 0; k < M.ClockReasons.Length; k++)
            {
                v[b + M.OffClockEvents + k] = (reasons & (ulong)M.ClockReasons[k].Bit) != 0 ? 1 : 0;
            }
        }
        else if (Stopped(g))
        {
            return;
        }

        ReadFields(g, d, g.FastFieldBuffer, FastFields, v);
    }

    /// <summary>
    /// Each ratio from the driver's samples since the last tick where there are new ones; the driver's own
    /// window (<c>GetUtilizationRates</c>) for a ratio without new samples, so that samples already read
    /// (and so consumed) are never thrown away because the other kind had nothing new.
    /// </summary>
    private void ReadUtilization(Gpu g, INvmlDevice d, double[] v)
    {
        var b = g.Base;
        var gpu = 0.0;
        var memory = 0.0;
        var gpuOk = false;
        var memOk = false;
        if (!g.SamplesUnsupported)
        {
            gpuOk = ReadSamples(g, d, NvmlSamplingType.GpuUtilization, ref g.LastGpuSample, out gpu);
            if (Stopped(g))
            {
                return;
            }

            memOk = !g.SamplesUnsupported && ReadSamples(g, d, NvmlSamplingType.MemoryUtilization, ref g.LastMemorySample, out memory);
            if (Stopped(g))
            {
                return;
            }
        }

        if (!gpuOk || !memOk)
        {
            var rc = d.GetUtilizationRates(out var u);
            if (!Ok(g, rc, M.OffUtilization, 2, v))
            {
                return;
            }

            gpu = gpuOk ? gpu : u.Gpu;
            memory = memOk ? memory : u.Memory;
        }
        else
        {
            Ok(g, NvmlReturn.Success, M.OffUtilization, 2, v);
        }

        v[b + M.OffUtilization] = gpu / 100.0;
        v[b + M.OffMemoryUtilization] = memory / 100.0;
    }

    /// <summary>The mean of the samples newer than <paramref name="lastSeen"/> (only the newest on the first call).</summary>
    private bool ReadSamples(Gpu g, INvmlDevice d, NvmlSamplingType type, ref ulong lastSeen, out double mean)
    {
        mean = 0;
        var buffer = g.SampleBuffer;
        var rc = d.GetSamples(type, lastSeen, buffer, out var n, out var valueType);
        if (rc != NvmlReturn.Success)
        {
            if (rc is NvmlReturn.NotSupported or NvmlReturn.FunctionNotFound)
            {
                g.SamplesUnsupported = true;
            }
            else if (IsLost(rc))
            {
                MarkLost(g, rc, "nvmlDeviceGetSamples");
            }
            else
            {
                Down(rc, "nvmlDeviceGetSamples");
            }

            return false;
        }

        n = Math.Min(n, buffer.Length);
        var first = lastSeen == 0;
        var newest = lastSeen;
        var sum = 0.0;
        var k = 0;
        for (var i = 0; i < n; i++)
        {
            var s = buffer[i];
            if (s.TimeStamp <= lastSeen)
            {
                continue;
            }

            if (first)
            {
                if (s.TimeStamp >= newest)
                {
                    newest = s.TimeStamp;
                    sum = s.ToDouble(valueType);
                    k = 1;
                }

                continue;
            }

            sum += s.ToDouble(valueType);
            k++;
            newest = Math.Max(newest, s.TimeStamp);
        }

        if (k == 0)
        {
            return false;
        }

        lastSeen = newest;
        mean = sum / k;
        return true;
    }

    private void ReadSlow(Gpu g, double[] v)
    {
        var d = g.Device!;
        var b = g.Base;
        for (var type = 0; type < 2; type++)
        {
            for (var counter = 0; counter < 2; counter++)
            {
                var off = M.OffEcc + (type * 2) + counter;
                var rc = d.GetTotalEccErrors((NvmlMemoryErrorType)type, (NvmlEccCounterType)counter, out var n);
                if (Ok(g, rc, off, 1, v))
                {
                    v[b + off] = Count(g, off, n);
                }
                else if (Stopped(g))
                {
                    return;
                }
            }
        }

        ReadFields(g, d, g.SlowFieldBuffer, SlowFields, v);
        if (Stopped(g))
        {
            return;
        }

        ReadLinkErrors(g, d, v);
        if (Stopped(g))
        {
            return;
        }

        ReadLinkState(g, d, v);
        if (Stopped(g))
        {
            return;
        }

        ReadProcesses(g, d);
    }

    private void ReadFields(Gpu g, INvmlDevice d, NvmlFieldValue[] buffer, int[] offsets, double[] v)
    {
        // A field the driver's branch does not define is not asked for: its series stays absent.
        var table = M.PerGpu;
        var n = 0;
        for (var i = 0; i < offsets.Length; i++)
        {
            var s = table[offsets[i]];
            var id = s.FieldFor(_driverMajor);
            if (id != 0)
            {
                buffer[n++] = new NvmlFieldValue(id, s.ScopeId);
            }
        }

        var rc = d.GetFieldValues(buffer.AsSpan(0, n));
        var b = g.Base;
        var k = 0;
        for (var i = 0; i < offsets.Length; i++)
        {
            var off = offsets[i];
            if (table[off].FieldFor(_driverMajor) == 0)
            {
                continue;
            }

            var f = buffer[k++];
            var result = rc == NvmlReturn.Success ? f.Result : rc;
            if (!Ok(g, result, off, 1, v))
            {
                if (Stopped(g))
                {
                    return;
                }

                continue;
            }

            if (IsBlank(f))
            {
                v[b + off] = double.NaN;
                continue;
            }

            var scale = table[off].Scale;
            v[b + off] = M.IsCounter(off) ? CountField(g, off, f) * scale : f.ToDouble() * scale;
        }
    }

    /// <summary>
    /// NVLink error totals: the 13.x header puts the link in <c>scopeId</c> for fields 38/45/52/59, so each
    /// link is read and the links are summed (see the README on why not scopeId 0 or UINT_MAX).
    /// </summary>
    private void ReadLinkErrors(Gpu g, INvmlDevice d, double[] v)
    {
        var b = g.Base;
        foreach (var off in LinkFields)
        {
            if (g.LinkCount <= 0)
            {
                if (!Ok(g, g.LinkCountStatus, off, 1, v) && Stopped(g))
                {
                    return;
                }

                continue;
            }

            var buffer = g.LinkBuffer.AsSpan(0, g.LinkCount);
            for (var link = 0; link < buffer.Length; link++)
            {
                buffer[link] = new NvmlFieldValue(M.PerGpu[off].FieldId, (uint)link);
            }

            var result = d.GetFieldValues(buffer);
            ulong sum = 0;
            for (var link = 0; link < buffer.Length && result == NvmlReturn.Success; link++)
            {
                result = buffer[link].Result;
                sum += IsBlank(buffer[link]) ? 0 : buffer[link].ToUInt64();
            }

            if (Ok(g, result, off, 1, v))
            {
                v[b + off] = Count(g, off, sum);
            }
            else if (Stopped(g))
            {
                return;
            }
        }
    }

    /// <summary>PCIe link generation and width (now and allowed), and how many NVLink links are up.</summary>
    private void ReadLinkState(Gpu g, INvmlDevice d, double[] v)
    {
        var b = g.Base;
        foreach (var (query, off) in PcieQueries)
        {
            var rc = d.GetPcieLink(query, out var value);
            if (Ok(g, rc, off, 1, v))
            {
                v[b + off] = value;
            }
            else if (Stopped(g))
            {
                return;
            }
        }

        if (!Ok(g, g.LinkCountStatus, M.OffNvlinkLinks, 1, v) | !Ok(g, g.LinkCountStatus, M.OffNvlinkLinksActive, 1, v))
        {
            return;
        }

        v[b + M.OffNvlinkLinks] = g.LinkCount;
        var active = 0;
        for (var link = 0; link < g.LinkCount; link++)
        {
            var rc = d.GetNvLinkState(link, out var up);
            if (rc != NvmlReturn.Success)
            {
                if (!Ok(g, rc, M.OffNvlinkLinksActive, 1, v))
                {
                    return;
                }
            }

            active += up ? 1 : 0;
        }

        Ok(g, NvmlReturn.Success, M.OffNvlinkLinksActive, 1, v);
        v[b + M.OffNvlinkLinksActive] = active;
    }

    private void ReadProcesses(Gpu g, INvmlDevice d)
    {
        var rc = NvmlReturn.Unknown;
        var n = 0;
        for (var attempt = 0; attempt < MaxProcessAttempts; attempt++)
        {
            rc = d.GetComputeRunningProcesses(g.ProcessBuffer, out n);
            if (rc != NvmlReturn.InsufficientSize)
            {
                break;
            }

            // More processes than the buffer holds (and more may start before the next try): grow with room.
            g.ProcessBuffer = new NvmlProcessInfo[Math.Max(n + 8, g.ProcessBuffer.Length * 2)];
        }

        if (rc != NvmlReturn.Success)
        {
            if (IsLost(rc))
            {
                MarkLost(g, rc, "nvmlDeviceGetComputeRunningProcesses_v3");
                return;
            }

            if (Down(rc, "nvmlDeviceGetComputeRunningProcesses_v3"))
            {
                return;
            }

            if (g.ProcessStatus != rc)
            {
                _unavailable.Set(g.IndexLabel, "", M.ProcessMemory.Name, NvmlReturns.Reason(rc), "nvmlDeviceGetComputeRunningProcesses_v3");
                g.ProcessStatus = rc;
            }

            if (g.Processes.Count > 0)
            {
                g.Processes.Clear();
                _layoutDirty = true;
            }

            return;
        }

        if (g.ProcessStatus != NvmlReturn.Success)
        {
            _unavailable.Clear(g.IndexLabel, "", M.ProcessMemory.Name);
            g.ProcessStatus = NvmlReturn.Success;
        }

        var found = new List<(uint Pid, double Bytes)>(n);
        for (var i = 0; i < Math.Min(n, g.ProcessBuffer.Length); i++)
        {
            var p = g.ProcessBuffer[i];
            found.Add((p.Pid, p.UsedGpuMemory == NvmlValues.NotAvailable ? double.NaN : p.UsedGpuMemory));
        }

        found.Sort(static (a, b) => a.Pid.CompareTo(b.Pid));
        var same = found.Count == g.Processes.Count;
        for (var i = 0; same && i < found.Count; i++)
        {
            same = found[i].Pid == g.Processes[i].Pid;
        }

        if (!same)
        {
            _layoutDirty = true;
        }

        g.Processes.Clear();
        g.Processes.AddRange(found);
    }

    private void DrainXids()
    {
        _watcher?.Drain(this, static (self, e) => self.CountXid(e));
        _kernel?.Poll(this, static (self, x) => self.CountKernelXid(x));
        _frame.Values[SlotXidDropped] = XidDropped;
    }

    private void CountXid(XidEvent e)
    {
        if (e.Device is null || !_byDevice.TryGetValue(e.Device, out var g))
        {
            Unattributed(e.Xid, "NVML event from a device NVML did not enumerate", "");
            return;
        }

        CountXid(g, e.Xid, e.UnixSeconds, XidSource.Nvml, "");
    }

    private void CountKernelXid(KernelXid x)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
        if (!_byDeviceKey.TryGetValue(x.DeviceKey, out var g))
        {
            Unattributed(x.Xid, "kernel log line for PCI device " + x.DeviceKey + ", which NVML does not list", x.Message);
            return;
        }

        CountXid(g, x.Xid, now, XidSource.KernelLog, x.Message);
    }

    /// <summary>Counts one report; the other source's report of the same event (within the dedup window) is not counted again.</summary>
    private void CountXid(Gpu g, ulong xid, double unixSeconds, XidSource source, string message)
    {
        if (!g.XidDedup.IsNew(xid, unixSeconds, source))
        {
            if (message.Length > 0)
            {
                _logger.LogWarning("GPU {Index} {Uuid} Xid {Xid} in the kernel log (the event NVML reported, counted once): {Message}", g.Index, g.Uuid, xid, message);
            }
            else
            {
                _logger.LogDebug("GPU {Index} {Uuid} Xid {Xid} from NVML is the event the kernel log reported, counted once", g.Index, g.Uuid, xid);
            }

            return;
        }

        if (!g.Xids.TryGetValue(xid, out var count))
        {
            count = new XidCount(xid);
            g.Xids.Add(xid, count);
            _layoutDirty = true;
        }

        count.Count++;
        g.LastXid = unixSeconds;
        _xidsChanged = true;
        _logger.LogWarning("GPU {Index} {Uuid} reported Xid {Xid} ({Action}; {Count} so far; from {Source}){Message}",
            g.Index, g.Uuid, xid, XidCatalog.Action(xid), count.Count, source == XidSource.Nvml ? "NVML" : "the kernel log",
            message.Length > 0 ? ": " + message : "");
    }

    private void Unattributed(ulong xid, string what, string message)
    {
        _xidUnattributed++;
        _frame.Values[SlotXidUnattributed] = _xidUnattributed;
        _logger.LogWarning("Xid {Xid} ({Action}) not attributed to a GPU: {What}{Message}", xid, XidCatalog.Action(xid), what, message.Length > 0 ? ": " + message : "");
    }

    /// <summary>Writes what the collector itself knows: gpu_up, gpu_info, and the absence of a lost GPU's series.</summary>
    private static void WriteFixed(Gpu g, double[] v)
    {
        var b = g.Base;
        v[b + M.OffUp] = g.Lost ? 0 : 1;
        v[b + M.OffInfo] = 1;
        if (g.Lost)
        {
            for (var off = 0; off < M.PerGpu.Count; off++)
            {
                if (off != M.OffUp && off != M.OffInfo && off != M.OffLastXid)
                {
                    v[b + off] = double.NaN;
                }
            }
        }
    }

    private static void WriteDynamic(Gpu g, double[] v)
    {
        if (g.Base < 0)
        {
            return;
        }

        v[g.Base + M.OffLastXid] = g.LastXid;
        foreach (var x in g.XidOrder)
        {
            v[x.Slot] = x.Count;
        }

        for (var i = 0; i < g.ProcessSlots.Length && i < g.Processes.Count; i++)
        {
            v[g.ProcessSlots[i]] = g.Processes[i].Bytes;
        }
    }

    /// <summary>
    /// Builds the layout from the GPUs known, carrying every value over by series key so that a new
    /// layout (a process started, a new Xid code) shows no gap.
    /// </summary>
    private void Rebuild()
    {
        var b = new LayoutBuilder();
        b.Add(M.NvmlUp);
        b.Add(M.NvmlStalled);
        b.Add(M.XidDropped);
        b.Add(M.XidUnattributed);
        if (_initialised)
        {
            _gpus.Sort(static (x, y) => x.Index != y.Index ? x.Index.CompareTo(y.Index) : string.CompareOrdinal(x.Uuid, y.Uuid));
            foreach (var g in _gpus)
            {
                g.Base = b.Count;
                var table = M.PerGpu;
                for (var off = 0; off < table.Count; off++)
                {
                    if (off == M.OffInfo)
                    {
                        b.Add(M.Info, g.IndexLabel, g.Uuid, g.BusId, g.Name, _driverVersion, _nvmlVersion, g.NumaNode, g.PciRoot);
                    }
                    else
                    {
                        b.Add(table[off].Family, [g.IndexLabel, g.Uuid, g.BusId, .. table[off].Extra]);
                    }
                }
            }

            foreach (var g in _gpus)
            {
                g.XidOrder = [.. g.Xids.Values.OrderBy(x => x.Xid)];
                foreach (var x in g.XidOrder)
                {
                    x.Slot = b.Add(M.XidErrors, g.IndexLabel, g.Uuid, g.BusId, XidCatalog.Label(x.Xid), XidCatalog.Action(x.Xid));
                }

                g.ProcessSlots = new int[g.Processes.Count];
                for (var i = 0; i < g.Processes.Count; i++)
                {
                    g.ProcessSlots[i] = b.Add(M.ProcessMemory, g.IndexLabel, g.Uuid, g.BusId, g.Processes[i].Pid.ToString(CultureInfo.InvariantCulture));
                }
            }
        }
        else
        {
            foreach (var g in _gpus)
            {
                g.Base = -1;
                g.XidOrder = [];
                g.ProcessSlots = [];
            }
        }

        _frame.SetBaseCarrying(b, _unavailable);
        var v = _frame.Values;

        v[SlotNvmlUp] = _initialised ? 1 : 0;
        v[SlotNvmlStalled] = 0;
        v[SlotXidDropped] = XidDropped;
        v[SlotXidUnattributed] = _xidUnattributed;
        if (_initialised)
        {
            foreach (var g in _gpus)
            {
                WriteFixed(g, v);
                WriteDynamic(g, v);
            }
        }

        _layoutDirty = false;
    }

    /// <summary>
    /// Handles a call's result for the series at <paramref name="offset"/> (and the <paramref name="count"/>
    /// - 1 after it, filled by the same call): true when the value may be written. A lost GPU is marked
    /// lost; NVML going away is noted for the end of the job; any other error makes the series absent and
    /// is shown (once) as an unavailable counter.
    /// </summary>
    private bool Ok(Gpu g, NvmlReturn rc, int offset, int count, double[] v)
    {
        if (rc == NvmlReturn.Success)
        {
            if (g.Status[offset] != NvmlReturn.Success)
            {
                _unavailable.Clear(g.IndexLabel, "", M.PerGpu[offset].CounterName);
                g.Status[offset] = NvmlReturn.Success;
            }

            return true;
        }

        if (IsLost(rc))
        {
            MarkLost(g, rc, M.PerGpu[offset].Source);
            return false;
        }

        if (Down(rc, M.PerGpu[offset].Source))
        {
            return false;
        }

        for (var k = 0; k < count; k++)
        {
            v[g.Base + offset + k] = double.NaN;
        }

        if (g.Status[offset] != rc)
        {
            _unavailable.Set(g.IndexLabel, "", M.PerGpu[offset].CounterName, NvmlReturns.Reason(rc), M.PerGpu[offset].Source);
            g.Status[offset] = rc;
        }

        return false;
    }

    private bool Stopped(Gpu g) => g.Lost || _down != NvmlReturn.Success;

    private bool Down(NvmlReturn rc, string where)
    {
        if (rc is NvmlReturn.Uninitialized or NvmlReturn.DriverNotLoaded or NvmlReturn.LibRmVersionMismatch)
        {
            _down = rc;
            _downWhere = where;
            return true;
        }

        return false;
    }

    private static bool IsLost(NvmlReturn rc) => rc is NvmlReturn.GpuIsLost or NvmlReturn.ResetRequired;

    private static bool IsBlank(in NvmlFieldValue f) => f.ValueType switch
    {
        NvmlValueType.UnsignedLongLong or NvmlValueType.UnsignedLong => f.RawValue == NvmlValues.NotAvailable,
        NvmlValueType.UnsignedInt => (uint)f.RawValue == uint.MaxValue,
        _ => false,
    };

    private static double Count(Gpu g, int offset, ulong raw)
    {
        ref var c = ref g.Counters[offset];
        c.Update(raw);
        return c.Value;
    }

    /// <summary>A field counter; a 32-bit one is widened first, so that its wrap reads as a carry, not a reset.</summary>
    private static double CountField(Gpu g, int offset, in NvmlFieldValue f)
    {
        if (!NvmlValues.Is32Bit(f.ValueType))
        {
            return Count(g, offset, f.ToUInt64());
        }

        var raw = (uint)f.RawValue;
        g.Wide[offset] = g.WideSeen[offset] ? g.Wide[offset] + (uint)(raw - g.Last32[offset]) : raw;
        g.WideSeen[offset] = true;
        g.Last32[offset] = raw;
        return Count(g, offset, g.Wide[offset]);
    }

    private sealed class XidCount(ulong xid)
    {
        public ulong Xid { get; } = xid;

        public long Count { get; set; }

        public int Slot { get; set; } = -1;
    }

    private sealed class Gpu
    {
        public Gpu(string key, string uuid, int index)
        {
            Key = key;
            Uuid = uuid;
            SetIndex(index);
            foreach (var xid in M.KnownXids)
            {
                Xids[xid] = new XidCount(xid);
            }
        }

        public string Key { get; }

        public string Uuid { get; }

        public int Index { get; private set; }

        public string IndexLabel { get; private set; } = "";

        public INvmlDevice? Device { get; set; }

        public bool NeedsIdentity { get; set; }

        public string Name { get; set; } = "";

        public string BusId { get; set; } = "";

        public string NumaNode { get; set; } = "";

        public string PciRoot { get; set; } = "";

        public bool Lost { get; set; }

        public NvmlReturn LostReason { get; set; }

        public bool Registered { get; set; }

        public NvmlReturn RegisterError { get; set; }

        public int Base { get; set; } = -1;

        public CounterState[] Counters { get; } = new CounterState[M.PerGpu.Count];

        public ulong[] Wide { get; } = new ulong[M.PerGpu.Count];

        public uint[] Last32 { get; } = new uint[M.PerGpu.Count];

        public bool[] WideSeen { get; } = new bool[M.PerGpu.Count];

        public NvmlReturn[] Status { get; } = new NvmlReturn[M.PerGpu.Count];

        public bool SamplesUnsupported { get; set; }

#pragma warning disable SA1401 // updated by reference
        public ulong LastGpuSample;
        public ulong LastMemorySample;
#pragma warning restore SA1401

        public NvmlSample[] SampleBuffer { get; } = new NvmlSample[SampleBufferSize];

        public NvmlFieldValue[] FastFieldBuffer { get; } = new NvmlFieldValue[FastFields.Length];

        public NvmlFieldValue[] SlowFieldBuffer { get; } = new NvmlFieldValue[SlowFields.Length];

        public NvmlProcessInfo[] ProcessBuffer { get; set; } = new NvmlProcessInfo[16];

        public NvmlFieldValue[] LinkBuffer { get; } = new NvmlFieldValue[NvmlFieldValue.MaxBatch];

        public int LinkCount { get; set; }

        public NvmlReturn LinkCountStatus { get; set; } = NvmlReturn.NotSupported;

        public NvmlReturn ProcessStatus { get; set; }

        public List<(uint Pid, double Bytes)> Processes { get; } = [];

        public int[] ProcessSlots { get; set; } = [];

        public Dictionary<ulong, XidCount> Xids { get; } = [];

        public XidCount[] XidOrder { get; set; } = [];

        public double LastXid { get; set; } = double.NaN;

        public XidDedup XidDedup { get; } = new();

        public void SetIndex(int index)
        {
            Index = index;
            IndexLabel = index.ToString(CultureInfo.InvariantCulture);
        }
    }
}
