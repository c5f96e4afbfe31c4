using System.Diagnostics;
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
public sealed record EfaCollectorOptions(string SysfsRoot, TimeSpan SampleInterval, TimeSpan BurstWindow)
{
    /// <summary>
    /// How long the tree must stay unchanged before it is walked only this often (the slow lane's
    /// counters are still read on every discovery); zero walks it on every discovery.
    /// </summary>
    public TimeSpan SettledWalkInterval { get; init; } = EfaCollector.DefaultSettledWalkInterval;
}

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
public sealed partial class EfaCollector : ICollector
{
    /// <summary>The collector name.</summary>
    public const string CollectorName = "efa";

    /// <summary>The reason given when a directory of the tree cannot be listed.</summary>
    public const string ListError = "list_error";

    /// <summary>
    /// How far above the port's link rate an increase may go before it is implausible. Older drivers
    /// say 100 Gb/s whatever the port does (p5en ports carry 200), and the counter group is cached
    /// for its lifespan, so the bound is loose: it is there to catch 2^64-1, not a fast port.
    /// </summary>
    private const double PlausibleRateFactor = 4;

    private readonly EfaFamilies _families = new();

    private readonly EfaCollectorOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly UnavailableSeries _unavailable;
    private readonly FrameState _frame = new();
    private readonly byte[] _buffer = new byte[CounterFile.BufferSize];
    private readonly ListingCache _listings = new();
    private Dictionary<string, EfaCounter> _byPath = new(StringComparer.Ordinal);
    private CounterLane _fast = CounterLane.Empty;
    private CounterLane _slow = CounterLane.Empty;
    private bool _built;
    private string? _instanceType;
    private string? _driverVersion;
    private bool _loggedNone;
    private bool _loggedFileLimit;
    private long _fileBudget;

    /// <summary>Creates the collector; nothing is read until <see cref="Discover"/>.</summary>
    public EfaCollector(EfaCollectorOptions options, ILogger logger)
        : this(options, logger, TimeProvider.System)
    {
    }

