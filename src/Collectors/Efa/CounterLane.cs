using System.Diagnostics;
using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Parsing;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Efa;

/// <summary>
/// The counters of one lane (the fast lane: every port counter, every tick; the slow lane: device
/// counters and lifespans), laid out for the tick: a p5 reads some 700 files every 100 ms, so what
/// the loop touches per counter (descriptor, state, slot, status) lies in one array of structs walked
/// in order, not behind three objects per counter, and a file is read by its raw descriptor, without
/// a reference count per read. Built from the <see cref="EfaCounter"/>s at each layout; their state is
/// handed back with <see cref="SaveState"/> before the next one.
/// </summary>
internal sealed class CounterLane
{
    private readonly EfaCounter[] _counters;
    private readonly Entry[] _entries;
    private readonly PeakWindow[] _peaks;
    private readonly int[] _peakSlots;
    private readonly int[] _peakCounters;

    /// <summary>Lays out <paramref name="counters"/>, taking up the state each one carries.</summary>
    public CounterLane(IReadOnlyList<EfaCounter> counters)
    {
        _counters = [.. counters];
        _entries = new Entry[_counters.Length];
        var peaks = new List<int>();
        for (var i = 0; i < _counters.Length; i++)
        {
            var c = _counters[i];
            _entries[i] = new Entry
            {
                State = c.State,
                LastTimestamp = c.LastTimestamp,
                MaxBytesPerSecond = c.MaxBytesPerSecond ?? double.PositiveInfinity,
                Descriptor = c.File?.Descriptor ?? -1,
                Slot = c.Slot,
                Peak = c.Peak is null ? -1 : peaks.Count,
                Status = c.Status,
                IsLifespan = c.IsLifespan,
            };
            if (c.Peak is not null)
            {
                peaks.Add(i);
            }
        }

        _peakCounters = [.. peaks];
        _peaks = [.. peaks.Select(i => _counters[i].Peak!)];
        _peakSlots = [.. peaks.Select(i => _counters[i].PeakSlot)];
    }

    /// <summary>A lane with no counters.</summary>
    public static CounterLane Empty { get; } = new([]);

    /// <summary>
    /// Reads every counter of the lane at <paramref name="timestamp"/> into <paramref name="values"/>,
    /// naming in <paramref name="unavailable"/> each one whose status changed. Returns true when a file
    /// that used to read has just failed: its device may have gone, so discovery should look now (one
    /// that keeps failing is retried on the discovery cadence, not by a walk of the tree every tick).
    /// </summary>
    public bool Read(long timestamp, double[] values, Span<byte> buffer, UnavailableSeries unavailable)
    {
        var newlyFailed = false;
        var entries = _entries;
        for (var i = 0; i < entries.Length; i++)
        {
            ref var e = ref entries[i];
            ulong raw = 0;
            var status = e.Descriptor < 0 ? CounterStatus.ReadError : CounterFile.Read(e.Descriptor, buffer, out raw);
            if (status == CounterStatus.Ok)
            {
                if (e.IsLifespan)
                {
                    values[e.Slot] = raw / 1000.0;
                }
                else if (e.State.TryUpdate(raw, e.MaxDelta(timestamp), out var delta))
                {
                    if (e.Peak >= 0)
                    {
                        _peaks[e.Peak].Add(timestamp, delta);
                    }

                    e.LastTimestamp = timestamp;
                    values[e.Slot] = e.State.Value;
                }
                else
                {
                    // Not folded in: the exported total stays where it was.
                    status = CounterStatus.Implausible;
                }
            }
            else
            {
                values[e.Slot] = double.NaN;
                newlyFailed |= status == CounterStatus.ReadError && e.Status != CounterStatus.ReadError;
            }

            if (status != e.Status)
            {
                var c = _counters[i];
                if (status == CounterStatus.Ok)
                {
                    unavailable.Clear(c.Device, c.Port, c.Name);
                }
                else
                {
                    unavailable.Set(c.Device, c.Port, c.Name, CounterParser.Describe(status), c.Path);
                }

                e.Status = status;
            }
        }

        return newlyFailed;
    }

    /// <summary>
    /// Writes each peak at <paramref name="timestamp"/>: absent with its counter, rather than a 0 that
    /// reads as "idle".
    /// </summary>
    public void WritePeaks(long timestamp, double[] values)
    {
        for (var k = 0; k < _peaks.Length; k++)
        {
            values[_peakSlots[k]] = _entries[_peakCounters[k]].Status == CounterStatus.Ok ? _peaks[k].Peak(timestamp) : double.NaN;
        }
    }

    /// <summary>Whether a counter's last read failed (what <see cref="ReopenFailed"/> would act on).</summary>
    public bool AnyFailed
    {
        get
        {
            foreach (ref readonly var e in _entries.AsSpan())
            {
                if (e.Status == CounterStatus.ReadError)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>
    /// Re-opens every counter whose last read failed, within <paramref name="budget"/> more open files;
    /// returns the budget left. A file that still cannot be opened stays unavailable.
    /// </summary>
    public long ReopenFailed(long budget)
    {
        for (var i = 0; i < _counters.Length; i++)
        {
            if (_entries[i].Status != CounterStatus.ReadError)
            {
                continue;
            }

            var c = _counters[i];
            if (c.File is not null)
            {
                c.File.Dispose();
                c.File = null;
                budget++;
            }

            if (budget > 0 && CounterFile.TryOpen(c.Path, out var file, out _))
            {
                c.File = file;
                budget--;
            }

            _entries[i].Descriptor = c.File?.Descriptor ?? -1;
        }

        return budget;
    }

    /// <summary>Hands each counter's state back to its <see cref="EfaCounter"/>, for the next layout.</summary>
    public void SaveState()
    {
        for (var i = 0; i < _counters.Length; i++)
        {
            var c = _counters[i];
            c.State = _entries[i].State;
            c.Status = _entries[i].Status;
            c.LastTimestamp = _entries[i].LastTimestamp;
        }
    }

    /// <summary>What the tick needs of one counter, in one place: one or two cache lines, not one per field.</summary>
    private struct Entry
    {
        public CounterState State;
        public long LastTimestamp;
        public double MaxBytesPerSecond;
        public int Descriptor;
        public int Slot;
        public int Peak;
        public CounterStatus Status;
        public bool IsLifespan;

        /// <summary>The largest increase plausible since the last accepted reading; no bound when the port rate is unknown.</summary>
        public readonly ulong MaxDelta(long timestamp)
        {
            if (double.IsPositiveInfinity(MaxBytesPerSecond) || LastTimestamp == 0)
            {
                return ulong.MaxValue;
            }

            // One second of slack covers the counter group's cache time and a late tick.
            var seconds = ((timestamp - LastTimestamp) / (double)Stopwatch.Frequency) + 1;
            var max = MaxBytesPerSecond * seconds;
            return max >= ulong.MaxValue ? ulong.MaxValue : (ulong)max;
        }
    }
}
