using System.Diagnostics;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Nvml;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// Exports the GPUs NVML sees: utilisation, memory, power, energy, temperatures, clocks and clock event
/// reasons, NVLink and PCIe bytes on every tick; ECC, row remapping, page retirement, NVLink and PCIe
/// errors, throttle time and running processes on the slow lane; Xid errors from NVML's event stream.
/// <para>
/// Every NVML call runs on one dedicated worker thread (Xid waits on one more). <see cref="Sample"/>
/// and <see cref="Discover"/> hand their work to it and wait at most the tick wait (half a sample
/// interval): the GPU lane runs on its own time and never makes the agent's tick late. A job still
/// running is left to finish and published by a later tick; one running past the call timeout is a
/// stall: the last complete values, <c>gpu_nvml_up 0</c> and <c>gpu_nvml_stalled 1</c>, until it returns.
/// </para>
/// <para>
/// No library, or a driver not loaded, is not an error: <c>gpu_nvml_up 0</c>, one log line, and a new
/// attempt on every <see cref="Discover"/>. Any other initialisation failure is logged once and thrown
/// from every <see cref="Discover"/> until NVML initialises. A metric a GPU does not support is absent on that GPU; a lost GPU
/// has <c>gpu_up 0</c> and its sampled series absent until it answers again.
/// </para>
/// </summary>
public sealed class GpuCollector : ICollector
{
    /// <summary>The collector name.</summary>
    public const string CollectorName = "gpu";

    private const int SlotNvmlUp = 0;
    private const int SlotNvmlStalled = 1;

    /// <summary>The most <see cref="Dispose"/> takes: SIGTERM stops the agent within a second.</summary>
    internal static readonly TimeSpan ShutdownBudget = TimeSpan.FromMilliseconds(700);

    private readonly ILogger _logger;
    private readonly GpuSampler _sampler;
    private readonly NvmlWorker _worker;
    private readonly TimeSpan _timeout;
    private readonly long _timeoutTicks;
    private readonly long _tickWaitTicks;
    private Layout _layout;
    private double[] _values;
    private long _consumed;
    private bool _stalled;
    private long _stalledSince;
    private bool _disposed;
    private bool _discoveryPending;

    /// <summary>
    /// Creates the collector; nothing is loaded until <see cref="Discover"/>. <paramref name="nvmlFactory"/>
    /// is called on the worker thread, again on each Discover until it succeeds; a
    /// <see cref="DllNotFoundException"/> from it means "no NVML on this machine".
    /// </summary>
    public GpuCollector(GpuCollectorOptions options, Func<INvml> nvmlFactory, ILogger logger)
        : this(options, nvmlFactory, logger, TimeProvider.System)
    {
    }

    internal GpuCollector(GpuCollectorOptions options, Func<INvml> nvmlFactory, ILogger logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(nvmlFactory);
        ArgumentNullException.ThrowIfNull(logger);
        options.Validate();
        _logger = logger;
        _timeout = options.CallTimeout;
        _timeoutTicks = (long)(options.CallTimeout.TotalSeconds * Stopwatch.Frequency);
        _tickWaitTicks = (long)(options.EffectiveTickWait.TotalSeconds * Stopwatch.Frequency);
        _sampler = new GpuSampler(options, nvmlFactory, logger, time);
        _layout = _sampler.Frame.Layout;
        _values = new double[_layout.Count];
        _worker = new NvmlWorker(_sampler, "gpu-nvml-worker");
    }

    /// <inheritdoc />
    public string Name => CollectorName;

    /// <inheritdoc />
    public bool NeedsDiscovery { get; private set; }

    /// <inheritdoc />
    public Frame Frame => new(_layout, _values);

    /// <inheritdoc />
    public int DeviceCount { get; private set; }

    /// <summary>Whether an NVML call has been running longer than the call timeout.</summary>
    public bool Stalled => _stalled;

    /// <summary>Bytes the worker thread allocated in all its jobs (for allocation measurements).</summary>
    internal long WorkerAllocatedBytes => _worker.AllocatedBytes;

    /// <summary>Whether the worker thread has ended (after <see cref="Dispose"/>).</summary>
    internal bool WorkerExited => _worker.HasExited;

