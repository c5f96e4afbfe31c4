namespace EfaAgent.Collectors.Gpu;

/// <summary>Where an Xid was seen.</summary>
internal enum XidSource
{
    /// <summary>NVML's event stream.</summary>
    Nvml,

    /// <summary>The kernel log's <c>NVRM: Xid</c> line.</summary>
    KernelLog,
}

/// <summary>
/// One GPU's recent Xids, so that an event both NVML and the kernel log report is counted once: the
/// same code from the other source within <see cref="Window"/> is the same event. Each report pairs
/// with at most one report of the other source, so two real events close together both count.
/// </summary>
internal sealed class XidDedup
{
    /// <summary>How far apart the two reports of one event may arrive (both are read on the agent's ticks).</summary>
    public const double Window = 10;

    private readonly Entry[] _recent = new Entry[32];
    private int _next;

    /// <summary>True when the report is a new event; false when it is the other source's report of one counted already.</summary>
    public bool IsNew(ulong xid, double unixSeconds, XidSource source)
    {
        for (var i = 0; i < _recent.Length; i++)
        {
            ref var e = ref _recent[i];
            if (e.Used && !e.Paired && e.Xid == xid && e.Source != source && Math.Abs(unixSeconds - e.At) <= Window)
            {
                e.Paired = true;
                return false;
            }
        }

        _recent[_next] = new Entry { Used = true, Xid = xid, At = unixSeconds, Source = source };
        _next = (_next + 1) % _recent.Length;
        return true;
    }

    private struct Entry
    {
        public bool Used;
        public bool Paired;
        public ulong Xid;
        public double At;
        public XidSource Source;
    }
}
