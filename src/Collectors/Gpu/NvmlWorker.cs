using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace EfaAgent.Collectors.Gpu;

/// <summary>The jobs the worker runs.</summary>
internal enum NvmlJob
{
    /// <summary>No job.</summary>
    None,

    /// <summary>The slow lane: (re)initialise, enumerate, slow counters.</summary>
    Discover,

    /// <summary>The fast lane.</summary>
    Sample,

    /// <summary>Release NVML before the worker stops.</summary>
    Shutdown,
}

/// <summary>What a worker job runs.</summary>
internal interface INvmlJobRunner
{
    /// <summary>Runs one job on the worker thread.</summary>
    void Run(NvmlJob job, long argument);
}

/// <summary>
/// One dedicated thread that makes every NVML call, so that a call which hangs (nvmlInit has been seen
/// to) holds up only this thread. The caller posts a job and waits for it up to a deadline; when the
/// deadline passes the job keeps running and the caller goes on. A new job is posted only once the
/// previous one has finished, so a stuck call never piles work up behind it. Signalling is a monitor
/// (no allocation per job).
/// </summary>
internal sealed class NvmlWorker : IDisposable
{
    private readonly object _gate = new();
    private readonly INvmlJobRunner _runner;
    private readonly Thread _thread;
    private NvmlJob _pending;
    private long _argument;
    private bool _running;
    private bool _stop;
    private long _completed;
    private long _startedAt;
    private long _allocated;
    private ExceptionDispatchInfo? _error;

    /// <summary>Starts the thread.</summary>
    public NvmlWorker(INvmlJobRunner runner, string name)
    {
        _runner = runner;
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>How many jobs have finished; a caller compares it with what it consumed.</summary>
    public long Completed
    {
        get
        {
            lock (_gate)
            {
                return _completed;
            }
        }
    }

    /// <summary>Bytes the worker thread allocated while running jobs, all jobs together.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocated);

    /// <summary>Whether the thread has ended.</summary>
    public bool HasExited => !_thread.IsAlive;

    /// <summary>The <see cref="Stopwatch"/> timestamp at which the running job started; 0 when idle.</summary>
    public long BusySince
    {
        get
        {
            lock (_gate)
            {
                return _running || _pending != NvmlJob.None ? _startedAt : 0;
            }
        }
    }

    /// <summary>Waits until no job is posted or running, or until <paramref name="deadline"/> (a Stopwatch timestamp).</summary>
    /// <returns>True when the worker is idle.</returns>
    public bool WaitIdle(long deadline)
    {
        lock (_gate)
        {
            return WaitIdleLocked(deadline);
        }
    }

    /// <summary>
    /// Posts <paramref name="job"/> once the worker is idle and waits for it until <paramref name="deadline"/>.
    /// Rethrows an exception the job threw.
    /// </summary>
    /// <returns>True when the job finished in time; false when it is still running (or could not be posted).</returns>
    public bool TryRun(NvmlJob job, long argument, long deadline)
    {
        lock (_gate)
        {
            if (_stop || !WaitIdleLocked(deadline))
            {
                return false;
            }

            _pending = job;
            _argument = argument;
            _startedAt = Stopwatch.GetTimestamp();
            Monitor.PulseAll(_gate);
            if (!WaitIdleLocked(deadline))
            {
                return false;
            }

            ThrowPendingLocked();
            return true;
        }
    }

    /// <summary>Posts <paramref name="job"/> when the worker is idle; never waits.</summary>
    /// <returns>True when the job was posted; false when a job is still posted or running.</returns>
    public bool TryPost(NvmlJob job, long argument)
    {
        lock (_gate)
        {
            if (_stop || _pending != NvmlJob.None || _running)
            {
                return false;
            }

            _pending = job;
            _argument = argument;
            _startedAt = Stopwatch.GetTimestamp();
            Monitor.PulseAll(_gate);
            return true;
        }
    }

    /// <summary>Rethrows (once) an exception from a job that finished after its caller stopped waiting.</summary>
    public void ThrowPending()
    {
        lock (_gate)
        {
            ThrowPendingLocked();
        }
    }

    /// <summary>Asks the thread to end after its current job and waits for it up to <paramref name="timeout"/>.</summary>
    /// <returns>True when the thread ended.</returns>
    public bool Stop(TimeSpan timeout)
    {
        lock (_gate)
        {
            _stop = true;
            Monitor.PulseAll(_gate);
        }

        return _thread.Join(timeout);
    }

    /// <inheritdoc />
    public void Dispose() => Stop(TimeSpan.Zero);

    private bool WaitIdleLocked(long deadline)
    {
        while (_pending != NvmlJob.None || _running)
        {
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            Monitor.Wait(_gate, remaining);
        }

        return true;
    }

    private void ThrowPendingLocked()
    {
        var error = _error;
        _error = null;
        error?.Throw();
    }

    private void Loop()
    {
        while (true)
        {
            NvmlJob job;
            long argument;
            lock (_gate)
            {
                while (_pending == NvmlJob.None && !_stop)
                {
                    Monitor.Wait(_gate);
                }

                if (_pending == NvmlJob.None)
                {
                    return;
                }

                job = _pending;
                argument = _argument;
                _running = true;
                _pending = NvmlJob.None;
            }

            var before = GC.GetAllocatedBytesForCurrentThread();
            ExceptionDispatchInfo? error = null;
            try
            {
                _runner.Run(job, argument);
            }
#pragma warning disable CA1031 // the job's exception is handed to the caller, not lost
            catch (Exception e)
#pragma warning restore CA1031
            {
                error = ExceptionDispatchInfo.Capture(e);
            }

            Interlocked.Add(ref _allocated, GC.GetAllocatedBytesForCurrentThread() - before);
            lock (_gate)
            {
                _running = false;
                _completed++;
                _error = error ?? _error;
                Monitor.PulseAll(_gate);
            }
        }
    }
}
