using System.Globalization;
using System.Text;
using EfaAgent.Collectors.Efa;
using EfaAgent.Collectors.Ethtool;
using Microsoft.Win32.SafeHandles;

namespace EfaAgent.Agent.Demo;

/// <summary>What the simulated training job does.</summary>
public enum Scenario
{
    /// <summary>A healthy DDP job: bursty all-reduce on every EFA device, a little TCP on the ENA netdevs.</summary>
    Healthy,

    /// <summary>NCCL fell back to sockets: GPUs busy, EFA flat, the training traffic on the ENA netdevs.</summary>
    SocketFallback,

    /// <summary>One GPU of this node is slower than the others.</summary>
    Straggler,

    /// <summary>EFA receive drops, retransmits and unresponsive or impaired remote peers.</summary>
    EfaErrors,

    /// <summary>One EFA device of the instance type is not attached.</summary>
    MissingEfa,

    /// <summary>One GPU has fallen off the bus.</summary>
    GpuLost,
}

/// <summary>
/// A simulated node: a sysfs and procfs tree in a directory, shaped like a real p4d/p5 (device names,
/// counter sets, netdevs per efa-sysfs.md), whose counter files a background thread rewrites like
/// one node of a multi-node DDP training job. The agent reads it through its normal read path.
/// </summary>
public sealed class SimulatedNode : IDisposable
{
    private const string NetDevHeader =
        "Inter-|   Receive                                                |  Transmit\n" +
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    private readonly NodeShape _shape;
    private readonly Scenario _scenario;
    private readonly List<EfaFiles> _devices = [];
    private readonly List<Netdev> _netdevs = [];
    private readonly SafeFileHandle _netDevFile;
    private readonly Random _random = new(42);
    private readonly CancellationTokenSource _stop = new();
    private Thread? _thread;

