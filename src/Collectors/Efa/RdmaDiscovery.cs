using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Efa;

/// <summary>
/// Walks <c>&lt;sysfs&gt;/class/infiniband/</c> and describes every RDMA device and port: the slow
/// lane of the EFA collector. Pure reads of the tree given as root; nothing is cached here.
/// </summary>
public static class RdmaDiscovery
{
    /// <summary>Amazon's PCI vendor id.</summary>
    public const string AmazonVendor = "0x1d0f";

    /// <summary>The file that holds the counter cache time, exported on its own.</summary>
    public const string LifespanFile = "lifespan";

    /// <summary>Finds every RDMA device under <paramref name="sysfsRoot"/>, sorted by name.</summary>
    /// <exception cref="IOException">A directory of the tree exists but cannot be listed: the tree is unreadable, not empty.</exception>
    public static IReadOnlyList<RdmaDevice> Discover(string sysfsRoot, ListingCache? listings = null)
    {
        var classDir = Path.Combine(sysfsRoot, "class", "infiniband");
        var names = SysfsText.ListNames(classDir);
        if (names.Length == 0)
        {
            return [];
        }

        var netdevByMac = NetdevsByMac(sysfsRoot);
        var devices = new List<RdmaDevice>(names.Length);
        foreach (var name in names)
        {
            var dir = Join(listings, classDir, name);

            // The PCI identity is fixed while the device is registered; registered again, it is a new directory.
            var identity = IfDirectory(listings, dir, "pci", ReadIdentity);
            if (identity is null)
            {
                continue; // vanished between listing and reading
            }

            devices.Add(ReadDevice(name, dir, identity, netdevByMac, listings));
        }

        return devices;
    }

    /// <summary>The EC2 instance type from DMI (<c>p4d.24xlarge</c>), read without the network; null when absent.</summary>
    public static string? InstanceType(string sysfsRoot)
    {
        var text = SysfsText.TryRead(Path.Combine(sysfsRoot, "devices", "virtual", "dmi", "id", "product_name"));
        return string.IsNullOrEmpty(text) ? null : text;
    }

    /// <summary>The efa kernel module's version (<c>module/efa/version</c>, e.g. <c>2.13.0g</c>); null when it is not loaded.</summary>
    public static string? EfaDriverVersion(string sysfsRoot)
    {
        var text = SysfsText.TryRead(Path.Combine(sysfsRoot, "module", "efa", "version"));
        return string.IsNullOrEmpty(text) ? null : text;
    }

    /// <summary>Maps each interface's MAC (lower case) under <c>class/net/</c> to its name.</summary>
    public static Dictionary<string, string> NetdevsByMac(string sysfsRoot)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var netDir = Path.Combine(sysfsRoot, "class", "net");
        foreach (var ifname in SysfsText.ListNames(netDir))
        {
            var mac = SysfsText.TryReadStable(Path.Combine(netDir, ifname, "address"));
            if (!string.IsNullOrEmpty(mac))
            {
                map.TryAdd(mac.ToLowerInvariant(), ifname);
            }
        }

