using System.Diagnostics;
using System.Globalization;
using EfaAgent.Agent.Exposition;
using EfaAgent.Agent.Sampling;
using EfaAgent.Collectors;
using EfaAgent.Collectors.Efa;
using EfaAgent.Collectors.NetDev;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using EfaAgent.Bench;
using ICollector = EfaAgent.Collectors.ICollector;

// Measures one tick of the sampling loop on a fixture tree: the time of each collector's Sample()
// (median and tail over many ticks) and the bytes it allocates per tick, then the cost of serialising
// the snapshot for a scrape.
//
//   dotnet run -c Release --project bench/EfaAgent.Bench -- [fixture-root] [ticks]
//   dotnet run -c Release --project bench/EfaAgent.Bench -- gpu [ticks]
//   dotnet run -c Release --project bench/EfaAgent.Bench -- ethtool [interface] [reads]
//
// fixture-root defaults to tests/fixtures/p5-617 (32 EFA devices, kernel 6.17 counter set); `gpu`
// measures the GPU collector with eight GPUs behind the fake libnvidia-ml.so.1 (needs cc); `ethtool`
// measures one ethtool statistics read of an interface of this network namespace (run it under
// `ip netns exec` on a veth pair).
if (args.Length > 0 && args[0] == "gpu")
{
    GpuBench.Run(RepoRoot(), args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3000);
    return;
}

if (args.Length > 0 && args[0] == "ethtool")
{
    EthtoolBench.Run(args.Length > 1 ? args[1] : null, args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 100_000);
    return;
}

var root = args.Length > 0 ? args[0] : Path.Combine(RepoRoot(), "tests", "fixtures", "p5-617");
var ticks = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5000;
var interval = TimeSpan.FromMilliseconds(250);

var collectors = new ICollector[]
{
    new EfaCollector(new EfaCollectorOptions(Path.Combine(root, "sys"), interval, TimeSpan.FromSeconds(15)), NullLogger.Instance),
    new NetDevCollector(new NetDevCollectorOptions(Path.Combine(root, "proc"), null, null, interval, TimeSpan.FromSeconds(15)), NullLogger.Instance),
};
foreach (var c in collectors)
{
    c.Discover();
}

var efa = (EfaCollector)collectors[0];
Console.WriteLine($"fixture {root}: {efa.DeviceCount} RDMA devices, {efa.OpenFiles} counter files open, {efa.Frame.Layout.Count} EFA series");

var store = new SnapshotStore(collectors.Length);
var perCollector = collectors.Select(_ => new double[ticks]).ToArray();
var whole = new double[ticks];
var allocated = new long[ticks];

// Warm up: tiered JIT, first-touch of buffers.
for (var i = 0; i < 500; i++)
{
    Tick(Stopwatch.GetTimestamp(), null, 0);
}

for (var i = 0; i < ticks; i++)
{
    Tick(Stopwatch.GetTimestamp(), perCollector, i);
}

Console.WriteLine($"ticks measured: {ticks} (after 500 warm-up ticks)");
for (var c = 0; c < collectors.Length; c++)
{
    Report($"  {collectors[c].Name,-7} Sample()", perCollector[c]);
}

Report("  whole tick (all collectors + publish)", whole);

// Discovery: the walk of the tree and the slow lane, every discovery interval (5 s by default).
var discoveries = new double[Math.Max(50, ticks / 50)];
var discoveryBytes = new long[discoveries.Length];
for (var i = 0; i < discoveries.Length; i++)
{
    var before = GC.GetAllocatedBytesForCurrentThread();
    var t0 = Stopwatch.GetTimestamp();
    efa.Discover();
    discoveries[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
    discoveryBytes[i] = GC.GetAllocatedBytesForCurrentThread() - before;
}

Report("  efa Discover() with nothing changed", discoveries);
Array.Sort(discoveryBytes);
Console.WriteLine($"  bytes allocated per discovery: median {discoveryBytes[discoveryBytes.Length / 2]}");

// The same once the tree has settled: the slow lane alone, the walk once per 30 s.
var clock = new ManualClock();
using (var settled = new EfaCollector(new EfaCollectorOptions(Path.Combine(root, "sys"), interval, TimeSpan.FromSeconds(15)), NullLogger.Instance, clock))
{
    settled.Discover();
    clock.Advance(EfaCollector.DefaultSettledWalkInterval + TimeSpan.FromSeconds(1));
    settled.Discover();
    var slowOnly = new double[discoveries.Length];
    for (var i = 0; i < slowOnly.Length; i++)
    {
        clock.Advance(TimeSpan.FromMilliseconds(1));
        var t0 = Stopwatch.GetTimestamp();
        settled.Discover();
        slowOnly[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
    }

    Report("  efa Discover() of a settled tree (no walk)", slowOnly);
}
Array.Sort(allocated);
Console.WriteLine($"  bytes allocated per tick: median {allocated[ticks / 2]}, max {allocated[^1]}");

// Scrape: bridge sync + text serialisation of the latest snapshot.
var registry = Metrics.NewCustomRegistry();
var bridge = new PrometheusBridge(store, registry);
var scrapes = new double[500];
long bytes = 0;
for (var i = 0; i < 50; i++)
{
    using var warm = new MemoryStream();
    await registry.CollectAndExportAsTextAsync(warm);
}

for (var i = 0; i < scrapes.Length; i++)
{
    using var ms = new MemoryStream();
    var t0 = Stopwatch.GetTimestamp();
    await registry.CollectAndExportAsTextAsync(ms);
    scrapes[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
    bytes = ms.Length;
}

Report($"  scrape (sync + serialise {bytes} bytes)", scrapes);
GC.KeepAlive(bridge);

void Tick(long now, double[][]? times, int index)
{
    var before = GC.GetAllocatedBytesForCurrentThread();
    var start = Stopwatch.GetTimestamp();
    for (var c = 0; c < collectors.Length; c++)
    {
        var t0 = Stopwatch.GetTimestamp();
        collectors[c].Sample(now);
        var t1 = Stopwatch.GetTimestamp();
        store.Publish(c, collectors[c].Frame);
        if (times is not null)
        {
            times[c][index] = Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds;
        }
    }

    store.Commit();

    if (times is not null)
    {
        whole[index] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        allocated[index] = GC.GetAllocatedBytesForCurrentThread() - before;
    }
}

static string RepoRoot()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EfaAgent.sln")))
    {
        dir = dir.Parent;
    }

    return dir?.FullName ?? ".";
}

/// <summary>The benchmark's entry point and its report format.</summary>
internal static partial class Program
{
    /// <summary>Prints the median and tail of a set of timings in microseconds.</summary>
    internal static void Report(string what, double[] microseconds)
    {
        var sorted = microseconds.Order().ToArray();
        double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what}: median {P(0.5):F1} us, p90 {P(0.9):F1} us, p99 {P(0.99):F1} us, max {sorted[^1]:F1} us"));
    }
}
