using System.Text.RegularExpressions;
using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Model;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Ethtool;

/// <summary>Settings of the ethtool collector.</summary>
/// <param name="SysfsRoot">The sysfs mount: interfaces are the entries of <c>class/net/</c>.</param>
/// <param name="DeviceInclude">Only interfaces whose whole name matches are read; null for all (the netdev filters).</param>
/// <param name="DeviceExclude">Interfaces whose whole name matches are not read; null for none.</param>
/// <param name="All">Export every statistic of every interface by the naming rule (<c>--collector.ethtool.all</c>).</param>
public sealed record EthtoolCollectorOptions(string SysfsRoot, Regex? DeviceInclude, Regex? DeviceExclude, bool All);

/// <summary>
/// Asks each admitted interface's driver, through the <c>SIOCETHTOOL</c> ioctl, who it is and what
/// its statistics are: an <c>ethtool_info</c> series per interface, the ENA allowance counters of
/// every <c>ena</c> interface and, with <see cref="EthtoolCollectorOptions.All"/>, every statistic.
/// <para>
/// Everything runs on the slow lane, in <see cref="Discover"/>: the ENA driver fetches these values
/// from the device with an admin command, so they are not read every tick. The statistics' names
/// are read when an interface appears (or after an inconsistent answer), only the values after that.
/// </para>
/// </summary>
public sealed class EthtoolCollector : ICollector
{
    /// <summary>The collector name.</summary>
    public const string CollectorName = "ethtool";

    private readonly EthtoolCollectorOptions _options;
    private readonly Func<IEthtool> _open;
    private readonly ILogger _logger;
    private readonly UnavailableSeries _unavailable;
    private readonly FrameState _frame = new();
    private readonly Dictionary<string, MetricFamily> _allFamilies = new(StringComparer.Ordinal);
    private Dictionary<string, Iface> _ifaces = new(StringComparer.Ordinal);
    private IEthtool? _ethtool;

    /// <summary>Creates the collector; <paramref name="open"/> gives the ethtool channel, opened at the first discovery.</summary>
    public EthtoolCollector(EthtoolCollectorOptions options, Func<IEthtool> open, ILogger logger)
    {
        _options = options;
        _open = open;
        _logger = logger;
        _unavailable = new UnavailableSeries(CollectorName, logger);
    }

    /// <inheritdoc />
    public string Name => CollectorName;

    /// <inheritdoc />
    public bool NeedsDiscovery => false;

    /// <inheritdoc />
    public Frame Frame => _frame.Frame;

    /// <inheritdoc />
    public int DeviceCount { get; private set; }

    /// <inheritdoc />
    public void Discover()
    {
        var ethtool = _ethtool ??= _open();
        var names = Interfaces();
        var relayout = names.Count != _ifaces.Count || names.Any(n => !_ifaces.ContainsKey(n));
        var ifaces = new Dictionary<string, Iface>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (!_ifaces.TryGetValue(name, out var iface))
            {
                iface = new Iface(new EthtoolDevice(name));
            }

            if (iface.NeedsTable)
            {
                relayout |= LoadTable(iface, ethtool);
            }

            ifaces[name] = iface;
        }

        foreach (var gone in _ifaces.Keys.Where(n => !ifaces.ContainsKey(n)))
        {
            _logger.LogInformation("interface {Device} went away", gone);
        }

        _unavailable.RemoveWhere((d, _, _) => !ifaces.ContainsKey(d));
        _ifaces = ifaces;
        if (relayout)
        {
            Relayout();
        }

        foreach (var iface in _ifaces.Values)
        {
            Read(iface, ethtool);
        }

        DeviceCount = _ifaces.Values.Count(i => i.Device.Info is not null);

