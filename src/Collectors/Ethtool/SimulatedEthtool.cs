using System.Buffers.Binary;

namespace EfaAgent.Collectors.Ethtool;

/// <summary>
/// An <see cref="IEthtool"/> that answers like the kernel and a driver do (net/ethtool/ioctl.c):
/// <c>ENODEV</c> for an interface it does not have, <c>EOPNOTSUPP</c> for one without ethtool
/// operations (<c>lo</c>), the string-set bit cleared for a driver without statistics, and
/// <c>len</c>/<c>n_stats</c> set to the driver's count at the time of the call, whatever was asked.
/// The demo's simulated ENA interfaces and the collector's tests use it. Thread-safe: values may be
/// changed while the collector reads.
/// </summary>
public sealed class SimulatedEthtool : IEthtool
{
    private static readonly string[] EnaTxQueueStats = ["cnt", "bytes", "queue_stop", "queue_wakeup", "dma_mapping_err", "unmask_interrupt"];
    private static readonly string[] EnaRxQueueStats = ["cnt", "bytes", "refil_partial", "csum_bad", "page_alloc_fail", "bad_req_id"];
    private static readonly string[] EnaAdminStats = ["aborted_cmd", "submitted_cmd", "completed_cmd", "out_of_space", "no_completion"];

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Driver> _interfaces = new(StringComparer.Ordinal);

    /// <summary>The statistics of a simulated ENA interface: the driver's global, ENI (allowance) and per-queue statistics.</summary>
    public static IReadOnlyList<string> EnaStats(int queues)
    {
        var names = new List<string> { "tx_timeout", "suspend", "resume", "wd_expired", "interface_up", "interface_down", "admin_q_pause" };
        names.AddRange(EthtoolNames.Ena.Select(e => e.Stat));
        for (var q = 0; q < queues; q++)
        {
            names.AddRange(EnaTxQueueStats.Select(s => $"queue_{q}_tx_{s}"));
            names.AddRange(EnaRxQueueStats.Select(s => $"queue_{q}_rx_{s}"));
        }

        names.AddRange(EnaAdminStats.Select(s => $"ena_admin_q_{s}"));
        return names;
    }

    /// <summary>Adds an interface whose driver answers <c>ETHTOOL_GDRVINFO</c> with <paramref name="info"/> and has <paramref name="stats"/>.</summary>
    public void Add(string device, EthtoolDriverInfo info, IReadOnlyList<string> stats)
    {
        lock (_lock)
        {
            _interfaces[device] = new Driver(info, [.. stats]);
        }
    }

    /// <summary>Adds a simulated ENA interface at PCI address <paramref name="bus"/>.</summary>
    public void AddEna(string device, string bus, int queues = 8) =>
        Add(device, new EthtoolDriverInfo(EthtoolNames.EnaDriver, "2.13.0g", "", bus, 0), EnaStats(queues));

    /// <summary>Adds an interface without ethtool operations (the loopback).</summary>
    public void AddWithoutEthtool(string device)
    {
        lock (_lock)
        {
            _interfaces[device] = new Driver(null, []);
        }
    }

    /// <summary>Removes an interface: later requests fail with <c>ENODEV</c>.</summary>
    public void Remove(string device)
    {
        lock (_lock)
        {
            _interfaces.Remove(device);
        }
    }

    /// <summary>Makes every request for <paramref name="device"/> fail with <paramref name="errno"/> (0 to stop).</summary>
    public void Fail(string device, int errno)
    {
        lock (_lock)
        {
            _interfaces[device].Errno = errno;
        }
    }

    /// <summary>Replaces the driver's statistics (a queue count changed): the next answers carry the new count.</summary>
    public void SetStats(string device, IReadOnlyList<string> stats)
    {
        lock (_lock)
        {
            var d = _interfaces[device];
            _interfaces[device] = new Driver(d.Info, [.. stats]);
        }
    }

    /// <summary>Adds <paramref name="delta"/> to a statistic.</summary>
    public void Add(string device, string stat, ulong delta)
    {
        lock (_lock)
        {
            var d = _interfaces[device];
            d.Values[Array.IndexOf(d.Stats, stat)] += delta;
        }
    }

    /// <summary>Sets a statistic.</summary>
    public void Set(string device, string stat, ulong value)
    {
        lock (_lock)
        {
            var d = _interfaces[device];
            d.Values[Array.IndexOf(d.Stats, stat)] = value;
        }
    }

