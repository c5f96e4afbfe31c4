using System.Diagnostics;
using System.Text;
using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Parsing;
using EfaAgent.Collectors.Sysfs;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Efa;

/// <summary>Settings of the EFA collector.</summary>
/// <param name="SysfsRoot">The sysfs mount (<c>/sys</c>, or a fixture tree).</param>
/// <param name="SampleInterval">The fast-lane interval, used to size the peak windows.</param>
/// <param name="BurstWindow">How far back the peak throughput looks.</param>
public sealed record EfaCollectorOptions(string SysfsRoot, TimeSpan SampleInterval, TimeSpan BurstWindow);

/// <summary>
/// Exports every hardware counter of every RDMA device under <c>&lt;sysfs&gt;/class/infiniband/</c>:
/// EFA devices as <c>efa_*</c>, others (mlx5, ...) generically as <c>rdma_*</c>, plus an info series per
/// port and the peak transmit/receive throughput over a trailing window.
/// <para>
/// Port counters are the fast lane: every tick. Device-level counters (admin-queue statistics, a
/// separate counter group whose refresh costs its own admin commands) and the <c>lifespan</c> files
/// are read on the slow lane, in <see cref="Discover"/>.
/// </para>
/// </summary>
public sealed class EfaCollector : ICollector
{
    /// <summary>The collector name.</summary>
    public const string CollectorName = "efa";

    private static readonly MetricFamily DeviceInfo = new(
        "rdma_device_info",
        "One series per RDMA device port: efa=\"true\" for an Elastic Fabric Adapter; gid is ports/<port>/gids/0 (the EFA address), mac is derived from it, netdev is the ENA interface with that MAC (empty for an EFA-only interface).",
        MetricType.Gauge,
        "device", "port", "driver", "efa", "pci_address", "numa_node", "rate", "gid", "mac", "netdev");

    private static readonly MetricFamily PortRate = new(
        "rdma_port_rate_bytes_per_second", "Link rate of the port from ports/<port>/rate, in bytes per second.",
        MetricType.Gauge, "device", "port");

    private static readonly MetricFamily PortLifespan = new(
        "rdma_port_hw_counters_lifespan_seconds", "Cache time of the port counter group (ports/<port>/hw_counters/lifespan): a read refreshes the group from the device only when the cache is older.",
        MetricType.Gauge, "device", "port");

    private static readonly MetricFamily DeviceLifespan = new(
        "rdma_device_hw_counters_lifespan_seconds", "Cache time of the device counter group (hw_counters/lifespan).",
        MetricType.Gauge, "device");

    private static readonly MetricFamily NodeInfo = new(
        "efa_node_info", "The EC2 instance type read from DMI (devices/virtual/dmi/id/product_name).",
        MetricType.Gauge, "instance_type");

    private static readonly MetricFamily EfaDevices = new(
        "efa_devices", "Number of EFA devices found.", MetricType.Gauge);

    private static readonly MetricFamily EfaDevicesExpected = new(
        "efa_devices_expected", "Number of EFA devices this instance type has (absent for an instance type the agent does not know).",
        MetricType.Gauge, "instance_type");

    private static readonly Dictionary<string, int> ExpectedEfaByInstanceType = new(StringComparer.Ordinal)
    {
        ["p4d.24xlarge"] = 4,
        ["p4de.24xlarge"] = 4,
        ["p5.48xlarge"] = 32,
        ["p5e.48xlarge"] = 32,
        ["p5en.48xlarge"] = 16,
        ["trn1.32xlarge"] = 8,
        ["trn1n.32xlarge"] = 16,
    };

    private readonly EfaCollectorOptions _options;
    private readonly ILogger _logger;
    private readonly UnavailableSeries _unavailable;
    private readonly FrameState _frame = new();
    private readonly Dictionary<string, MetricFamily> _families = new(StringComparer.Ordinal);
    private readonly byte[] _buffer = new byte[CounterFile.BufferSize];
    private Dictionary<string, Counter> _byPath = new(StringComparer.Ordinal);
    private Counter[] _fast = [];
    private Counter[] _slow = [];
    private Counter[] _peaks = [];
    private string? _signature;
    private bool _loggedNone;

    /// <summary>Creates the collector; nothing is read until <see cref="Discover"/>.</summary>
    public EfaCollector(EfaCollectorOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _unavailable = new UnavailableSeries(CollectorName, logger);
    }

