using EfaAgent.Collectors.Model;

namespace EfaAgent.Agent.Sampling;

/// <summary>
/// The latest finished frame of every source (each collector, and the agent's own metrics). The
/// sampler publishes each source's frame after reading the hardware, never while, and commits them
/// together at the end of the tick: a scrape copies out only committed frames, under the same short
/// lock, so it sees whole ticks, never touches hardware, and a slow device cannot stall <c>/metrics</c>.
/// The lock is held for a memory copy only (microseconds), never across I/O.
/// </summary>
public sealed class SnapshotStore
{
    private readonly Lock _lock = new();
    private readonly Entry[] _entries;
    private long _version;

    /// <summary>Creates a store for <paramref name="sources"/> sources.</summary>
    public SnapshotStore(int sources)
    {
        _entries = new Entry[sources];
        for (var i = 0; i < sources; i++)
        {
            _entries[i] = new Entry();
        }
    }

    /// <summary>The number of sources.</summary>
    public int Count => _entries.Length;

    /// <summary>
    /// Changes on every <see cref="Commit"/>, once a tick: whatever was rendered from the store while
    /// it had this value can be served again until it changes.
    /// </summary>
    public long Version => Volatile.Read(ref _version);

    /// <summary>
    /// Stages a finished frame for the next <see cref="Commit"/>; allocates only when the frame's size
    /// changed. Only the sampling thread publishes and commits.
    /// </summary>
    public void Publish(int source, Frame frame)
    {
        var values = frame.Values.Span;
        var e = _entries[source];
        if (e.Pending.Length != values.Length)
        {
            e.Pending = new double[values.Length];
        }

        values.CopyTo(e.Pending);
        e.PendingLayout = frame.Layout;
        e.HasPending = true;
    }

    /// <summary>Makes the frames published since the last commit the ones scrapes see, all at once.</summary>
    public void Commit()
    {
        lock (_lock)
        {
            foreach (var e in _entries)
            {
                if (e.HasPending)
                {
                    (e.Values, e.Pending) = (e.Pending, e.Values);
                    e.Layout = e.PendingLayout;
                    e.HasPending = false;
                }
            }

            Volatile.Write(ref _version, _version + 1);
        }
    }

    /// <summary>
    /// Copies a source's latest frame into the caller's buffer (grown when too small); returns the
    /// layout, whose <see cref="Layout.Count"/> says how many values were copied.
    /// </summary>
    public Layout CopyTo(int source, ref double[] values)
    {
        lock (_lock)
        {
            var e = _entries[source];
            if (values.Length < e.Values.Length)
            {
                values = new double[e.Values.Length];
            }

            e.Values.CopyTo(values, 0);
            return e.Layout;
        }
    }

    private sealed class Entry
    {
        public Layout Layout { get; set; } = Layout.Empty;

        public double[] Values { get; set; } = [];

        public Layout PendingLayout { get; set; } = Layout.Empty;

        public double[] Pending { get; set; } = [];

        public bool HasPending { get; set; }
    }
}
