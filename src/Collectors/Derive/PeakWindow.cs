using System.Diagnostics;

namespace EfaAgent.Collectors.Derive;

/// <summary>
/// The highest per-tick rate seen over a trailing window, so that a 15 s scrape still sees a 200 ms
/// burst that an average over the scrape interval would flatten. A fixed ring of (time, rate) pairs
/// sized for the window at the sampling interval: no allocation per tick.
/// </summary>
public sealed class PeakWindow
{
    private readonly long[] _times;
    private readonly double[] _rates;
    private readonly long _windowTicks;
    private int _next;
    private int _count;
    private long _lastTimestamp;
    private bool _primed;

    /// <summary>Creates a window of <paramref name="window"/> for samples about every <paramref name="interval"/>.</summary>
    public PeakWindow(TimeSpan window, TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        var capacity = (int)Math.Min(100_000, Math.Ceiling(window / interval) + 2);
        _times = new long[capacity];
        _rates = new double[capacity];
        _windowTicks = (long)(window.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>
    /// Adds the increase of a counter since the previous tick, measured at <paramref name="timestamp"/>
    /// (a <see cref="Stopwatch"/> timestamp); the first call only sets the starting time.
    /// </summary>
    public void Add(long timestamp, ulong delta)
    {
        if (!_primed)
        {
            _primed = true;
            _lastTimestamp = timestamp;
            return;
        }

        var elapsed = timestamp - _lastTimestamp;
        if (elapsed <= 0)
        {
            return;
        }

        _lastTimestamp = timestamp;
        _times[_next] = timestamp;
        _rates[_next] = delta * (double)Stopwatch.Frequency / elapsed;
        _next = (_next + 1) % _times.Length;
        _count = Math.Min(_count + 1, _times.Length);
    }

    /// <summary>The highest rate (per second) over the window ending at <paramref name="now"/>; 0 when none.</summary>
    public double Peak(long now)
    {
        var peak = 0.0;
        var oldest = now - _windowTicks;
        for (var i = 0; i < _count; i++)
        {
            if (_times[i] >= oldest && _rates[i] > peak)
            {
                peak = _rates[i];
            }
        }

        return peak;
    }
}
