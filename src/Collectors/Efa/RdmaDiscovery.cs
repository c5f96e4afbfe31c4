using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Efa;

/// <summary>
/// Walks <c>&lt;sysfs&gt;/class/infiniband/</c> and describes every RDMA device and port: the slow
/// lane of the EFA collector. Pure reads of the tree given as root; what is kept between walks is
/// kept in the <see cref="ListingCache"/> the caller passes.
/// </summary>
public static class RdmaDiscovery
{
    /// <summary>Amazon's PCI vendor id.</summary>
    public const string AmazonVendor = "0x1d0f";

    /// <summary>The file that holds the counter cache time, exported on its own.</summary>
    public const string LifespanFile = "lifespan";

    /// <summary>
    /// Finds every RDMA device under <paramref name="sysfsRoot"/>, sorted by name. What does not change
    /// while a directory stays the same is kept in <paramref name="listings"/> from one walk to the
    /// next (a walk without one keeps it for itself only), and each device's directory is held open
    /// there, so that its files are looked up from it.
    /// </summary>
    /// <exception cref="IOException">A directory of the tree exists but cannot be listed: the tree is unreadable, not empty.</exception>
    public static IReadOnlyList<RdmaDevice> Discover(string sysfsRoot, ListingCache? listings = null)
    {
        if (listings is null)
        {
            using var once = new ListingCache();
            return Discover(sysfsRoot, once);
        }

        var classDir = listings.Combine(sysfsRoot, "class/infiniband");
        var names = SysfsText.ListNames(classDir);
        if (names.Length == 0)
        {
            return [];
        }

        var netdevByMac = NetdevsByMac(sysfsRoot, listings);
        var devices = new List<RdmaDevice>(names.Length);
        foreach (var name in names)
        {
            // The PCI identity is fixed while the device is registered; registered again, it is a new directory.
            if (listings.Hold(listings.Combine(classDir, name), "pci", static (d, _) => ReadIdentity(d), 0) is not var (dir, identity))
            {
                continue; // vanished between listing and reading, or not a directory
            }

            devices.Add(ReadDevice(name, dir, identity, netdevByMac, listings));
        }

        return devices;
    }

    /// <summary>The EC2 instance type from DMI (<c>p4d.24xlarge</c>), read without the network; null when absent.</summary>
    public static string? InstanceType(string sysfsRoot)
    {
        var text = SysfsText.TryReadStable(Path.Combine(sysfsRoot, "devices", "virtual", "dmi", "id", "product_name"));
        return string.IsNullOrEmpty(text) ? null : text;
    }

    /// <summary>The efa kernel module's version (<c>module/efa/version</c>, e.g. <c>2.13.0g</c>); null when it is not loaded.</summary>
    public static string? EfaDriverVersion(string sysfsRoot)
    {
        var text = SysfsText.TryReadStable(Path.Combine(sysfsRoot, "module", "efa", "version"));
        return string.IsNullOrEmpty(text) ? null : text;
    }

    /// <summary>
    /// Maps each interface's MAC (lower case) under <c>class/net/</c> to its name. The paths come from
    /// <paramref name="listings"/>, so that a walk of an unchanged tree builds none.
    /// </summary>
    public static Dictionary<string, string> NetdevsByMac(string sysfsRoot, ListingCache listings)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var netDir = listings.Combine(sysfsRoot, "class/net");
        foreach (var ifname in SysfsText.ListNames(netDir))
        {
            var mac = SysfsText.TryReadStable(listings.Combine(listings.Combine(netDir, ifname), "address"));
            if (!string.IsNullOrEmpty(mac))
            {
                map.TryAdd(mac.ToLowerInvariant(), ifname);
            }
        }

        return map;
    }

    private static RdmaDevice ReadDevice(string name, HeldDirectory dir, Identity identity, Dictionary<string, string> netdevByMac, ListingCache listings)
    {
        var (isEfa, driver, pci, numa) = identity;
        var hw = CounterNames(dir, "hw_counters", listings);

        var ports = new List<RdmaPort>();
        var portNames = listings.GetIfDirectory(dir, "ports", "ports", static (d, _) => PortNames(d), 0) ?? [];
        foreach (var port in portNames)
        {
            ports.Add(ReadPort(port, dir, listings.Combine("ports", port), netdevByMac, listings));
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

    // The port's files, looked up from the device's directory (portDir is relative to it).
    private static RdmaPort ReadPort(string port, HeldDirectory device, string portDir, Dictionary<string, string> netdevByMac, ListingCache listings)
    {
        var rate = SysfsText.TryReadStable(device, listings.Combine(portDir, "rate"));
        var gid = SysfsText.TryReadStable(device, listings.Combine(portDir, "gids/0"));
        var mac = EfaAddress.MacFromGid(gid);
        var netdev = mac is not null && netdevByMac.TryGetValue(mac, out var n) ? n : "";

        // Only hw_counters/ is read. ports/<n>/counters/ holds the InfiniBand PMA counters: EFA has no
        // PMA (no process_mad), so the directory is absent, or on 4.x kernels full of "N/A (no PMA)".
        var hw = CounterNames(device, listings.Combine(portDir, "hw_counters"), listings);
        return new RdmaPort(port, rate, EfaAddress.ParseRateBytesPerSecond(rate), gid, mac, netdev, hw is not null, hw ?? []);
    }

    // The names in a hw_counters directory, null when there is none. Every entry, not only files: a
    // counter that turned into a directory is then reported as unreadable by the collector instead
    // of vanishing without a word.
    private static string[]? CounterNames(HeldDirectory device, string hwDir, ListingCache listings) =>
        listings.GetIfDirectory(device, hwDir, "counters", static (d, _) => ReadCounterNames(d), 0);

    private static string[] PortNames(string portsDir)
    {
        var names = SysfsText.ListNames(portsDir, directoriesOnly: true);
        Array.Sort(names, ComparePortNumbers);
        return names;
    }

    private static string[] ReadCounterNames(string hwDir) =>
        SysfsText.ListNames(hwDir).Where(f => f != LifespanFile).ToArray();

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
