using System.Diagnostics;
using System.Globalization;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Interop;
using Microsoft.Extensions.Logging.Abstractions;

namespace EfaAgent.Bench;

/// <summary>
/// The cost of one GPU collector tick with eight GPUs behind the real NVML binding: the fake
/// libnvidia-ml.so.1 of the tests (tests/native/fake_nvml*.c), built here with the machine's C compiler.
/// The fake costs about a microsecond a call itself (a mutex and a stat of its scenario file), so the
/// same collector over the managed simulator is measured too: that is the collector and its worker
/// hand-off alone.
/// </summary>
internal static class GpuBench
{
    private const int Warmup = 300;

    public static void Run(string repo, int ticks)
    {
        var dir = Directory.CreateTempSubdirectory("efa-agent-bench-nvml-").FullName;
        try
        {
            var library = Path.Combine(dir, "libnvidia-ml.so.1");
            Compile(Path.Combine(repo, "tests", "native"), library);
            File.WriteAllText(Path.Combine(dir, "fake_nvml.scenario"), "count 8\n");
            var options = new GpuCollectorOptions(library, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10), "/nonexistent-sysfs");

            using (var gpu = new GpuCollector(options, () => NvmlLibrary.Load(library), NullLogger.Instance))
            {
                var (times, caller, worker) = Measure(gpu, ticks);
                Console.WriteLine($"GPU collector, 8 GPUs through the binding and the fake libnvidia-ml ({ticks} ticks after {Warmup} warm-up):");
                Program.Report("  gpu     Sample()", times);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  bytes allocated per tick: sampling thread {caller:F1}, NVML worker thread {worker:F1}"));
            }

            using (var simulated = new GpuCollector(options, () => new SimulatedNvml(), NullLogger.Instance))
            {
                var (times, _, _) = Measure(simulated, ticks);
                Program.Report("  gpu     Sample() over the simulator (no native calls)", times);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (double[] Times, double Caller, double Worker) Measure(GpuCollector gpu, int ticks)
    {
        gpu.Discover();
        for (var i = 0; i < Warmup; i++)
        {
            gpu.Sample(Stopwatch.GetTimestamp());
        }

        var times = new double[ticks];
        var worker = gpu.WorkerAllocatedBytes;
        var caller = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < ticks; i++)
        {
            var start = Stopwatch.GetTimestamp();
            gpu.Sample(start);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        return (times, (GC.GetAllocatedBytesForCurrentThread() - caller) / (double)ticks, (gpu.WorkerAllocatedBytes - worker) / (double)ticks);
    }

    private static void Compile(string directory, string output)
    {
        var sources = Directory.GetFiles(directory, "fake_nvml*.c");
        Array.Sort(sources, StringComparer.Ordinal);
        var psi = new ProcessStartInfo("cc") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-shared", "-fPIC", "-O2", "-o", output }.Concat(sources).Append("-lpthread"))
        {
            psi.ArgumentList.Add(a);
        }

        using var cc = Process.Start(psi)!;
        var errors = cc.StandardError.ReadToEnd();
        cc.WaitForExit();
        if (cc.ExitCode != 0)
        {
            throw new InvalidOperationException($"cc failed on {string.Join(' ', sources)}:\n{errors}");
        }
    }
}
