using System.Diagnostics;

namespace EfaAgent.Collectors.Derive;

/// <summary>
/// The highest per-tick rate seen over a trailing window, so that a 15 s scrape still sees a 200 ms
/// burst that an average over the scrape interval would flatten. A fixed ring of (time, rate) pairs
/// sized for the window at the sampling interval: no allocation per tick.
/// <para>
/// The ring holds only the samples that can still be a peak (a monotonic queue): a sample is dropped
/// once a later one is at least as high, or once it left the window, so the oldest sample kept is
/// the peak and a tick costs O(1) amortised, not a scan of the whole window. A sample's time and
/// rate lie side by side in one array: a tick touches one or two cache lines per window, not four.
/// </para>
/// </summary>
public sealed class PeakWindow
{
    private readonly Sample[] _samples;
    private readonly long _windowTicks;
    private int _head;
    private int _count;
    private long _lastTimestamp;
    private bool _primed;

    /// <summary>Creates a window of <paramref name="window"/> for samples about every <paramref name="interval"/>.</summary>
    public PeakWindow(TimeSpan window, TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        var capacity = (int)Math.Min(100_000, Math.Ceiling(window / interval) + 2);
        _samples = new Sample[capacity];
        _windowTicks = (long)(window.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>
    /// Adds the increase of a counter since the previous tick, measured at <paramref name="timestamp"/>
    /// (a <see cref="Stopwatch"/> timestamp); the first call only sets the starting time. Returns the
    /// peak at <paramref name="timestamp"/>, as <see cref="Peak"/> would.
    /// </summary>
    public double Add(long timestamp, ulong delta)
    {
        if (!_primed)
        {
            _primed = true;
            _lastTimestamp = timestamp;
            return Peak(timestamp);
        }

        var elapsed = timestamp - _lastTimestamp;
        if (elapsed <= 0)
        {
            return Peak(timestamp);
        }

        _lastTimestamp = timestamp;
        var rate = delta * (double)Stopwatch.Frequency / elapsed;

        var samples = _samples;

        // Samples no higher than this one can never be the peak again while it is in the window.
        while (_count > 0 && samples[Slot(_count - 1)].Rate <= rate)
        {
            _count--;
        }

        // Only the last `capacity` samples count, as in a plain ring; and what left the window is gone.
        var oldest = timestamp - _windowTicks;
        while (_count > 0 && (_count == samples.Length || samples[_head].Time < oldest))
        {
            _head = Slot(1);
            _count--;
        }

        samples[Slot(_count)] = new Sample(timestamp, rate);
        _count++;

        // Everything older than the window is gone and rates fall from head to tail: the head is the peak.
        return samples[_head].Rate;
    }

    /// <summary>The highest rate (per second) over the window ending at <paramref name="now"/>; 0 when none.</summary>
    public double Peak(long now)
    {
        // Rates fall from head to tail, so the first sample still in the window is the highest.
        var oldest = now - _windowTicks;
        for (var i = 0; i < _count; i++)
        {
            ref readonly var sample = ref _samples[Slot(i)];
            if (sample.Time >= oldest)
            {
                return sample.Rate;
            }
        }

        return 0.0;
    }

    private int Slot(int offset)
    {
        var k = _head + offset;
        return k >= _samples.Length ? k - _samples.Length : k;
    }

    private readonly record struct Sample(long Time, double Rate);
}