    private SimulatedNode(string root, NodeShape shape, Scenario scenario)
    {
        Root = root;
        _shape = shape;
        _scenario = scenario;
        SysfsRoot = Path.Combine(root, "sys");
        ProcfsRoot = Path.Combine(root, "proc");
        Build();
        _netDevFile = File.OpenHandle(Path.Combine(ProcfsRoot, "net", "dev"), FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        WriteNetDev();
    }

    /// <summary>The directory holding <c>sys/</c> and <c>proc/</c>.</summary>
    public string Root { get; }

    /// <summary>The simulated sysfs root.</summary>
    public string SysfsRoot { get; }

    /// <summary>The simulated procfs root.</summary>
    public string ProcfsRoot { get; }

    /// <summary>The ENA driver of the node's netdevs, answering ethtool requests (the loopback has no ethtool operations).</summary>
    public SimulatedEthtool Ethtool { get; } = new();

    /// <summary>The EFA devices present (one fewer than the shape has in <see cref="Scenario.MissingEfa"/>).</summary>
    public int EfaDevices => _devices.Count;

    /// <summary>Builds the tree under <paramref name="root"/> (which must exist and be empty).</summary>
    public static SimulatedNode Create(string root, NodeShape shape, Scenario scenario) => new(root, shape, scenario);

    /// <summary>Starts rewriting the counters every <paramref name="period"/>.</summary>
    public void Start(TimeSpan period)
    {
        _thread = new Thread(() => Animate(period)) { IsBackground = true, Name = "demo-animator" };
        _thread.Start();
    }

    /// <summary>Advances the simulation by <paramref name="elapsed"/> at simulated time <paramref name="t"/> (seconds).</summary>
    public void Step(double t, TimeSpan elapsed)
    {
        var dt = elapsed.TotalSeconds;
        var allReduce = InAllReduce(t);
        var efaActive = _scenario != Scenario.SocketFallback;
        foreach (var dev in _devices)
        {
            var utilisation = allReduce ? 0.82 + (0.1 * _random.NextDouble()) : 0.01 * _random.NextDouble();
            var bytes = efaActive ? (ulong)(utilisation * _shape.LineRateBytesPerSecond * dt) : 0;
            var rxBytes = efaActive ? (ulong)(bytes * (0.97 + (0.06 * _random.NextDouble()))) : 0;
            dev.Add("tx_bytes", bytes);
            dev.Add("rx_bytes", rxBytes);
            dev.Add("tx_pkts", bytes / 8192);
            dev.Add("rx_pkts", rxBytes / 8192);
            dev.Add("send_bytes", bytes / 4);
            dev.Add("send_wrs", bytes / 4 / 65536);
            dev.Add("recv_bytes", rxBytes / 4);
            dev.Add("recv_wrs", rxBytes / 4 / 65536);
            if (_shape.RdmaWrite)
            {
                dev.Add("rdma_write_bytes", bytes * 3 / 4);
                dev.Add("rdma_write_wrs", bytes * 3 / 4 / 1048576);
                dev.Add("rdma_write_recv_bytes", rxBytes * 3 / 4);
            }
            else
            {
                dev.Add("rdma_read_bytes", rxBytes * 3 / 4);
                dev.Add("rdma_read_wrs", rxBytes * 3 / 4 / 1048576);
                dev.Add("rdma_read_resp_bytes", bytes * 3 / 4);
            }

            if (_scenario == Scenario.EfaErrors && allReduce)
            {
                dev.Add("rx_drops", (ulong)(40 * dt * 10));
                dev.Add("retrans_pkts", (ulong)(300 * dt * 10));
                dev.Add("retrans_bytes", (ulong)(300 * 8192 * dt * 10));
                dev.Add("retrans_timeout_events", _random.NextDouble() < dt ? 1UL : 0);
                dev.Add("unresponsive_remote_events", _random.NextDouble() < dt / 2 ? 1UL : 0);
                dev.Add("impaired_remote_conn_events", _random.NextDouble() < dt / 2 ? 1UL : 0);
            }

            dev.Add("keep_alive_rcvd", _random.NextDouble() < dt ? 1UL : 0);
            dev.Add("submitted_cmds", 5);
            dev.Add("completed_cmds", 5);
            dev.Flush();
        }

        foreach (var n in _netdevs)
        {
            if (n.Name == "lo")
            {
                n.Rx += (ulong)(20_000 * dt);
                n.Tx = n.Rx;
                continue;
            }

            // torchrun's c10d store and NCCL's bootstrap: a little TCP. In a socket fallback,
            // the whole all-reduce goes through the kernel's TCP stack instead, at a fraction of EFA's speed.
            var tcp = 150_000 * dt * (0.5 + _random.NextDouble());
            if (_scenario == Scenario.SocketFallback && allReduce)
            {
                tcp += 2.4e9 * dt / _netdevs.Count(x => x.Name != "lo");
            }

            n.Rx += (ulong)tcp;
            n.Tx += (ulong)(tcp * 0.98);
            StepAllowances(n.Name, dt, allReduce);
        }

        WriteNetDev();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(2));
        foreach (var d in _devices)
        {
            d.Dispose();
        }

        _netDevFile.Dispose();
        _stop.Dispose();
    }

    /// <summary>
    /// The ENA allowances: a healthy job stays far inside them. A job on sockets pushes the whole
    /// all-reduce through the ENA netdevs and runs into the instance's bandwidth and packet-rate
    /// allowances during every burst: the device queues and drops packets.
    /// </summary>
    private void StepAllowances(string netdev, double dt, bool allReduce)
    {
        Ethtool.Set(netdev, "conntrack_allowance_available", (ulong)(512_000 - _random.Next(0, 300)));
        if (_scenario == Scenario.SocketFallback && allReduce)
        {
            Ethtool.Add(netdev, "bw_out_allowance_exceeded", (ulong)(1_800 * dt * (0.5 + _random.NextDouble())));
            Ethtool.Add(netdev, "bw_in_allowance_exceeded", (ulong)(1_200 * dt * (0.5 + _random.NextDouble())));
            Ethtool.Add(netdev, "pps_allowance_exceeded", (ulong)(400 * dt * (0.5 + _random.NextDouble())));
        }
    }

