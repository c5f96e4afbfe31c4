using System.Globalization;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// Where a GPU sits on PCI, in the terms the rest of the agent uses: sysfs addresses
/// (<c>0000:53:00.0</c>) rather than NVML's (<c>00000000:53:00.0</c>).
/// </summary>
internal static class GpuPci
{
    /// <summary>
    /// NVML's bus id as the sysfs address: a 4-digit domain, lower case. Null when it is not a bus id.
    /// </summary>
    public static string? SysfsAddress(string nvmlBusId)
    {
        var parts = nvmlBusId.Trim().Split(':');
        if (parts.Length != 3 || !uint.TryParse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var domain)
            || !byte.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var bus)
            || parts[2].Length == 0)
        {
            return null;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{domain:x4}:{bus:x2}:{parts[2].ToLowerInvariant()}");
    }

    /// <summary>
    /// domain:bus:device of a bus id in NVML's form (<c>00000000:3B:00.0</c>) or the kernel log's
    /// (<c>0000:3b:00</c>), as <c>0000:3b:00</c>: the key that pairs an <c>NVRM: Xid (PCI:...)</c> line with a
    /// GPU. Null when it is not a bus id.
    /// </summary>
    public static string? DeviceKey(ReadOnlySpan<char> busId)
    {
        busId = busId.Trim();
        var dot = busId.IndexOf('.');
        if (dot >= 0)
        {
            busId = busId[..dot];
        }

        Span<Range> parts = stackalloc Range[4];
        if (busId.Split(parts, ':') != 3
            || !uint.TryParse(busId[parts[0]], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var domain)
            || !byte.TryParse(busId[parts[1]], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var bus)
            || !byte.TryParse(busId[parts[2]], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var device))
        {
            return null;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{domain:x4}:{bus:x2}:{device:x2}");
    }

    /// <summary>
    /// The domain:bus of the root bus in a resolved sysfs device path
    /// (<c>/sys/devices/pci0000:44/0000:44:01.0/.../0000:53:00.0</c> gives <c>0000:44</c>); null when the
    /// path has no <c>pciDDDD:BB</c> element.
    /// </summary>
    public static string? RootFromDevicePath(string devicePath)
    {
        foreach (var part in devicePath.Split('/'))
        {
            if (part.Length > 3 && part.StartsWith("pci", StringComparison.Ordinal) && part.Contains(':', StringComparison.Ordinal))
            {
                return part[3..].ToLowerInvariant();
            }
        }

        return null;
    }

    /// <summary>The domain:bus part of a sysfs address (<c>0000:53:00.0</c> gives <c>0000:53</c>).</summary>
    public static string DomainBus(string sysfsAddress)
    {
        var last = sysfsAddress.LastIndexOf(':');
        return last > 0 ? sysfsAddress[..last] : sysfsAddress;
    }

    /// <summary>
    /// Reads the NUMA node and the PCI root of the GPU at <paramref name="nvmlBusId"/> under
    /// <paramref name="sysfsRoot"/>; empty strings for what cannot be read.
    /// </summary>
    public static (string NumaNode, string PciRoot) Locate(string sysfsRoot, string nvmlBusId)
    {
        var address = SysfsAddress(nvmlBusId);
        if (address is null)
        {
            return ("", "");
        }

        var deviceDir = Path.Combine(sysfsRoot, "bus", "pci", "devices", address);
        var numa = SysfsText.TryRead(Path.Combine(deviceDir, "numa_node")) ?? "";
        string? root = null;
        try
        {
            var target = new FileInfo(deviceDir).LinkTarget;
            if (target is not null)
            {
                root = RootFromDevicePath(target);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            root = null;
        }

        return (numa, root ?? DomainBus(address));
    }
}
