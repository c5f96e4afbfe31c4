namespace EfaAgent.Collectors.Efa;

/// <summary>One port of an RDMA device, as found under <c>class/infiniband/&lt;dev&gt;/ports/&lt;n&gt;/</c>.</summary>
/// <param name="Port">The port number directory name (<c>1</c> on EFA).</param>
/// <param name="Rate">The <c>rate</c> text, e.g. <c>100 Gb/sec (4X EDR)</c>; null when missing.</param>
/// <param name="RateBytesPerSecond">The rate in bytes per second; null when it could not be parsed.</param>
/// <param name="Gid">The <c>gids/0</c> text: the EFA address on EFA.</param>
/// <param name="Mac">The MAC address derived from <see cref="Gid"/> (EUI-64); null when it is not an EUI-64.</param>
/// <param name="Netdev">The network interface whose MAC matches; empty for an EFA-only interface.</param>
/// <param name="HasHwCounters">Whether <c>hw_counters/</c> exists.</param>
/// <param name="HwCounters">The counter file names in <c>hw_counters/</c>, without <c>lifespan</c>, sorted.</param>
public sealed record RdmaPort(
    string Port,
    string? Rate,
    double? RateBytesPerSecond,
    string? Gid,
    string? Mac,
    string Netdev,
    bool HasHwCounters,
    IReadOnlyList<string> HwCounters)
{
    /// <summary>Equal in every property, the counter names included (a record's own equality compares lists by reference).</summary>
    public bool SameAs(RdmaPort other) =>
        Port == other.Port && Rate == other.Rate && Nullable.Equals(RateBytesPerSecond, other.RateBytesPerSecond) && Gid == other.Gid
        && Mac == other.Mac && Netdev == other.Netdev && HasHwCounters == other.HasHwCounters && HwCounters.SequenceEqual(other.HwCounters);
}

/// <summary>One RDMA device under <c>class/infiniband/</c>.</summary>
/// <param name="Name">The device name, e.g. <c>rdmap16s27</c> (EFA, named by rdma-core's udev rule) or <c>mlx5_0</c>.</param>
/// <param name="IsEfa">True for an Elastic Fabric Adapter.</param>
/// <param name="Driver">The kernel driver bound to the PCI function (<c>efa</c>, <c>mlx5_core</c>); empty when unknown.</param>
/// <param name="PciAddress">The PCI address, e.g. <c>0000:10:1b.0</c>; empty when unknown.</param>
/// <param name="NumaNode">The NUMA node as the kernel writes it (<c>-1</c> when none); empty when unknown.</param>
/// <param name="HasHwCounters">Whether the device-level <c>hw_counters/</c> exists (drivers r1.14+ / kernel ~5.15+).</param>
/// <param name="HwCounters">The device-level counter file names, without <c>lifespan</c>, sorted.</param>
/// <param name="Ports">The ports, sorted by number.</param>
public sealed record RdmaDevice(
    string Name,
    bool IsEfa,
    string Driver,
    string PciAddress,
    string NumaNode,
    bool HasHwCounters,
    IReadOnlyList<string> HwCounters,
    IReadOnlyList<RdmaPort> Ports)
{
    /// <summary>Whether two discoveries found the same devices, ports and counters, in the same order.</summary>
    public static bool SameAll(IReadOnlyList<RdmaDevice> a, IReadOnlyList<RdmaDevice> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!a[i].SameAs(b[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Equal in every property, ports and counter names included.</summary>
    public bool SameAs(RdmaDevice other)
    {
        if (Name != other.Name || IsEfa != other.IsEfa || Driver != other.Driver || PciAddress != other.PciAddress
            || NumaNode != other.NumaNode || HasHwCounters != other.HasHwCounters || Ports.Count != other.Ports.Count
            || !HwCounters.SequenceEqual(other.HwCounters))
        {
            return false;
        }

        for (var i = 0; i < Ports.Count; i++)
        {
            if (!Ports[i].SameAs(other.Ports[i]))
            {
                return false;
            }
        }

        return true;
    }
}