    /// <inheritdoc />
    public string Name => CollectorName;

    /// <inheritdoc />
    public bool NeedsDiscovery { get; private set; }

    /// <inheritdoc />
    public Frame Frame => _frame.Frame;

    /// <inheritdoc />
    public int DeviceCount { get; private set; }

    /// <summary>The devices found by the last discovery.</summary>
    public IReadOnlyList<RdmaDevice> Devices { get; private set; } = [];

    /// <summary>The number of counter files held open (for tests of descriptor hygiene).</summary>
    public int OpenFiles => _byPath.Values.Count(c => c.File is not null);

    /// <inheritdoc />
    public void Discover()
    {
        var devices = RdmaDiscovery.Discover(_options.SysfsRoot);
        var instanceType = RdmaDiscovery.InstanceType(_options.SysfsRoot);
        var signature = Signature(devices, instanceType);
        if (signature != _signature)
        {
            LogChanges(Devices, devices);
            Rebuild(devices, instanceType);
            _signature = signature;
            Devices = devices;
            DeviceCount = devices.Count;
        }

        NeedsDiscovery = false;
        ReopenFailed();
        var now = Stopwatch.GetTimestamp();
        foreach (var c in _slow)
        {
            Read(c, now);
        }

        _frame.SyncUnavailable(_unavailable);
    }

    /// <inheritdoc />
    public void Sample(long timestamp)
    {
        foreach (var c in _fast)
        {
            Read(c, timestamp);
        }

        var values = _frame.Values;
        foreach (var c in _peaks)
        {
            // A peak is derived from its counter: absent with it, rather than a 0 that reads as "idle".
            values[c.PeakSlot] = c.Status == CounterStatus.Ok ? c.Peak!.Peak(timestamp) : double.NaN;
        }

        _frame.SyncUnavailable(_unavailable);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var c in _byPath.Values)
        {
            c.File?.Dispose();
        }

