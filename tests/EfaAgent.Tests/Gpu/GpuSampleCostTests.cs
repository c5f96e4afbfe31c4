using System.Diagnostics;
using System.Globalization;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Interop;
using EfaAgent.Tests.Support;
using Xunit.Abstractions;

namespace EfaAgent.Tests.Gpu;

/// <summary>
/// The cost of one <see cref="GpuCollector.Sample"/> with eight fake GPUs: a figure to read, not a
/// pass/fail bound (only the allocation is pinned, by <see cref="GpuCollectorTests"/>). To see it:
/// <c>dotnet test -c Release --filter Category=Benchmark --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class GpuSampleCostTests(FakeNvmlBuild build, ITestOutputHelper output) : IClassFixture<FakeNvmlBuild>
{
    private const int Warmup = 300;
    private const int Ticks = 3000;

    [Fact]
    [Trait("Category", "Benchmark")]
    public void Measures_the_cost_of_a_tick_with_eight_fake_gpus()
    {
        using var fake = new FakeNvml(build);
        using var gpu = new GpuCollector(GpuCollectorTests.Options(fake.LibraryPath), new ListLogger());
        gpu.Discover();
        for (var i = 0; i < Warmup; i++)
        {
            gpu.Sample(Stopwatch.GetTimestamp());
        }

        var calls = fake.Calls("nvmlDeviceGetPowerUsage");
        var nativeBefore = DeviceCalls(fake);
        var times = new double[Ticks];
        var workerBefore = gpu.WorkerAllocatedBytes;
        var callerBefore = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Ticks; i++)
        {
            var start = Stopwatch.GetTimestamp();
            gpu.Sample(start);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        var callerBytes = (GC.GetAllocatedBytesForCurrentThread() - callerBefore) / (double)Ticks;
        var workerBytes = (gpu.WorkerAllocatedBytes - workerBefore) / (double)Ticks;
        var nativeCalls = (DeviceCalls(fake) - nativeBefore) / Ticks;
        Assert.Equal(calls + (8UL * Ticks), fake.Calls("nvmlDeviceGetPowerUsage"));
        Array.Sort(times);

        var perCall = FakeCallMicroseconds(fake);
        var simulated = SimulatedMedian();
        var report = string.Create(CultureInfo.InvariantCulture, $"""
            GpuCollector.Sample, 8 fake GPUs, {Ticks} ticks ({Build()} build):
              median {times[Ticks / 2]:F1} us, p90 {times[Ticks * 9 / 10]:F1} us, p99 {times[Ticks * 99 / 100]:F1} us, min {times[0]:F1} us
              allocated per tick: caller {callerBytes:F1} B, worker {workerBytes:F1} B
              native calls per tick: {nativeCalls:F1}; one fake call through the binding: {perCall:F2} us
              the same collector over SimulatedNvml (no native calls): median {simulated:F1} us
            """);
        output.WriteLine(report);
        Console.WriteLine(report);
    }

    private static string Build() =>
        typeof(GpuCollector).Assembly.GetCustomAttributes(typeof(DebuggableAttribute), false) is [DebuggableAttribute { IsJITOptimizerDisabled: true }, ..]
            ? "Debug"
            : "Release";

    /// <summary>Calls so far of every device entry point the fast lane uses.</summary>
    private static double DeviceCalls(FakeNvml fake)
    {
        string[] functions =
        [
            "nvmlDeviceGetSamples", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetPowerUsage",
            "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetTemperature", "nvmlDeviceGetClockInfo",
            "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetFieldValues",
        ];
        return functions.Sum(f => (double)fake.Calls(f));
    }

    /// <summary>The collector and its thread hand-off alone: the managed simulator has no native calls.</summary>
    private static double SimulatedMedian()
    {
        using var gpu = new GpuCollector(GpuCollectorTests.Options("unused"), () => new SimulatedNvml(), new ListLogger());
        gpu.Discover();
        var times = new double[Ticks];
        for (var i = -Warmup; i < Ticks; i++)
        {
            var start = Stopwatch.GetTimestamp();
            gpu.Sample(start);
            if (i >= 0)
            {
                times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }

        Array.Sort(times);
        return times[Ticks / 2];
    }

    /// <summary>The fake's own cost per call (a mutex and a stat of the scenario file) through the binding.</summary>
    private static double FakeCallMicroseconds(FakeNvml fake)
    {
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);
        nvml.Init();
        nvml.GetDeviceByIndex(0, out var device);
        const int N = 20000;
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < N; i++)
        {
            device!.GetPowerUsage(out _);
        }

        var us = Stopwatch.GetElapsedTime(start).TotalMicroseconds / N;
        nvml.Shutdown();
        return us;
    }
}