    /// <summary>The ENA PCI address of a netdev: from a predictable name (enp71s0: bus 0x47, slot 0), else beside the EFA device.</summary>
    private static string EnaBusInfo(SimulatedEfa dev)
    {
        var name = dev.Netdev!;
        var s = name.IndexOf('s', 3);
        return name.StartsWith("enp", StringComparison.Ordinal) && s > 3
            ? string.Create(CultureInfo.InvariantCulture, $"0000:{int.Parse(name[3..s], CultureInfo.InvariantCulture):x2}:{int.Parse(name[(s + 1)..], CultureInfo.InvariantCulture):x2}.0")
            : dev.Pci[..8] + "1a.0";
    }

    /// <summary>A DDP step: about a second of compute, then an all-reduce burst of a third of it.</summary>
    private static bool InAllReduce(double t) => t % 1.1 >= 0.72;

    private void Animate(TimeSpan period)
    {
        var start = DateTime.UtcNow;
        var last = start;
        while (!_stop.Token.WaitHandle.WaitOne(period))
        {
            var now = DateTime.UtcNow;
            Step((now - start).TotalSeconds, now - last);
            last = now;
        }
    }

    private void Build()
    {
        Write(Path.Combine(SysfsRoot, "devices", "virtual", "dmi", "id", "product_name"), _shape.InstanceType);
        var driverDir = Path.Combine(SysfsRoot, "bus", "pci", "drivers", "efa");
        Directory.CreateDirectory(driverDir);
        var classIb = Path.Combine(SysfsRoot, "class", "infiniband");
        var classNet = Path.Combine(SysfsRoot, "class", "net");
        Directory.CreateDirectory(classIb);
        Directory.CreateDirectory(classNet);

        var efa = _scenario == Scenario.MissingEfa ? _shape.Efa.Take(_shape.Efa.Count - 1) : _shape.Efa;
        var index = 0;
        foreach (var dev in efa)
        {
            var pciDir = Path.Combine(SysfsRoot, "devices", "pci0000:00", dev.Pci);
            Write(Path.Combine(pciDir, "vendor"), RdmaDiscovery.AmazonVendor);
            Write(Path.Combine(pciDir, "device"), _shape.DeviceId);
            Write(Path.Combine(pciDir, "numa_node"), dev.Numa.ToString(CultureInfo.InvariantCulture));
            File.CreateSymbolicLink(Path.Combine(pciDir, "driver"), "../../../bus/pci/drivers/efa");

            var ibDir = Path.Combine(pciDir, "infiniband", dev.Name);
            Directory.CreateDirectory(ibDir);
            File.CreateSymbolicLink(Path.Combine(classIb, dev.Name), $"../../devices/pci0000:00/{dev.Pci}/infiniband/{dev.Name}");
            File.CreateSymbolicLink(Path.Combine(ibDir, "device"), $"../../../{dev.Pci}");
            Write(Path.Combine(ibDir, "node_type"), "7: unspecified");
            Write(Path.Combine(ibDir, "fw_ver"), "");
            Write(Path.Combine(ibDir, "node_guid"), string.Create(CultureInfo.InvariantCulture, $"0000:0000:0000:{index + 1:x4}"));

            var port = Path.Combine(ibDir, "ports", "1");
            Write(Path.Combine(port, "state"), "4: ACTIVE");
            Write(Path.Combine(port, "phys_state"), "5: LinkUp");
            Write(Path.Combine(port, "link_layer"), "Unknown");
            Write(Path.Combine(port, "lid"), "0x0");
            Write(Path.Combine(port, "rate"), _shape.Rate);
            Write(Path.Combine(port, "gids", "0"), GidFromMac(dev.Mac));

            var files = new EfaFiles();
            foreach (var c in _shape.PortCounters)
            {
                files.Open(c, Path.Combine(port, "hw_counters", c));
            }

            Write(Path.Combine(port, "hw_counters", RdmaDiscovery.LifespanFile), "10");
            foreach (var c in _shape.DeviceCounters)
            {
                files.Open(c, Path.Combine(ibDir, "hw_counters", c));
            }

            Write(Path.Combine(ibDir, "hw_counters", RdmaDiscovery.LifespanFile), "10");
            files.Flush();
            _devices.Add(files);

            if (dev.Netdev is not null)
            {
                AddNetdev(classNet, dev.Netdev, dev.Mac);
                Ethtool.AddEna(dev.Netdev, EnaBusInfo(dev));
            }

            index++;
        }

        AddNetdev(classNet, "lo", "00:00:00:00:00:00");
        Ethtool.AddWithoutEthtool("lo");
        Directory.CreateDirectory(Path.Combine(ProcfsRoot, "net"));
        File.WriteAllText(Path.Combine(ProcfsRoot, "net", "dev"), NetDevHeader);
    }

