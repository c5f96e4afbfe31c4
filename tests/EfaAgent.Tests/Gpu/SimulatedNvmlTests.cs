using System.Diagnostics;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>The demo's simulated node, through the real collector.</summary>
public sealed class SimulatedNvmlTests
{
    [Fact]
    public void Shows_eight_gpus_whose_every_name_says_simulated()
    {
        var time = new ManualTime();
        using var gpu = new GpuCollector(GpuCollectorTests.Options("unused"), () => new SimulatedNvml(time: time), new ListLogger());

        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());

        var f = gpu.Frame;
        Assert.Equal(8, gpu.DeviceCount);
        Assert.Equal(1, f.Value("gpu_nvml_up"));
        var infos = f.Find("gpu_info");
        Assert.Equal(8, infos.Count);
        foreach (var (series, _) in infos)
        {
            foreach (var label in new[] { "uuid", "pci_bus_id", "name", "driver_version", "nvml_version" })
            {
                Assert.Contains("simulated", series.Label(label), StringComparison.Ordinal);
            }
        }

        Assert.All(f.Find("gpu_up"), s => Assert.Equal(1, s.Value));
        Assert.Equal(8, f.Find("gpu_process_memory_used_bytes").Count);
    }

    [Fact]
    public void Values_move_like_a_training_job_over_time()
    {
        var time = new ManualTime();
        using var gpu = new GpuCollector(GpuCollectorTests.Options("unused"), () => new SimulatedNvml(time: time), new ListLogger());
        gpu.Discover();
        gpu.Sample(0);
        var energy0 = gpu.Frame.Value("gpu_energy_joules_total", "gpu=0");

        var utilisation = new List<double>();
        var nvlink = new List<double>();
        for (var i = 0; i < 40; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            gpu.Sample(0);
            utilisation.Add(gpu.Frame.Value("gpu_utilization_ratio", "gpu=0"));
            nvlink.Add(gpu.Frame.Value("gpu_nvlink_transmit_bytes_total", "gpu=0"));
        }

        gpu.Discover();
        var f = gpu.Frame;
        Assert.True(f.Value("gpu_energy_joules_total", "gpu=0") > energy0 + 1000, "10 s at several hundred watts");
        Assert.True(utilisation.Distinct().Count() > 1, "utilisation dips at each all-reduce");
        Assert.All(utilisation, u => Assert.InRange(u, 0, 1));
        Assert.True(nvlink[^1] > nvlink[0], "NVLink bytes climb");
        Assert.InRange(f.Value("gpu_power_watts", "gpu=0"), 80, 700);
        Assert.InRange(f.Value("gpu_temperature_celsius", "gpu=0"), 30, 90);
        Assert.True(f.Value("gpu_memory_used_bytes", "gpu=0") > 60e9);

        // The checkpoint near the end of each two minutes: idle GPUs, PCIe traffic.
        time.Advance(TimeSpan.FromSeconds(115) - TimeSpan.FromSeconds(10));
        gpu.Sample(0);
        Assert.Equal(1, gpu.Frame.Value("gpu_clock_event_active", "gpu=0", "reason=gpu_idle"));
    }

    [Fact]
    public void An_injected_xid_is_counted()
    {
        var nvml = new SimulatedNvml();
        using var gpu = new GpuCollector(GpuCollectorTests.Options("unused"), () => nvml, new ListLogger());
        gpu.Discover();

        nvml.InjectXid(3, 79);
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 5;
        while (Stopwatch.GetTimestamp() < deadline && gpu.Frame.Value("gpu_xid_errors_total", "gpu=3", "xid=79") == 0)
        {
            Thread.Sleep(20);
            gpu.Sample(0);
        }

        Assert.Equal(1, gpu.Frame.Value("gpu_xid_errors_total", "gpu=3", "xid=79"));
    }
}
