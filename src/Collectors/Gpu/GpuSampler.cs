using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Nvml;
using Microsoft.Extensions.Logging;
using M = EfaAgent.Collectors.Gpu.GpuMetrics;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// The worker-thread half of <see cref="GpuCollector"/>: every NVML call, the per-GPU state and the
/// frame the collector publishes. Only the worker thread calls into it (through
/// <see cref="INvmlJobRunner.Run"/>); the collector reads <see cref="Frame"/> and the flags only while
/// the worker is idle.
/// </summary>
internal sealed partial class GpuSampler : INvmlJobRunner, IDisposable
{
    private const int SlotNvmlUp = 0;
    private const int SlotNvmlStalled = 1;
    private const int SlotXidDropped = 2;
    private const int SlotXidUnattributed = 3;
    private const int FixedSlots = 4;
    internal const int SampleBufferSize = 128;
    private const int MaxProcessAttempts = 4;

    /// <summary>NVML_FI_DEV_NVLINK_LINK_COUNT.</summary>
    private const uint NvlinkLinkCountField = 91;

    /// <summary>Key of a GPU NVML cannot identify (its handle or UUID query fails): known only by its index.</summary>
    private const string PlaceholderPrefix = "index:";
    internal static readonly int[] FastFields = M.FieldOffsets(GpuLane.Fast);
    internal static readonly int[] SlowFields = M.FieldOffsets(GpuLane.Slow);
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
    private readonly List<GpuState> _gpus = [];
    private readonly Dictionary<string, GpuState> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<INvmlDevice, GpuState> _byDevice = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, GpuState> _byDeviceKey = new(StringComparer.Ordinal);
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
        var missing = _nvml.MissingFunctions.Count > 0
            ? " (entry points missing from this driver, their metrics stay absent: " + string.Join(", ", _nvml.MissingFunctions) + ")"
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
}