        _byPath.Clear();
        _fast = _slow = _peaks = [];
    }

    /// <summary>
    /// Re-opens every counter whose last read failed. After a driver reload the device keeps its name
    /// and files, so discovery sees no change, but the old descriptors answer ENODEV for good; a fresh
    /// open reaches the new attribute. A file that still cannot be opened stays unavailable.
    /// </summary>
    private void ReopenFailed()
    {
        foreach (var c in _byPath.Values)
        {
            if (c.Status != CounterStatus.ReadError)
            {
                continue;
            }

            c.File?.Dispose();
            c.File = CounterFile.TryOpen(c.Path, out var file, out _) ? file : null;
        }
    }

    private void Read(Counter c, long timestamp)
    {
        ulong raw = 0;
        var status = c.File is null ? CounterStatus.ReadError : c.File.Read(_buffer, out raw);
        var values = _frame.Values;
        if (status == CounterStatus.Ok)
        {
            if (c.IsLifespan)
            {
                values[c.Slot] = raw / 1000.0;
            }
            else
            {
                var delta = c.State.Update(raw);
                c.Peak?.Add(timestamp, delta);
                values[c.Slot] = c.State.Value;
            }
        }
        else
        {
            values[c.Slot] = double.NaN;
            if (status == CounterStatus.ReadError)
            {
                NeedsDiscovery = true;
            }
        }

        if (status != c.Status)
        {
            if (status == CounterStatus.Ok)
            {
                _unavailable.Clear(c.Device, c.Port, c.Name);
            }
            else
            {
                _unavailable.Set(c.Device, c.Port, c.Name, CounterParser.Describe(status), c.Path);
            }

            c.Status = status;
        }
    }

    private void Rebuild(IReadOnlyList<RdmaDevice> devices, string? instanceType)
    {
        var old = _byPath;
        var byPath = new Dictionary<string, Counter>(StringComparer.Ordinal);
        var fast = new List<Counter>();
        var slow = new List<Counter>();
        var peaks = new List<Counter>();
        var constants = new List<(int Slot, double Value)>();
        var b = new LayoutBuilder();
        var classDir = Path.Combine(_options.SysfsRoot, "class", "infiniband");

        if (instanceType is not null)
        {
            constants.Add((b.Add(NodeInfo, instanceType), 1));
            if (ExpectedEfaByInstanceType.TryGetValue(instanceType, out var expected))
            {
                constants.Add((b.Add(EfaDevicesExpected, instanceType), expected));
            }
        }

        constants.Add((b.Add(EfaDevices), devices.Count(d => d.IsEfa)));

        foreach (var dev in devices)
        {
            var devDir = Path.Combine(classDir, dev.Name);
            foreach (var port in dev.Ports)
            {
                constants.Add((b.Add(DeviceInfo, dev.Name, port.Port, dev.Driver, dev.IsEfa ? "true" : "false",
                    dev.PciAddress, dev.NumaNode, port.Rate ?? "", port.Gid ?? "", port.Mac ?? "", port.Netdev), 1));
                if (port.RateBytesPerSecond is { } rate)
                {
                    constants.Add((b.Add(PortRate, dev.Name, port.Port), rate));
                }

                var hwDir = Path.Combine(devDir, "ports", port.Port, "hw_counters");
                if (!port.HasHwCounters)
                {
                    _unavailable.Set(dev.Name, port.Port, "*", "missing_hw_counters", hwDir);
                    continue;
                }

                _unavailable.Clear(dev.Name, port.Port, "*");
                foreach (var name in port.HwCounters)
                {
                    var family = CounterFamily(dev.IsEfa, portLevel: true, name);
                    var c = Take(old, Path.Combine(hwDir, name), dev.Name, port.Port, name);
                    c.Slot = b.Add(family, dev.Name, port.Port);
                    byPath[c.Path] = c;
                    fast.Add(c);
                    if (PeakFamily(dev.IsEfa, name) is { } peakFamily)
                    {
                        c.Peak ??= new PeakWindow(_options.BurstWindow, _options.SampleInterval);
                        c.PeakSlot = b.Add(peakFamily, dev.Name, port.Port);
                        peaks.Add(c);
                    }
                }

                var portLifespan = Path.Combine(hwDir, RdmaDiscovery.LifespanFile);
                if (File.Exists(portLifespan))
                {
                    var c = Take(old, portLifespan, dev.Name, port.Port, RdmaDiscovery.LifespanFile);
                    c.IsLifespan = true;
                    c.Slot = b.Add(PortLifespan, dev.Name, port.Port);
                    byPath[c.Path] = c;
                    slow.Add(c);
                }
            }

            if (dev.Ports.Count == 0)
            {
                constants.Add((b.Add(DeviceInfo, dev.Name, "", dev.Driver, dev.IsEfa ? "true" : "false",
                    dev.PciAddress, dev.NumaNode, "", "", "", ""), 1));
            }

            // A missing device-level hw_counters/ is normal before driver r1.14: not an error.
            var devHw = Path.Combine(devDir, "hw_counters");
            foreach (var name in dev.HwCounters)
            {
                var c = Take(old, Path.Combine(devHw, name), dev.Name, "", name);
                c.Slot = b.Add(CounterFamily(dev.IsEfa, portLevel: false, name), dev.Name);
                byPath[c.Path] = c;
                slow.Add(c);
            }

            var devLifespan = Path.Combine(devHw, RdmaDiscovery.LifespanFile);
            if (dev.HasHwCounters && File.Exists(devLifespan))
            {
                var c = Take(old, devLifespan, dev.Name, "", RdmaDiscovery.LifespanFile);
                c.IsLifespan = true;
                c.Slot = b.Add(DeviceLifespan, dev.Name);
                byPath[c.Path] = c;
                slow.Add(c);
            }
        }

        // Close what went away, and forget its errors: a vanished device is not an unreadable counter.
        foreach (var (path, c) in old)
        {
            if (!byPath.ContainsKey(path))
            {
                c.File?.Dispose();
            }
        }

        var present = byPath.Values.Select(c => (c.Device, c.Port, c.Name)).ToHashSet();
        var portsWithoutCounters = devices.SelectMany(d => d.Ports.Where(p => !p.HasHwCounters).Select(p => (d.Name, p.Port))).ToHashSet();
        _unavailable.RemoveWhere((d, p, n) => n == "*" ? !portsWithoutCounters.Contains((d, p)) : !present.Contains((d, p, n)));

        // Until the next tick reads them again, every series that stays keeps the value the frame
        // showed (a counter its last value, a peak its peak); a new one stays absent, never 0.
        _byPath = byPath;
        _fast = [.. fast];
        _slow = [.. slow];
        _peaks = [.. peaks];
        _frame.SetBaseCarrying(b, _unavailable);

        foreach (var (slot, value) in constants)
        {
            _frame.Values[slot] = value;
        }
    }

    private Counter Take(Dictionary<string, Counter> old, string path, string device, string port, string name)
    {
        if (old.TryGetValue(path, out var existing) && existing.File is not null)
        {
            return existing;
        }

        var c = existing ?? new Counter(path, device, port, name);
        if (CounterFile.TryOpen(path, out var file, out var error))
        {
            c.File = file;
        }
        else
        {
            c.Status = CounterStatus.ReadError;
            _unavailable.Set(device, port, name, CounterParser.Describe(CounterStatus.ReadError), $"{path}: {error}");
        }

        return c;
    }

    private MetricFamily CounterFamily(bool isEfa, bool portLevel, string counter)
    {
        var name = RdmaCounterNames.MetricName(isEfa, portLevel, counter);
        if (!_families.TryGetValue(name, out var family))
        {
            family = portLevel
                ? new MetricFamily(name, RdmaCounterNames.Help(isEfa, true, counter), MetricType.Counter, "device", "port")
                : new MetricFamily(name, RdmaCounterNames.Help(isEfa, false, counter), MetricType.Counter, "device");
            _families[name] = family;
        }

        return family;
    }

    private MetricFamily? PeakFamily(bool isEfa, string counter)
    {
        var direction = counter switch
        {
            "tx_bytes" => "transmit",
            "rx_bytes" => "receive",
            _ => null,
        };
        if (direction is null)
        {
            return null;
        }

        var name = $"{(isEfa ? "efa" : "rdma")}_port_{direction}_peak_bytes_per_second";
        if (!_families.TryGetValue(name, out var family))
        {
            family = new MetricFamily(name,
                $"Highest {direction} throughput of the port between two samples (from {counter}) over the trailing burst window.",
                MetricType.Gauge, "device", "port");
            _families[name] = family;
        }

        return family;
    }

    private void LogChanges(IReadOnlyList<RdmaDevice> before, IReadOnlyList<RdmaDevice> after)
    {
        if (after.Count == 0)
        {
            if (!_loggedNone || before.Count > 0)
            {
                _logger.LogInformation("no RDMA devices under {Path}; EFA metrics stay empty until one appears (checked again on the slow cadence)",
                    Path.Combine(_options.SysfsRoot, "class", "infiniband"));
                _loggedNone = true;
            }

            return;
        }

        var beforeNames = before.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        var afterNames = after.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var d in after.Where(d => !beforeNames.Contains(d.Name)))
        {
            _logger.LogInformation("found {Kind} device {Device} ({Driver}, PCI {Pci}, {Ports} port(s), {Counters} port counters, netdev {Netdev})",
                d.IsEfa ? "EFA" : "RDMA", d.Name, d.Driver.Length == 0 ? "driver unknown" : d.Driver, d.PciAddress,
                d.Ports.Count, d.Ports.Sum(p => p.HwCounters.Count), d.Ports.Count > 0 && d.Ports[0].Netdev.Length > 0 ? d.Ports[0].Netdev : "none");
        }

        foreach (var name in beforeNames.Where(n => !afterNames.Contains(n)))
        {
            _logger.LogWarning("device {Device} went away; its series are no longer exported", name);
        }
    }

    private static string Signature(IReadOnlyList<RdmaDevice> devices, string? instanceType)
    {
        var sb = new StringBuilder(instanceType);
        foreach (var d in devices)
        {
            sb.Append('|').Append(d).Append(string.Join(',', d.HwCounters));
            foreach (var p in d.Ports)
            {
                sb.Append('/').Append(p).Append(string.Join(',', p.HwCounters));
            }
        }

        return sb.ToString();
    }

    private sealed class Counter(string path, string device, string port, string name)
    {
        public string Path { get; } = path;

        public string Device { get; } = device;

        public string Port { get; } = port;

        public string Name { get; } = name;

        public CounterFile? File { get; set; }

        public bool IsLifespan { get; set; }

        public int Slot { get; set; }

        public int PeakSlot { get; set; }

        public PeakWindow? Peak { get; set; }

        public CounterStatus Status { get; set; } = CounterStatus.Ok;

#pragma warning disable SA1401 // a mutable struct must be a field to be updated in place
        public CounterState State;
#pragma warning restore SA1401
    }
}