        _frame.SyncUnavailable(_unavailable);
    }

    /// <summary>Nothing on the fast lane: the frame of the last discovery stays published.</summary>
    public void Sample(long timestamp)
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _ethtool?.Dispose();
        _ethtool = null;
    }

    private List<string> Interfaces()
    {
        var dir = Path.Combine(_options.SysfsRoot, "class", "net");
        if (!Directory.Exists(dir))
        {
            return [];
        }

        return Directory.EnumerateFileSystemEntries(dir)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(Included)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private bool Included(string name) =>
        (_options.DeviceInclude is null || _options.DeviceInclude.IsMatch(name))
        && (_options.DeviceExclude is null || !_options.DeviceExclude.IsMatch(name));

    /// <summary>Reads an interface's table; returns whether what it exports changed.</summary>
    private bool LoadTable(Iface iface, IEthtool ethtool)
    {
        var device = iface.Device;
        var (before, names) = (device.Info, device.StatNames);
        var reason = device.LoadTable(ethtool);

        // A driver without ethtool support or without statistics will not grow them: asked again
        // only if the interface comes back. Any other failure is retried on the next discovery.
        iface.NeedsTable = reason is not null and not "not_supported";
        var changed = device.Info != before || !device.StatNames.SequenceEqual(names, StringComparer.Ordinal);
        iface.Ena = [];
        if (reason is null)
        {
            _unavailable.Clear(device.Name, "", "*");
        }
        else
        {
            _unavailable.Set(device.Name, "", "*", reason, "SIOCETHTOOL " + (device.Info is null ? "ETHTOOL_GDRVINFO" : "ETHTOOL_GSSET_INFO/ETHTOOL_GSTRINGS"));
        }

        if (device.Info is { } info && iface.Logged != info)
        {
            _logger.LogInformation("interface {Device}: driver {Driver} {Version}, bus {Bus}, {Count} statistics", device.Name, info.Driver, info.Version, info.BusInfo, device.StatNames.Count);
            iface.Logged = info;
        }

        if (device.Info?.Driver != EthtoolNames.EnaDriver || device.StatNames.Count == 0)
        {
            return changed;
        }

        var ena = new List<EnaStat>();
        foreach (var (stat, family) in EthtoolNames.Ena)
        {
            var index = IndexOf(device.StatNames, stat);
            if (index < 0)
            {
                _unavailable.Set(device.Name, "", stat, "not_available", "not among the driver's statistics (an older ENA driver)");
            }
            else
            {
                _unavailable.Clear(device.Name, "", stat);
                var old = iface.EnaByStat(stat);
                ena.Add(new EnaStat(stat, family, index) { State = old?.State ?? default });
            }
        }

        iface.Ena = [.. ena];
        return true; // new counter objects: new slots
    }

    private static int IndexOf(IReadOnlyList<string> names, string stat)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] == stat)
            {
                return i;
            }
        }

        return -1;
    }

    private void Relayout()
    {
        var b = new LayoutBuilder();
        foreach (var iface in _ifaces.Values)
        {
            var device = iface.Device;
            iface.InfoSlot = device.Info is { } info
                ? b.Add(EthtoolNames.Info, device.Name, info.Driver, info.Version, info.FirmwareVersion, info.BusInfo)
                : -1;
            foreach (var stat in iface.Ena)
            {
                stat.Slot = b.Add(stat.Family, device.Name);
            }

            iface.AllSlots = _options.All ? AllSlots(b, device) : [];
        }

        _frame.SetBase(b, _unavailable);
    }

    private int[] AllSlots(LayoutBuilder b, EthtoolDevice device)
    {
        var slots = new int[device.StatNames.Count];
        var taken = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < slots.Length; i++)
        {
            var stat = device.StatNames[i];
            var metric = EthtoolNames.MetricName(stat);
            if (!taken.TryAdd(metric, stat))
            {
                // Two statistics of one interface with one metric name ("rx-bytes" and "rx_bytes").
                slots[i] = -1;
                _unavailable.Set(device.Name, "", stat, "duplicate_name", $"{metric} is already statistic \"{taken[metric]}\"");
                continue;
            }

            if (!_allFamilies.TryGetValue(metric, out var family))
            {
                family = EthtoolNames.AllFamily(metric);
                _allFamilies[metric] = family;
            }

            slots[i] = b.Add(family, device.Name);
        }

        return slots;
    }

    private void Read(Iface iface, IEthtool ethtool)
    {
        var values = _frame.Values;
        if (iface.InfoSlot >= 0)
        {
            values[iface.InfoSlot] = 1;
        }

        var device = iface.Device;
        if (iface.NeedsTable || device.Values.Length == 0)
        {
            return;
        }

        var reason = device.ReadStats(ethtool);
        if (reason is not null)
        {
            _unavailable.Set(device.Name, "", "*", reason, "SIOCETHTOOL ETHTOOL_GSTATS");
            foreach (var stat in iface.Ena)
            {
                values[stat.Slot] = double.NaN;
            }

            foreach (var slot in iface.AllSlots.Where(s => s >= 0))
            {
                values[slot] = double.NaN;
            }

            // A driver whose count changed has a new table: read it again on the next discovery.
            iface.NeedsTable = true;
            return;
        }

        _unavailable.Clear(device.Name, "", "*");
        var raw = device.Values;
        foreach (var stat in iface.Ena)
        {
            if (stat.Family.Type == MetricType.Counter)
            {
                stat.State.Update(raw[stat.Index]);
                values[stat.Slot] = stat.State.Value;
            }
            else
            {
                values[stat.Slot] = raw[stat.Index];
            }
        }

        for (var i = 0; i < iface.AllSlots.Length; i++)
        {
            if (iface.AllSlots[i] >= 0)
            {
                values[iface.AllSlots[i]] = raw[i];
            }
        }
    }

    private sealed class Iface(EthtoolDevice device)
    {
        public EthtoolDevice Device { get; } = device;

        public bool NeedsTable { get; set; } = true;

        public EthtoolDriverInfo? Logged { get; set; }

        public EnaStat[] Ena { get; set; } = [];

        public int InfoSlot { get; set; } = -1;

        public int[] AllSlots { get; set; } = [];

        public EnaStat? EnaByStat(string stat) => Ena.FirstOrDefault(e => e.Stat == stat);
    }

    private sealed class EnaStat(string stat, MetricFamily family, int index)
    {
        public string Stat { get; } = stat;

        public MetricFamily Family { get; } = family;

        public int Index { get; } = index;

        public int Slot { get; set; }

#pragma warning disable SA1401 // updated in place
        public CounterState State;
#pragma warning restore SA1401
    }
}