        return map;
    }

    private static RdmaDevice ReadDevice(string name, string dir, Identity identity, Dictionary<string, string> netdevByMac, ListingCache? listings)
    {
        var (isEfa, driver, pci, numa) = identity;
        var hw = CounterNames(Join(listings, dir, "hw_counters"), listings);

        var ports = new List<RdmaPort>();
        var portsDir = Join(listings, dir, "ports");
        var portNames = listings?.Get(portsDir, "ports", static (d, _) => PortNames(d), 0) ?? PortNames(portsDir);
        foreach (var port in portNames)
        {
            ports.Add(ReadPort(port, Join(listings, portsDir, port), netdevByMac, listings));
        }

        return new RdmaDevice(name, isEfa, driver, pci, numa, hw is not null, hw ?? [], ports);
    }

    private static Identity ReadIdentity(string dir)
    {
        var pciDir = Path.Combine(dir, "device");
        var driver = SysfsText.LinkTargetName(Path.Combine(pciDir, "driver")) ?? UeventValue(pciDir, "DRIVER") ?? "";
        var vendor = SysfsText.TryRead(Path.Combine(pciDir, "vendor"));
        var deviceId = SysfsText.TryRead(Path.Combine(pciDir, "device"));
        var isEfa = driver == "efa" || (vendor == AmazonVendor && IsEfaDeviceId(deviceId));
        var pci = SysfsText.LinkTargetName(pciDir) ?? UeventValue(pciDir, "PCI_SLOT_NAME") ?? "";
        var numa = SysfsText.TryRead(Path.Combine(pciDir, "numa_node")) ?? "";
        return new Identity(isEfa, driver, pci, numa);
    }

    private static RdmaPort ReadPort(string port, string dir, Dictionary<string, string> netdevByMac, ListingCache? listings)
    {
        var rate = SysfsText.TryReadStable(Join(listings, dir, "rate"));
        var gid = SysfsText.TryReadStable(Join(listings, dir, "gids/0"));
        var mac = EfaAddress.MacFromGid(gid);
        var netdev = mac is not null && netdevByMac.TryGetValue(mac, out var n) ? n : "";

        // Only hw_counters/ is read. ports/<n>/counters/ holds the InfiniBand PMA counters: EFA has no
        // PMA (no process_mad), so the directory is absent, or on 4.x kernels full of "N/A (no PMA)".
        var hw = CounterNames(Join(listings, dir, "hw_counters"), listings);
        return new RdmaPort(port, rate, EfaAddress.ParseRateBytesPerSecond(rate), gid, mac, netdev, hw is not null, hw ?? []);
    }

    // The names in a hw_counters directory, null when there is none. Every entry, not only files: a
    // counter that turned into a directory is then reported as unreadable by the collector instead
    // of vanishing without a word.
    private static string[]? CounterNames(string hwDir, ListingCache? listings) =>
        IfDirectory(listings, hwDir, "counters", ReadCounterNames);

    // What read makes of a directory, kept in the cache while it is unchanged; null when it is not a directory.
    private static T? IfDirectory<T>(ListingCache? listings, string directory, string kind, Func<string, T> read)
        where T : class => listings is null
        ? (ListingCache.IsDirectory(directory) ? read(directory) : null)
        : listings.GetIfDirectory(directory, kind, static (d, r) => r(d), read);

    private static string[] PortNames(string portsDir)
    {
        var names = SysfsText.ListNames(portsDir, directoriesOnly: true);
        Array.Sort(names, ComparePortNumbers);
        return names;
    }

    private static string[] ReadCounterNames(string hwDir) =>
        SysfsText.ListNames(hwDir).Where(f => f != LifespanFile).ToArray();

    // What lies inside a device changes only when it is registered again, so its listings, identity
    // and paths are kept in the cache; class/infiniband and class/net themselves are always listed afresh.
    private static string Join(ListingCache? listings, string directory, string name) =>
        listings?.Combine(directory, name) ?? Path.Combine(directory, name);

    private static bool IsEfaDeviceId(string? id) => id is "0xefa0" or "0xefa1" or "0xefa2" or "0xefa3";

    private static string? UeventValue(string pciDir, string key)
    {
        var text = SysfsText.TryRead(Path.Combine(pciDir, "uevent"));
        if (text is null)
        {
            return null;
        }

        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(key + "=", StringComparison.Ordinal))
            {
                return line[(key.Length + 1)..].Trim();
            }
        }

        return null;
    }

    private static int ComparePortNumbers(string a, string b)
    {
        var okA = int.TryParse(a, out var na);
        var okB = int.TryParse(b, out var nb);
        return okA && okB ? na.CompareTo(nb) : string.CompareOrdinal(a, b);
    }

    private sealed record Identity(bool IsEfa, string Driver, string Pci, string Numa);
}