    private void AddNetdev(string classNet, string name, string mac)
    {
        var dir = Path.Combine(SysfsRoot, "devices", "virtual", "net", name);
        Write(Path.Combine(dir, "address"), mac);
        File.CreateSymbolicLink(Path.Combine(classNet, name), $"../../devices/virtual/net/{name}");
        _netdevs.Add(new Netdev(name) { Rx = (ulong)(1_000_000 * (_netdevs.Count + 1)), Tx = (ulong)(800_000 * (_netdevs.Count + 1)) });
    }

    private void WriteNetDev()
    {
        var sb = new StringBuilder(NetDevHeader);
        foreach (var n in _netdevs.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"{n.Name,6}: {n.Rx,8} {n.Rx / 1400,7}    0    0    0     0          0         0 {n.Tx,8} {n.Tx / 1400,7}    0    0    0     0       0          0\n");
        }

        // In place and never shorter (the counters only grow), so the reader's kept-open handle sees each version whole.
        RandomAccess.Write(_netDevFile, Encoding.ASCII.GetBytes(sb.ToString()), 0);
    }

    /// <summary>The EFA address whose EUI-64 interface identifier carries <paramref name="mac"/>.</summary>
    public static string GidFromMac(string mac)
    {
        var b = mac.Split(':').Select(x => byte.Parse(x, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
        return string.Create(CultureInfo.InvariantCulture,
            $"fe80:0000:0000:0000:{b[0] ^ 0x02:x2}{b[1]:x2}:{b[2]:x2}ff:fe{b[3]:x2}:{b[4]:x2}{b[5]:x2}");
    }

    private static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text + "\n");
    }

    private sealed class Netdev(string name)
    {
        public string Name { get; } = name;

        public ulong Rx { get; set; }

        public ulong Tx { get; set; }
    }

    /// <summary>The counter files of one device, kept open and rewritten in place.</summary>
    private sealed class EfaFiles : IDisposable
    {
        private readonly Dictionary<string, (SafeFileHandle Handle, ulong Value, bool Dirty)> _files = new(StringComparer.Ordinal);

        public void Open(string counter, string path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "0\n");
            _files[counter] = (File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite), 0, true);
        }

        public void Add(string counter, ulong delta)
        {
            if (delta > 0 && _files.TryGetValue(counter, out var f))
            {
                _files[counter] = (f.Handle, f.Value + delta, true);
            }
        }

        public void Flush()
        {
            foreach (var (counter, f) in _files.ToArray())
            {
                if (f.Dirty)
                {
                    // The value only grows, so the new text is never shorter than the old one.
                    RandomAccess.Write(f.Handle, Encoding.ASCII.GetBytes(f.Value.ToString(CultureInfo.InvariantCulture) + "\n"), 0);
                    _files[counter] = (f.Handle, f.Value, false);
                }
            }
        }

        public void Dispose()
        {
            foreach (var f in _files.Values)
            {
                f.Handle.Dispose();
            }
        }
    }
}
