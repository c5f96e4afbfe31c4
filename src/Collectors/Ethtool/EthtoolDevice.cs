namespace EfaAgent.Collectors.Ethtool;

/// <summary>
/// One interface's ethtool conversation over reused buffers: <see cref="LoadTable"/> asks for the
/// driver info, the statistics count (<c>ETHTOOL_GSSET_INFO</c>) and the names
/// (<c>ETHTOOL_GSTRINGS</c>); <see cref="ReadStats"/> asks only for the values (<c>ETHTOOL_GSTATS</c>)
/// and allocates nothing. A failure is a reason (the <c>efa_agent_unavailable</c> reason), never an
/// exception.
/// </summary>
public sealed class EthtoolDevice(string name)
{
    private byte[] _buffer = new byte[EthtoolAbi.DriverInfoSize];

    /// <summary>The interface name.</summary>
    public string Name { get; } = name;

    /// <summary>The driver's identity, once <c>ETHTOOL_GDRVINFO</c> answered.</summary>
    public EthtoolDriverInfo? Info { get; private set; }

    /// <summary>The statistics' names, in the driver's order; empty when it has none or they are unknown.</summary>
    public IReadOnlyList<string> StatNames { get; private set; } = [];

    /// <summary>The last values read, one per name.</summary>
    public ulong[] Values { get; private set; } = [];

    /// <summary>
    /// Reads the driver info and the statistics table. Returns null when both answered, else the
    /// reason: the driver info stays known when only the statistics failed.
    /// </summary>
    public string? LoadTable(IEthtool ethtool)
    {
        Info = null;
        StatNames = [];
        Values = [];
        EthtoolAbi.WriteDriverInfoRequest(_buffer);
        var errno = ethtool.Request(Name, _buffer);
        if (errno != 0)
        {
            return EthtoolErrno.Reason(errno);
        }

        if (EthtoolAbi.ParseDriverInfo(_buffer, out var info) != EthtoolAnswer.Ok)
        {
            return "malformed";
        }

        Info = info;
        EthtoolAbi.WriteStringSetInfoRequest(_buffer);
        errno = ethtool.Request(Name, _buffer);
        if (errno != 0)
        {
            return EthtoolErrno.Reason(errno);
        }

        if (EthtoolAbi.ParseStringSetInfo(_buffer, out var count) != EthtoolAnswer.Ok)
        {
            return "malformed";
        }

        if (count is null or 0)
        {
            return "not_supported"; // a driver without statistics
        }

        // The kernel writes as many entries as the driver has at the time of the call, whatever the
        // request says: room for twice the count announced keeps a driver that grew in between
        // inside the buffer, where the answer's count shows the mismatch.
        var room = (int)Math.Min(count.Value, 1 << 16) * 2 + 16;
        _buffer = new byte[Math.Max(EthtoolAbi.StringsSize(room), EthtoolAbi.DriverInfoSize)];
        EthtoolAbi.WriteStringsRequest(_buffer, count.Value);
        errno = ethtool.Request(Name, _buffer);
        if (errno != 0)
        {
            return EthtoolErrno.Reason(errno);
        }

        var answer = EthtoolAbi.ParseStrings(_buffer, count.Value, out var names);
        if (answer != EthtoolAnswer.Ok)
        {
            return Describe(answer);
        }

        StatNames = names;
        Values = new ulong[names.Length];
        return null;
    }

    /// <summary>Reads the values into <see cref="Values"/>; returns null, or the reason they could not be read.</summary>
    public string? ReadStats(IEthtool ethtool)
    {
        if (Values.Length == 0)
        {
            return "not_supported";
        }

        EthtoolAbi.WriteStatsRequest(_buffer, (uint)Values.Length);
        var errno = ethtool.Request(Name, _buffer);
        if (errno != 0)
        {
            return EthtoolErrno.Reason(errno);
        }

        var answer = EthtoolAbi.ParseStats(_buffer, Values);
        return answer == EthtoolAnswer.Ok ? null : Describe(answer);
    }

    /// <summary>The reason for an unusable answer: <c>count_mismatch</c> or <c>malformed</c>.</summary>
    public static string Describe(EthtoolAnswer answer) => answer == EthtoolAnswer.CountMismatch ? "count_mismatch" : "malformed";
}
