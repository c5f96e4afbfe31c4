using System.Diagnostics;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Nvml;
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
    // As an H200 on driver 580.159.04 answers: 251-253 NOT_SUPPORTED, 269-271 nanosecond counters.
    [InlineData("580.159.04", "throttle_fields 269\n* fielderr 251 3\n* fielderr 252 3\n* fielderr 253 3\n")]
    // Still at 251-253 on R590: 269-271 then hold power-smoothing settings (1, 2, 3), wrong as seconds.
    [InlineData("590.44.01", "throttle_fields 251\n")]
    public void A_driver_that_answers_the_times_at_the_ids_of_the_other_branch_is_read_there(string driver, string scenario)
    {
        var f = SampleOnce(driver, scenario);

        Assert.Equal(3.0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=sw_thermal"), 9);
        Assert.Equal(2.0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=hw_thermal"), 9);
        Assert.Equal(1.0, f.Value("gpu_throttle_seconds_total", "gpu=0", "reason=hw_power_brake"), 9);
        Assert.Empty(f.Find("efa_agent_unavailable"));
    }

    [Theory]
    [InlineData(580, ClockEventIds.Fields251)]
    [InlineData(590, ClockEventIds.Fields269)]
    public void Where_both_sets_answer_as_counters_the_branch_decides(int major, ClockEventIds expected)
    {
        var probe = Probe(NvmlReturn.Success, NvmlValueType.UnsignedLongLong, NvmlReturn.Success, NvmlValueType.UnsignedLongLong);

        Assert.Equal(expected, DriverBranch.ChooseClockEventIds(major, NvmlReturn.Success, probe));
    }

    [Fact]
    public void A_set_answered_as_unsigned_ints_is_a_setting_not_a_time()
    {
        var probe = Probe(NvmlReturn.Success, NvmlValueType.UnsignedInt, NvmlReturn.Success, NvmlValueType.UnsignedLongLong);
        Assert.Equal(ClockEventIds.Fields269, DriverBranch.ChooseClockEventIds(580, NvmlReturn.Success, probe));

        probe = Probe(NvmlReturn.Success, NvmlValueType.UnsignedLongLong, NvmlReturn.Success, NvmlValueType.UnsignedInt);
        Assert.Equal(ClockEventIds.Fields251, DriverBranch.ChooseClockEventIds(590, NvmlReturn.Success, probe));

        probe = Probe(NvmlReturn.Success, NvmlValueType.UnsignedInt, NvmlReturn.NotSupported, NvmlValueType.UnsignedLongLong);
        Assert.Equal(ClockEventIds.None, DriverBranch.ChooseClockEventIds(590, NvmlReturn.Success, probe));
    }

    [Fact]
    public void A_failed_probe_is_asked_again_and_a_missing_entry_point_settles_it()
    {
        var lost = Probe(NvmlReturn.GpuIsLost, NvmlValueType.UnsignedLongLong, NvmlReturn.GpuIsLost, NvmlValueType.UnsignedLongLong);
        Assert.Equal(ClockEventIds.Unknown, DriverBranch.ChooseClockEventIds(580, NvmlReturn.Success, lost));
        Assert.Equal(ClockEventIds.Unknown, DriverBranch.ChooseClockEventIds(580, NvmlReturn.Timeout, new NvmlFieldValue[6]));
        Assert.Equal(ClockEventIds.None, DriverBranch.ChooseClockEventIds(580, NvmlReturn.FunctionNotFound, new NvmlFieldValue[6]));
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

    private static NvmlFieldValue[] Probe(NvmlReturn oldResult, NvmlValueType oldType, NvmlReturn movedResult, NvmlValueType movedType) =>
    [
        .. DriverBranch.ClockEventProbe.Select((id, i) => new NvmlFieldValue(id)
        {
            Result = i < 3 ? oldResult : movedResult,
            ValueType = i < 3 ? oldType : movedType,
        }),
    ];

    private Collectors.Model.Frame SampleOnce(string driver, string extra = "")
    {
        using var fake = new FakeNvml(build, $"driver {driver}\n{extra}{Throttled}");
        using var gpu = GpuCollectorTests.Create(fake, new ListLogger());
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        var frame = gpu.Frame;
        return new Collectors.Model.Frame(frame.Layout, frame.Values.ToArray());
    }
}
