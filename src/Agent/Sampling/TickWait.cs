using System.Diagnostics;
using System.Runtime.InteropServices;
using Libc = EfaAgent.Collectors.Interop.Interop.Libc;

namespace EfaAgent.Agent.Sampling;

/// <summary>
/// The sampler's wait for its next tick, cut short when the agent stops. One <c>ppoll</c> on an
/// <c>eventfd</c> that the stop writes to, with the time left as its timeout: a single system call per
/// tick, to the nanosecond, where a wait on a <see cref="WaitHandle"/> goes through the runtime's
/// wait machinery and a condition variable (locks, a timed futex wait, and the time rounded to a
/// millisecond). Without an <c>eventfd</c> (no descriptor left, not Linux), it waits on the stop's
/// <see cref="WaitHandle"/> as before.
/// </summary>
internal sealed class TickWait : IDisposable
{
    private readonly CancellationToken _stop;
    private readonly int _eventFd;
    private readonly CancellationTokenRegistration _registration;

    /// <summary>Creates the wait for the loop that <paramref name="stop"/> ends.</summary>
    public TickWait(CancellationToken stop)
    {
        _stop = stop;
        _eventFd = OperatingSystem.IsLinux() ? Libc.EventFd(0, Libc.EfdCloExecNonBlock) : -1;
        if (_eventFd >= 0)
        {
            _registration = stop.UnsafeRegister(static state => Libc.SignalEventFd((int)state!), _eventFd);
        }
    }

    /// <summary>Whether the wait is the <c>eventfd</c> one (false: the fallback).</summary>
    public bool UsesEventFd => _eventFd >= 0;

    /// <summary>
    /// Waits until <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp); returns true
    /// when the stop came first, or had come already.
    /// </summary>
    public bool Until(long timestamp)
    {
        while (true)
        {
            if (_stop.IsCancellationRequested)
            {
                return true;
            }

            var left = timestamp - Stopwatch.GetTimestamp();
            if (left <= 0)
            {
                return false;
            }

            var nanoseconds = (long)(left * (1e9 / Stopwatch.Frequency));
            if (_eventFd < 0)
            {
                return _stop.WaitHandle.WaitOne(TimeSpan.FromTicks(Math.Max(1, nanoseconds / 100)));
            }

            var ready = Libc.WaitReadable(_eventFd, nanoseconds);
            if (ready > 0)
            {
                return true;
            }

            if (ready == 0)
            {
                return false;
            }

            // EINTR (a signal): wait for what is left. Any other error would come back at once on
            // every call: sleep the rest through the fallback rather than spin.
            if (Marshal.GetLastPInvokeError() != Libc.EIntr)
            {
                return _stop.WaitHandle.WaitOne(TimeSpan.FromTicks(Math.Max(1, nanoseconds / 100)));
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Unregistering waits for a stop that is writing to the descriptor, so it is never closed under it.
        _registration.Dispose();
        if (_eventFd >= 0)
        {
            Libc.Close(_eventFd);
        }
    }
}
