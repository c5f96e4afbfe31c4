using System.Diagnostics;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Nvml;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>Every NVML return code, known to this build or added by a newer driver, is reported with its number and never throws.</summary>
public sealed class NvmlReturnCodeTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    [Theory]
    [InlineData(NvmlReturn.NotSupported, "not_supported")]
    [InlineData(NvmlReturn.VgpuEccNotSupported, "vgpu_ecc_not_supported")]
    [InlineData(NvmlReturn.ArgumentVersionMismatch, "argument_version_mismatch")]
    [InlineData(NvmlReturn.ResetTypeNotSupported, "reset_type_not_supported")]
    [InlineData(NvmlReturn.Unknown, "unknown")]
    [InlineData((NvmlReturn)31, "error_31")]
    [InlineData((NvmlReturn)4242, "error_4242")]
    [InlineData((NvmlReturn)(-1), "error_-1")]
    public void A_code_is_named_or_numbered(NvmlReturn code, string reason) =>
        Assert.Equal(reason, NvmlReturns.Reason(code));

    [Fact]
    public void Codes_newer_than_this_build_make_the_series_unavailable_with_their_number_and_sampling_goes_on()
    {
        using var fake = new FakeNvml(build, """
            0 error nvmlDeviceGetComputeRunningProcesses_v3 42
            1 error nvmlDeviceGetPowerUsage 31
            2 fielderr 82 57
            3 error nvmlDeviceGetTotalEccErrors 27
            """);
        var log = new ListLogger();
        using var gpu = GpuCollectorTests.Create(fake, log);

        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        var f = gpu.Frame;

        Assert.Equal(1, f.Value("gpu_nvml_up"));
        Assert.Equal(8, f.Find("gpu_up").Count(s => s.Value == 1));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "device=0", "counter=gpu_process_memory_used_bytes", "reason=error_42"));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "device=1", "counter=gpu_power_watts", "reason=error_31"));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "device=2", "counter=gpu_memory_temperature_celsius", "reason=error_57"));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "device=3", "counter=gpu_ecc_errors_total:corrected:volatile", "reason=not_ready"));
        Assert.True(double.IsNaN(f.Value("gpu_power_watts", "gpu=1")));
        Assert.Equal(300, f.Value("gpu_power_watts", "gpu=0"));
        Assert.Equal(53, f.Value("gpu_memory_temperature_celsius", "gpu=3"));
    }
}
