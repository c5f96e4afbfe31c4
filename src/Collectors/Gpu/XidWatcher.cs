using EfaAgent.Collectors.Nvml;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Gpu;

/// <summary>One Xid event as the watcher received it.</summary>
/// <param name="Device">The GPU it came from (null when NVML named no known device).</param>
/// <param name="Xid">The Xid code.</param>
/// <param name="UnixSeconds">When the watcher received it.</param>
internal readonly record struct XidEvent(INvmlDevice? Device, ulong Xid, double UnixSeconds);

/// <summary>
/// A thread that waits on an NVML event set (<c>nvmlEventSetWait_v2</c>, 250 ms at a time) for critical Xid
/// errors and queues them; the collector's worker drains the queue on each job and counts them. The
/// watcher owns its event set and frees it when its thread ends, so the set is never freed while a wait
/// on it is in progress.
/// </summary>
internal sealed class XidWatcher : IDisposable
{
    /// <summary>How long one wait lasts: the bound on how long stopping takes (the agent stops within a second).</summary>
    public static readonly TimeSpan WaitTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>The most events queued between two drains; more are dropped and counted.</summary>
    public const int MaxQueued = 4096;

    private readonly INvmlEventSet _set;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Thread _thread;
    private readonly object _lock = new();
    private List<XidEvent> _queue = new(16);
    private List<XidEvent> _spare = new(16);
    private volatile bool _stop;
    private volatile int _queued;
    private NvmlReturn _lastError;
    private long _dropped;

    /// <summary>Starts waiting on <paramref name="set"/>, which this watcher now owns.</summary>
    public XidWatcher(INvmlEventSet set, ILogger logger, TimeProvider time)
    {
        _set = set;
        _logger = logger;
        _time = time;
        _thread = new Thread(Loop) { IsBackground = true, Name = "gpu-xid-watcher" };
        _thread.Start();
    }

    /// <summary>The event set devices are registered on.</summary>
    public INvmlEventSet Set => _set;

    /// <summary>Whether the thread has ended.</summary>
    public bool HasExited => !_thread.IsAlive;

    /// <summary>Events dropped because nobody drained the queue (it holds at most 4096).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Hands the queued events to <paramref name="action"/> (called on the draining thread, outside the
    /// queue's lock). Allocation-free when the queue is empty.
    /// </summary>
    public void Drain<TState>(TState state, Action<TState, XidEvent> action)
    {
        if (_queued == 0)
        {
            return;
        }

        List<XidEvent> taken;
        lock (_lock)
        {
            taken = _queue;
            _queue = _spare;
            _spare = taken;
            _queued = 0;
        }

        foreach (var e in taken)
        {
            action(state, e);
        }

        taken.Clear();
    }

    /// <summary>Asks the thread to end; it does within <see cref="WaitTimeout"/> and frees the set.</summary>
    public void RequestStop() => _stop = true;

    /// <summary>Stops the thread and waits for it up to <paramref name="timeout"/>.</summary>
    /// <returns>True when it ended.</returns>
    public bool Stop(TimeSpan timeout)
    {
        _stop = true;
        return _thread.Join(timeout);
    }

    /// <inheritdoc />
    public void Dispose() => Stop(WaitTimeout + WaitTimeout);

    private void Loop()
    {
        try
        {
            while (!_stop)
            {
                var rc = _set.Wait((uint)WaitTimeout.TotalMilliseconds, out var e);
                if (_stop)
                {
                    // NVML may already be shut down under a stopping watcher: its error is expected.
                    break;
                }

                if (rc == NvmlReturn.Success)
                {
                    _lastError = NvmlReturn.Success;
                    if ((e.EventType & NvmlEventType.XidCriticalError) != 0)
                    {
                        Enqueue(new XidEvent(e.Device, e.EventData, _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0));
                    }
                }
                else if (rc != NvmlReturn.Timeout)
                {
                    if (rc != _lastError)
                    {
                        _logger.LogWarning("waiting for Xid events failed: {Error} ({Code}); retrying every 250 ms",
                            rc, (int)rc);
                        _lastError = rc;
                    }

                    // An error returns at once: do not spin on it.
                    Thread.Sleep(WaitTimeout);
                }
            }
        }
        finally
        {
            _set.Dispose();
        }
    }

    private void Enqueue(XidEvent e)
    {
        lock (_lock)
        {
            if (_queue.Count >= MaxQueued)
            {
                Interlocked.Increment(ref _dropped);
                return;
            }

            _queue.Add(e);
            _queued = _queue.Count;
        }
    }
}