    internal EfaCollector(EfaCollectorOptions options, ILogger logger, TimeProvider time)
    {
        _options = options;
        _logger = logger;
        _time = time;
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

    /// <summary>The device directories discovery holds open, to look up their files from them (for tests of descriptor hygiene).</summary>
    public int HeldDirectories => _listings.HeldCount;

    /// <summary>
    /// Walks the tree when <see cref="WalkDue"/> says so, re-opens the counters that failed, and reads
    /// the slow lane.
    /// </summary>
    public void Discover()
    {
        if (WalkDue())
        {
            Walk();
        }

        NeedsDiscovery = false;
        ReopenFailed();
        NeedsDiscovery |= _slow.Read(Stopwatch.GetTimestamp(), _frame.Values, _buffer, _unavailable);
        _frame.SyncUnavailable(_unavailable);
    }

    /// <summary>Finds the devices, and lays the lanes out again when anything about them changed.</summary>
    private void Walk()
    {
        var now = _time.GetTimestamp();
        IReadOnlyList<RdmaDevice> devices;
        try
        {
            devices = RdmaDiscovery.Discover(_options.SysfsRoot, _listings);
            _listings.Sweep();
        }
        catch (IOException e)
        {
            // Unreadable is not empty: keep the devices and their open files until the tree can be
            // read again, say so in the frame, and fail the step so the loop logs and counts it.
            NeedsDiscovery = false;
            _lastChange = now;
            _unavailable.Set("", "", "*", ListError, e.Message);
            _frame.SyncUnavailable(_unavailable);
            throw;
        }

        _lastWalk = now;
        _unavailable.Clear("", "", "*");
        var instanceType = RdmaDiscovery.InstanceType(_options.SysfsRoot);
        var driverVersion = RdmaDiscovery.EfaDriverVersion(_options.SysfsRoot);
        if (!_built || instanceType != _instanceType || driverVersion != _driverVersion || !RdmaDevice.SameAll(Devices, devices))
        {
            LogChanges(Devices, devices);
            Rebuild(devices, instanceType, driverVersion);
            (_built, _instanceType, _driverVersion) = (true, instanceType, driverVersion);
            Devices = devices;
            DeviceCount = devices.Count;
            _lastChange = now;
        }
    }

    /// <inheritdoc />
    public void Sample(long timestamp)
    {
        NeedsDiscovery |= _fast.Read(timestamp, _frame.Values, _buffer, _unavailable);
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
        _fast = _slow = CounterLane.Empty;
        _listings.Dispose();
    }

    private void Rebuild(IReadOnlyList<RdmaDevice> devices, string? instanceType, string? driverVersion)
    {
        _fast.SaveState();
        _slow.SaveState();
        var old = _byPath;
        var byPath = new Dictionary<string, EfaCounter>(StringComparer.Ordinal);
        var fast = new List<EfaCounter>();
        var slow = new List<EfaCounter>();
        var constants = new List<(int Slot, double Value)>();
        var b = new LayoutBuilder();
        var names = new MetricNameClaims(_unavailable);
        _fileBudget = FileBudget();
        var classDir = Path.Combine(_options.SysfsRoot, "class", "infiniband");

        if (instanceType is not null)
        {
            constants.Add((b.Add(EfaFamilies.NodeInfo, instanceType), 1));
            if (InstanceTypes.Find(instanceType) is { } known)
            {
                constants.Add((b.Add(EfaFamilies.EfaDevicesExpected, instanceType), known.EfaDevices));
            }
        }

        constants.Add((b.Add(EfaFamilies.EfaDevices), devices.Count(d => d.IsEfa)));
        if (driverVersion is not null)
        {
            constants.Add((b.Add(EfaFamilies.DriverInfo, driverVersion), 1));
        }

        foreach (var dev in devices)
        {
            var devDir = Path.Combine(classDir, dev.Name);
            foreach (var port in dev.Ports)
            {
                constants.Add((b.Add(EfaFamilies.DeviceInfo, dev.Name, port.Port, dev.Driver, dev.IsEfa ? "true" : "false",
                    dev.PciAddress, dev.NumaNode, port.Rate ?? "", port.Gid ?? "", port.Mac ?? "", port.Netdev), 1));
                if (port.RateBytesPerSecond is { } rate)
                {
                    constants.Add((b.Add(EfaFamilies.PortRate, dev.Name, port.Port), rate));
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
                    var family = _families.Counter(dev.IsEfa, portLevel: true, name);
                    if (!names.Claim(family.With(dev.Name, port.Port), dev.Name, port.Port, name))
                    {
                        continue;
                    }

                    var c = Take(old, Path.Combine(hwDir, name), dev.Name, port.Port, name);
                    c.MaxBytesPerSecond = port.RateBytesPerSecond * PlausibleRateFactor;
                    c.Slot = b.Add(family, dev.Name, port.Port);
                    byPath[c.Path] = c;
                    fast.Add(c);
                    if (_families.Peak(dev.IsEfa, name) is { } peakFamily)
                    {
                        c.Peak ??= new PeakWindow(_options.BurstWindow, _options.SampleInterval);
                        c.PeakSlot = b.Add(peakFamily, dev.Name, port.Port);
                    }
                }

                var portLifespan = Path.Combine(hwDir, RdmaDiscovery.LifespanFile);
                if (File.Exists(portLifespan))
                {
                    var c = Take(old, portLifespan, dev.Name, port.Port, RdmaDiscovery.LifespanFile);
                    c.IsLifespan = true;
                    c.Slot = b.Add(EfaFamilies.PortLifespan, dev.Name, port.Port);
                    byPath[c.Path] = c;
                    slow.Add(c);
                }
            }

            if (dev.Ports.Count == 0)
            {
                constants.Add((b.Add(EfaFamilies.DeviceInfo, dev.Name, "", dev.Driver, dev.IsEfa ? "true" : "false",
                    dev.PciAddress, dev.NumaNode, "", "", "", ""), 1));
            }

            // A missing device-level hw_counters/ is normal before driver r1.14: not an error.
            var devHw = Path.Combine(devDir, "hw_counters");
            foreach (var name in dev.HwCounters)
            {
                var family = _families.Counter(dev.IsEfa, portLevel: false, name);
                if (!names.Claim(family.With(dev.Name), dev.Name, "", name))
                {
                    continue;
                }

                var c = Take(old, Path.Combine(devHw, name), dev.Name, "", name);
                c.Slot = b.Add(family, dev.Name);
                byPath[c.Path] = c;
                slow.Add(c);
            }

            var devLifespan = Path.Combine(devHw, RdmaDiscovery.LifespanFile);
            if (dev.HasHwCounters && File.Exists(devLifespan))
            {
                var c = Take(old, devLifespan, dev.Name, "", RdmaDiscovery.LifespanFile);
                c.IsLifespan = true;
                c.Slot = b.Add(EfaFamilies.DeviceLifespan, dev.Name);
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

        var present = byPath.Values.Select(c => (c.Device, c.Port, c.Name)).Concat(names.Collisions).ToHashSet();
        var portsWithoutCounters = devices.SelectMany(d => d.Ports.Where(p => !p.HasHwCounters).Select(p => (d.Name, p.Port))).ToHashSet();
        _unavailable.RemoveWhere((d, p, n) => n == "*" ? !portsWithoutCounters.Contains((d, p)) : !present.Contains((d, p, n)));

        // Until the next tick reads them again, every series that stays keeps the value the frame
        // showed (a counter its last value, a peak its peak); a new one stays absent, never 0.
        _byPath = byPath;
        _fast = new CounterLane(fast);
        _slow = new CounterLane(slow);
        _frame.SetBaseCarrying(b, _unavailable);

        foreach (var (slot, value) in constants)
        {
            _frame.Values[slot] = value;
        }

        if (!_loggedFileLimit && !FileLimit.Fits(byPath.Count))
        {
            _logger.LogWarning("{Files} counter files to hold open, but the open-file limit is {Limit} (RLIMIT_NOFILE, with {Reserve} kept for the rest): counters past it are not exported; raise the limit (LimitNOFILE= in the unit, ulimit -n)",
                byPath.Count, FileLimit.Soft, FileLimit.Reserve);
            _loggedFileLimit = true;
        }
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
}