    /// <summary>The Xid watcher, while one runs.</summary>
    internal XidWatcher? XidWatcher => _sampler.Watcher;

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">NVML initialisation failed for a reason other than a missing library or driver (on every call until it succeeds).</exception>
    public void Discover()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        NeedsDiscovery = false;
        _discoveryPending = true;
        Step(0);
        if (_sampler.Failure is { } failure)
        {
            throw new InvalidOperationException(failure);
        }
    }

    /// <inheritdoc />
    public void Sample(long timestamp)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Step(timestamp);
    }

    /// <summary>
    /// Stops the Xid watcher, then releases NVML (<c>nvmlShutdown</c>, then unloads the library), within
    /// a second. When a call is stuck (still running at the end of the budget, or already running for
    /// longer than the budget when Dispose starts), the library stays loaded (unloading it under a
    /// running call would crash the process) and the agent stops anyway.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        var now = Stopwatch.GetTimestamp();
        var budget = (long)(ShutdownBudget.TotalSeconds * Stopwatch.Frequency);
        var deadline = now + budget;

        // A call already running for longer than the whole budget is stuck: waiting the budget out
        // for it would only delay the stop.
        var busySince = _worker.BusySince;
        var stuck = busySince != 0 && now - busySince > budget;
        var shutDown = !stuck && _worker.TryRun(NvmlJob.Shutdown, 0, deadline);
        if (shutDown && _worker.Stop(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero)
            && _sampler.ReleaseLibrary())
        {
            return;
        }

        _worker.Stop(TimeSpan.Zero);
        _sampler.RequestWatcherStop();
        _logger.LogWarning("an NVML call was still running at shutdown; NVML stays loaded");
    }

    /// <summary>
    /// One tick's share of the GPU work: take what the worker finished, post the next job (a discovery
    /// when one is due, else a sample) and wait for it at most the tick wait. While a job runs, only a
    /// look: a job running past the call timeout is a stall.
    /// </summary>
    private void Step(long timestamp)
    {
        if (!_worker.WaitIdle(Stopwatch.GetTimestamp()))
        {
            CheckStall();
            return;
        }

        Consume();
        var job = _discoveryPending ? NvmlJob.Discover : NvmlJob.Sample;
        if (job == NvmlJob.Sample && !_sampler.Initialised)
        {
            return;
        }

        if (!_worker.TryPost(job, timestamp))
        {
            CheckStall();
            return;
        }

        _discoveryPending = false;
        if (_worker.WaitIdle(Stopwatch.GetTimestamp() + _tickWaitTicks))
        {
            Consume();
        }
    }

    private void CheckStall()
    {
        var since = _worker.BusySince;
        if (since != 0 && Stopwatch.GetTimestamp() - since > _timeoutTicks)
        {
            MarkStalled(since);
        }
    }

    /// <summary>Takes the result of every job finished since the last look; the worker is idle.</summary>
    private void Consume()
    {
        var completed = _worker.Completed;
        if (completed != _consumed)
        {
            _consumed = completed;
            var frame = _sampler.Frame;
            if (!ReferenceEquals(frame.Layout, _layout) || _values.Length != frame.Values.Length)
            {
                _layout = frame.Layout;
                _values = new double[frame.Values.Length];
            }

            frame.Values.Span.CopyTo(_values);
            DeviceCount = _sampler.DeviceCount;
            if (_sampler.TakeWantsDiscovery())
            {
                NeedsDiscovery = true;
            }
        }

        if (_stalled)
        {
            _stalled = false;
            _logger.LogInformation("NVML answered again after {Seconds:F1} s", Stopwatch.GetElapsedTime(_stalledSince).TotalSeconds);
        }

        _worker.ThrowPending();
    }

    private void MarkStalled(long since)
    {
        if (!_stalled)
        {
            _stalled = true;
            _stalledSince = since;
            NeedsDiscovery = true;
            _logger.LogWarning("an NVML call has not returned within {Timeout} s; publishing the last complete values with gpu_nvml_up 0 and gpu_nvml_stalled 1 until it does",
                _timeout.TotalSeconds);
        }

        _values[SlotNvmlUp] = 0;
        _values[SlotNvmlStalled] = 1;
    }
}
