using System.Diagnostics;
using System.Globalization;
using EfaAgent.Collectors.Ethtool;
using EfaAgent.Collectors.Interop;
using Microsoft.Extensions.Logging.Abstractions;

namespace EfaAgent.Bench;

/// <summary>
/// The cost of the ethtool collector's reads against the kernel of this network namespace: one
/// <c>ETHTOOL_GSTATS</c> read of an interface (what every discovery does per interface), the string
/// table read when an interface appears, and a whole discovery of the collector over this namespace's
/// <c>/sys/class/net</c>. Timings and the process CPU time (user + sys) over all reads are printed, and
/// the bytes a read allocates. On veth (ip netns exec) the kernel answers from memory; on ENA the
/// driver also runs an admin command to the device for its ENI statistics, which this cannot show.
/// </summary>
internal static class EthtoolBench
{
    private const int Warmup = 2000;

    public static void Run(string? device, int reads)
    {
        using var socket = EthtoolSocket.Open();
        device ??= FirstWithStatistics(socket) ?? throw new InvalidOperationException("no interface with ethtool statistics in this namespace");
        var dev = new EthtoolDevice(device);
        var reason = dev.LoadTable(socket);
        if (reason is not null)
        {
            throw new InvalidOperationException($"{device}: {reason}");
        }

        Console.WriteLine($"interface {device}: driver {dev.Info!.Driver} {dev.Info.Version}, {dev.StatNames.Count} statistics; {reads} reads after {Warmup} warm-up");
        for (var i = 0; i < Warmup; i++)
        {
            dev.ReadStats(socket);
        }

        var times = new double[reads];
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var alloc0 = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < reads; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            dev.ReadStats(socket);
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - alloc0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        Program.Report("  one read (ETHTOOL_GSTATS)", times);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  CPU time (user+sys) per read: {cpu.TotalMicroseconds / reads:F2} us; bytes allocated per read: {(double)allocated / reads:F1}"));

        var tables = new double[Math.Min(reads, 2000)];
        for (var i = 0; i < tables.Length; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            dev.LoadTable(socket);
            tables[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        }

        Program.Report("  string table (GDRVINFO + GSSET_INFO + GSTRINGS)", tables);

        using var collector = new EthtoolCollector(new EthtoolCollectorOptions("/sys", null, null, All: false), () => socket, NullLogger.Instance);
        collector.Discover();
        var discoveries = new double[Math.Min(reads, 2000)];
        for (var i = 0; i < discoveries.Length; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            collector.Discover();
            discoveries[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        }

        Program.Report($"  collector Discover() over /sys/class/net ({Directory.GetFileSystemEntries("/sys/class/net").Length} interfaces)", discoveries);
    }

    private static string? FirstWithStatistics(EthtoolSocket socket) =>
        Directory.GetFileSystemEntries("/sys/class/net").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)
            .FirstOrDefault(n => new EthtoolDevice(n).LoadTable(socket) is null);
}
