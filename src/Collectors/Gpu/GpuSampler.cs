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
    private const int MaxProcessAttempts = 4;

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
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly UnavailableSeries _unavailable;
    private readonly NvmlSession _session;
    private readonly FrameState _frame = new();
    private readonly GpuInventory _inventory;
    private readonly KernelXidReader? _kernel;
    private bool _layoutDirty = true;
    private bool _xidsChanged;
    private long _xidUnattributed;
    private bool _wantsDiscovery;

    public GpuSampler(GpuCollectorOptions options, Func<INvml> factory, ILogger logger, TimeProvider time)
    {
        _options = options;
        _logger = logger;
        _time = time;
        _session = new NvmlSession(options, factory, logger, time);
        _unavailable = new UnavailableSeries(GpuCollector.CollectorName, logger);
        _inventory = new GpuInventory(_session, options.SysfsRoot, _unavailable, logger, g =>
        {
            if (g.Base >= 0)
            {
                WriteFixed(g, _frame.Values);
            }
        });
        _kernel = options.KernelLogPath.Length > 0 ? new KernelXidReader(options.KernelLogPath, logger) : null;
        Rebuild();
    }

    /// <summary>The frame of the last finished job.</summary>
    public Frame Frame => _frame.Frame;

    /// <summary>Whether NVML is initialised.</summary>
    public bool Initialised => _session.Initialised;

    /// <summary>GPUs known (lost ones included).</summary>
    public int DeviceCount => _session.Initialised ? _inventory.Gpus.Count : 0;

    /// <summary>The running Xid watcher, if any.</summary>
    public XidWatcher? Watcher => _session.Watcher;

    /// <summary>
    /// While initialisation fails for a reason other than "no NVML here": what failed (Discover throws it
    /// every time, so the collector reads as failed until NVML answers). Null otherwise.
    /// </summary>
    public string? Failure => _session.Failure;

    /// <summary>Whether something (a GPU lost, NVML gone) asks for a discovery before the slow cadence; cleared by reading.</summary>
    public bool TakeWantsDiscovery()
    {
        var w = _wantsDiscovery | _inventory.TakeWantsDiscovery();
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
        if (!_session.ReleaseLibrary())
        {
            return false;
        }

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

        _inventory.Enumerate();
        _layoutDirty |= _inventory.TakeLayoutChanged();
        if (CheckDown())
        {
            return;
        }

        if (_layoutDirty)
        {
            Rebuild();
        }

        var v = _frame.Values;
        foreach (var g in _inventory.Gpus)
        {
            if (g.Device is not null && !g.Lost)
            {
                ReadSlow(g, v);
                if (_session.IsDown)
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
        foreach (var g in _inventory.Gpus)
        {
            WriteDynamic(g, v);
        }

        _frame.SyncUnavailable(_unavailable);
    }

    private void RunSample()
    {
        if (!_session.Initialised)
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
            foreach (var g in _inventory.Gpus)
            {
                WriteDynamic(g, v);
            }

            _xidsChanged = false;
        }

        foreach (var g in _inventory.Gpus)
        {
            if (g.Device is not null && !g.Lost && g.Base >= 0)
            {
                SampleFast(g, v);
                if (_session.IsDown)
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
    private void RunShutdown() => _session.Shutdown();

    /// <summary>Marks a GPU lost, and has its series relaid out where that takes some away.</summary>
    private void MarkLost(GpuState g, NvmlReturn rc, string where)
    {
        _inventory.MarkLost(g, rc, where);
        _layoutDirty |= _inventory.TakeLayoutChanged();
    }

    /// <summary>Asks the Xid watcher to end without waiting (used when the worker itself is stuck).</summary>
    public void RequestWatcherStop() => _session.RequestWatcherStop();

    private bool EnsureInitialised()
    {
        if (_session.Initialised)
        {
            return true;
        }

        if (!_session.TryOpen())
        {
            if (_frame.Layout.Count != FixedSlots || _layoutDirty)
            {
                Rebuild();
            }

            _frame.Values[SlotNvmlUp] = 0;
            _frame.Values[SlotNvmlStalled] = 0;
            return false;
        }

        _layoutDirty = true;
        return true;
    }

    /// <summary>When a call said NVML itself is gone, drops every GPU series and arranges a re-initialisation.</summary>
    private bool CheckDown()
    {
        if (!_session.CloseIfDown())
        {
            return false;
        }

        foreach (var g in _inventory.Gpus)
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
