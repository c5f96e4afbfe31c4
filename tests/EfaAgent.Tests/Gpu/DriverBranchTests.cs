using System.Diagnostics;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>
/// Field ids whose meaning depends on the driver branch, against a fake that answers each id the way
/// that branch's header defines it (and NOT_SUPPORTED where it does not define it).
/// </summary>
public sealed class DriverBranchTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    private const string Throttled = """
        * set throttle_sw_thermal 3000000000
        * set throttle_hw_thermal 2000000000
        * set throttle_hw_power_brake 1000000000
        * field 74 7000000000
        * field 76 500000000
        * field 197 4096
        1 nvlink_errors 38 0 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 3
        1 nvlink_errors 52 9
        """;

    [Theory]
    [InlineData("580.65.06", 580)]
    [InlineData("590.44.01", 590)]
    [InlineData("550.54.15", 550)]
    [InlineData("simulated-580.95.05", 580)]
    [InlineData("999.99.99-fake", 999)]
    [InlineData("", 0)]
    [InlineData("n/a", 0)]
    public void The_branch_is_the_major_version(string version, int major) =>
        Assert.Equal(major, DriverBranch.Major(version));

    [Theory]
    [InlineData("575.51.03")]
    [InlineData("580.95.05")]
    [InlineData("590.44.01")]
    [InlineData("595.10.02")]
    public void Throttle_time_per_reason_comes_from_the_fields_of_the_drivers_branch(string driver)
    {
        var f = SampleOnce(driver);

        Assert.Equal(3.0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=sw_thermal"), 9);
        Assert.Equal(2.0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=hw_thermal"), 9);
        Assert.Equal(1.0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=hw_power_brake"), 9);
        Assert.Equal(7.0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=sw_power_cap"), 9);
        Assert.Equal(0.5, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=sync_boost"), 9);
        Assert.Equal(4096, f.Value("gpu_pcie_transmit_bytes_total", "gpu=0"));
        Assert.Empty(f.Find("efa_agent_unavailable"));
    }

    [Theory]
    [InlineData("535.183.01")]
    [InlineData("550.54.15")]
    [InlineData("570.86.15")]
    public void Before_R575_there_is_no_time_per_reason_but_the_perf_policy_times_are_there(string driver)
    {
        var f = SampleOnce(driver);

        Assert.True(double.IsNaN(f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=sw_thermal")));
        Assert.True(double.IsNaN(f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=hw_thermal")));
        Assert.True(double.IsNaN(f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=hw_power_brake")));
        Assert.Equal(7.0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=sw_power_cap"), 9);
        Assert.Equal(0.5, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=sync_boost"), 9);
        Assert.Equal(0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=thermal"));
        Assert.DoesNotContain(f.Find("efa_agent_unavailable"), s => s.Series.Label("counter").StartsWith("gpu_throttle", StringComparison.Ordinal));
    }

    [Fact]
    public void Before_R555_the_pcie_byte_counters_are_absent_and_named_as_such()
    {
        var f = SampleOnce("550.54.15");

        Assert.True(double.IsNaN(f.Value("gpu_pcie_transmit_bytes_total", "gpu=0")));
        Assert.True(double.IsNaN(f.Value("gpu_pcie_receive_bytes_total", "gpu=0")));
    }

    [Theory]
    [InlineData("550.54.15")]
    [InlineData("580.95.05")]
    [InlineData("590.44.01")]
    public void NVLink_error_totals_are_the_sum_over_the_gpus_links(string driver)
    {
        var f = SampleOnce(driver);

        Assert.Equal(5, f.Value("gpu_nvlink_errors_total", "gpu=1", "type=crc_flit"));
        Assert.Equal(9, f.Value("gpu_nvlink_errors_total", "gpu=1", "type=replay"));
        Assert.Equal(0, f.Value("gpu_nvlink_errors_total", "gpu=0", "type=crc_flit"));
    }

    [Fact]
    public void A_gpu_without_NVLink_has_no_NVLink_error_series()
    {
        using var fake = new FakeNvml(build, "2 fielderr 91 3\n");
        using var gpu = GpuCollectorTests.Create(fake, new ListLogger());
        gpu.Discover();
        var f = gpu.Frame;

        Assert.True(double.IsNaN(f.Value("gpu_nvlink_errors_total", "gpu=2", "type=replay")));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "device=2", "counter=gpu_nvlink_errors_total:replay", "reason=not_supported"));
        Assert.Equal(0, f.Value("gpu_nvlink_errors_total", "gpu=3", "type=replay"));
    }

    private Collectors.Model.Frame SampleOnce(string driver)
    {
        using var fake = new FakeNvml(build, $"driver {driver}\n{Throttled}");
        using var gpu = GpuCollectorTests.Create(fake, new ListLogger());
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        var frame = gpu.Frame;
        return new Collectors.Model.Frame(frame.Layout, frame.Values.ToArray());
    }
}
