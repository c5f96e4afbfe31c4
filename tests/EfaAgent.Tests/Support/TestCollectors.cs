using EfaAgent.Collectors.Efa;
using EfaAgent.Collectors.NetDev;
using Microsoft.Extensions.Logging.Abstractions;

namespace EfaAgent.Tests.Support;

/// <summary>Collectors with the agent's default lanes (250 ms ticks, 15 s peak window) over a given root.</summary>
public static class TestCollectors
{
    /// <summary>The sampling interval the collectors are built with.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    /// <summary>The peak window the collectors are built with.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(15);

    /// <summary>An EFA collector over a sysfs root.</summary>
    public static EfaCollector Efa(string sysfsRoot) =>
        new(new EfaCollectorOptions(sysfsRoot, Interval, Window), NullLogger.Instance);

    /// <summary>A netdev collector over a procfs root, with no interface filter.</summary>
    public static NetDevCollector NetDev(string procfsRoot) =>
        new(new NetDevCollectorOptions(procfsRoot, null, null, Interval, Window), NullLogger.Instance);

    /// <summary>Removes an RDMA device from a writable sysfs copy: its class link and its device directory.</summary>
    public static void RemoveRdmaDevice(string sysfsRoot, string device)
    {
        var link = Path.Combine(sysfsRoot, "class", "infiniband", device);
        var dir = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(link)!, new FileInfo(link).LinkTarget!));
        File.Delete(link);
        Directory.Delete(dir, recursive: true);
    }
}