    /// <inheritdoc />
    public int Request(string device, Span<byte> buffer)
    {
        lock (_lock)
        {
            if (!_interfaces.TryGetValue(device, out var d))
            {
                return EthtoolErrno.NoDevice;
            }

            if (d.Errno != 0)
            {
                return d.Errno;
            }

            if (d.Info is null)
            {
                return EthtoolErrno.NotSupported;
            }

            return EthtoolAbi.Command(buffer) switch
            {
                EthtoolAbi.GetDriverInfo => DriverInfo(d, buffer),
                EthtoolAbi.GetStringSetInfo => StringSetInfo(d, buffer),
                EthtoolAbi.GetStrings => Strings(d, buffer),
                EthtoolAbi.GetStats => Stats(d, buffer),
                _ => EthtoolErrno.NotSupported,
            };
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private static int DriverInfo(Driver d, Span<byte> buffer)
    {
        var info = d.Info!;
        var at = EthtoolAbi.DriverInfoOffsets;
        buffer[..EthtoolAbi.DriverInfoSize].Clear();
        EthtoolAbi.WriteU32(buffer, 0, EthtoolAbi.GetDriverInfo);
        EthtoolAbi.WriteText(buffer.Slice(at.Driver, 32), info.Driver);
        EthtoolAbi.WriteText(buffer.Slice(at.Version, 32), info.Version);
        EthtoolAbi.WriteText(buffer.Slice(at.Firmware, 32), info.FirmwareVersion);
        EthtoolAbi.WriteText(buffer.Slice(at.BusInfo, 32), info.BusInfo);
        EthtoolAbi.WriteU32(buffer, at.NStats, (uint)d.Stats.Length);
        return 0;
    }

    private static int StringSetInfo(Driver d, Span<byte> buffer)
    {
        var asked = BinaryPrimitives.ReadUInt64LittleEndian(buffer[8..]);
        buffer[..EthtoolAbi.StringSetInfoHeader].Clear();
        EthtoolAbi.WriteU32(buffer, 0, EthtoolAbi.GetStringSetInfo);
        if ((asked & (1UL << (int)EthtoolAbi.StatsStringSet)) != 0 && d.Stats.Length > 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(buffer[8..], 1UL << (int)EthtoolAbi.StatsStringSet);
            EthtoolAbi.WriteU32(buffer, EthtoolAbi.StringSetInfoHeader, (uint)d.Stats.Length);
        }

        return 0;
    }

    private static int Strings(Driver d, Span<byte> buffer)
    {
        if (EthtoolAbi.ReadU32(buffer, 4) != EthtoolAbi.StatsStringSet || d.Stats.Length == 0)
        {
            return EthtoolErrno.NotSupported;
        }

        // Like the kernel, the answer has the driver's count, not the caller's: a caller whose buffer
        // is too small would be overrun. Here that is a bug in the caller, so it throws.
        var size = EthtoolAbi.StringsSize(d.Stats.Length);
        if (buffer.Length < size)
        {
            throw new InvalidOperationException($"ETHTOOL_GSTRINGS buffer of {buffer.Length} bytes would be overrun by {size}");
        }

        EthtoolAbi.WriteU32(buffer, 8, (uint)d.Stats.Length);
        for (var i = 0; i < d.Stats.Length; i++)
        {
            EthtoolAbi.WriteText(buffer.Slice(EthtoolAbi.StringsHeader + (i * EthtoolAbi.StringLength), EthtoolAbi.StringLength), d.Stats[i]);
        }

        return 0;
    }

    private static int Stats(Driver d, Span<byte> buffer)
    {
        var size = EthtoolAbi.StatsSize(d.Stats.Length);
        if (buffer.Length < size)
        {
            throw new InvalidOperationException($"ETHTOOL_GSTATS buffer of {buffer.Length} bytes would be overrun by {size}");
        }

        EthtoolAbi.WriteU32(buffer, 4, (uint)d.Stats.Length);
        for (var i = 0; i < d.Values.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(buffer[(EthtoolAbi.StatsHeader + (8 * i))..], d.Values[i]);
        }

        return 0;
    }

    private sealed class Driver(EthtoolDriverInfo? info, string[] stats)
    {
        public EthtoolDriverInfo? Info { get; } = info;

        public string[] Stats { get; } = stats;

        public ulong[] Values { get; } = new ulong[stats.Length];

        public int Errno { get; set; }
    }
}
