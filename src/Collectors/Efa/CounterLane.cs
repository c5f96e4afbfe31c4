using System.Diagnostics;
using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Parsing;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Efa;

/// <summary>
/// The counters of one lane (the fast lane: every port counter, every tick; the slow lane: device
/// counters and lifespans), laid out for the tick: a p5 reads some 700 files every 100 ms. A tick
/// first reads and parses every file (by its raw descriptor, without a reference count per read,
/// from one array of descriptors), then derives from the values: what it touches per counter (state,
/// slot, status, peak) lies in one array of structs walked in order, not behind three objects per
/// counter, and is not evicted by the kernel's work between two reads. Built from the
/// <see cref="EfaCounter"/>s at each layout; their state is handed back with <see cref="SaveState"/>
/// before the next one.
/// </summary>
internal sealed class CounterLane
{
    private readonly EfaCounter[] _counters;
    private readonly Entry[] _entries;
    private readonly int[] _descriptors;
    private readonly CounterStatus[] _read;
    private readonly ulong[] _raw;

    /// <summary>Lays out <paramref name="counters"/>, taking up the state each one carries.</summary>
    public CounterLane(IReadOnlyList<EfaCounter> counters)
    {
        _counters = [.. counters];
        _entries = new Entry[_counters.Length];
        _descriptors = new int[_counters.Length];
        _read = new CounterStatus[_counters.Length];
        _raw = new ulong[_counters.Length];
        for (var i = 0; i < _counters.Length; i++)
        {
            var c = _counters[i];
            _entries[i] = new Entry
            {
                State = c.State,
                LastTimestamp = c.LastTimestamp,
                MaxBytesPerSecond = c.MaxBytesPerSecond ?? double.PositiveInfinity,
                Slot = c.Slot,
                Peak = c.Peak,
                PeakSlot = c.PeakSlot,
                Status = c.Status,
                IsLifespan = c.IsLifespan,
            };
            _descriptors[i] = c.File?.Descriptor ?? -1;
        }
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
        CounterFile.ReadAll(_descriptors, buffer, _read, _raw);
        var newlyFailed = false;
        var entries = _entries;
        var read = _read;
        var rawValues = _raw;
        for (var i = 0; i < entries.Length; i++)
        {
            ref var e = ref entries[i];
            var status = read[i];
            var raw = rawValues[i];
            if (status == CounterStatus.Ok)
            {
                if (e.IsLifespan)
                {
                    values[e.Slot] = raw / 1000.0;
                }
                else if (e.State.TryUpdate(raw, e.MaxDelta(timestamp), out var delta))
                {
                    if (e.Peak is { } peak)
                    {
                        values[e.PeakSlot] = peak.Add(timestamp, delta);
                    }

                    e.LastTimestamp = timestamp;
                    values[e.Slot] = e.State.Value;
                }
                else
                {
                    // Not folded in: the exported total stays where it was, and its peak is absent.
                    status = CounterStatus.Implausible;
                    WritePeakAbsent(in e, values);
                }
            }
            else
            {
                values[e.Slot] = double.NaN;
                WritePeakAbsent(in e, values);
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

    /// <summary>A peak is absent with its counter, rather than a 0 that reads as "idle".</summary>
    private static void WritePeakAbsent(in Entry e, double[] values)
    {
        if (e.Peak is not null)
        {
            values[e.PeakSlot] = double.NaN;
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

            _descriptors[i] = c.File?.Descriptor ?? -1;
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
        private static readonly double SecondsPerTimestamp = 1.0 / Stopwatch.Frequency;

        public CounterState State;
        public long LastTimestamp;
        public double MaxBytesPerSecond;
        public int Slot;
        public PeakWindow? Peak;
        public int PeakSlot;
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
            var seconds = ((timestamp - LastTimestamp) * SecondsPerTimestamp) + 1;
            var max = MaxBytesPerSecond * seconds;
            return max >= ulong.MaxValue ? ulong.MaxValue : (ulong)max;
        }
    }
}
