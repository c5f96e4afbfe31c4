using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>
/// The built efa-agent process with the fake libnvidia-ml.so.1 (through the production binding) and
/// the p4d fixture tree, scraped on 127.0.0.1: golden output (tests/golden/e2e/p4d-gpu.prom,
/// UPDATE_GOLDEN=1 rewrites it) and promtool check metrics.
/// </summary>
public sealed class GpuEndToEndTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    // Eight A100s of a p4d.24xlarge; GPU 2 has no memory temperature (NOT_SUPPORTED, as on an A100),
    // GPU 5 is lost, GPU 6 runs a process. The R580 branch: throttle times from fields 251-253.
    private const string Scenario = """
        count 8
        driver 580.95.05
        nvml 12.580.95.05
        * set name NVIDIA A100-SXM4-40GB
        * set util 93
        * set memutil 41
        * set mem_total 42949672960
        * set mem_used 38654705664
        * set power_mw 371000
        * set energy_mj 5000000000
        * set temp 61
        * set sm_mhz 1410
        * set mem_mhz 1215
        * field 82 67
        * field 138 123456
        * field 139 654321
        * field 197 1048576
        * field 198 2097152
        2 fielderr 82 3
        5 lost 15
        6 procs 4242:1073741824
        """;

    [Fact]
    public async Task Agent_with_the_fake_NVML_serves_the_golden_GPU_exposition_and_passes_promtool()
    {
        using var nvml = new FakeNvml(build, Scenario);
        await using var agent = AgentProcess.Start(
        [
            "--path.sysfs=" + Repo.Fixture("p4d-postsplit", "sys"),
            "--path.procfs=" + Repo.Fixture("p4d-postsplit", "proc"),
            "--nvml.library=" + nvml.LibraryPath,
            EndToEndTests.NoEthtool,
            "--sample.interval=100ms",
        ]);
        await agent.WaitHealthyAsync();
        await WaitForNvmlAsync(agent);
        var text = await agent.ScrapeSettledAsync(EndToEndTests.Normalize);

        Promtool.AssertMetricsValid(text);
        Assert.Contains("gpu_nvml_up 1", text, StringComparison.Ordinal);
        Assert.Contains("gpu_up{gpu=\"5\"", text, StringComparison.Ordinal);
        Golden.AssertMatches("e2e/p4d-gpu.prom", ByFamily(EndToEndTests.Normalize(text)));
    }

    /// <summary>
    /// The exposition with its families in name order: the order of first publication depends on
    /// whether NVML's first discovery finished before the first tick, which the GPU lane no longer waits for.
    /// </summary>
    internal static string ByFamily(string exposition)
    {
        var blocks = new List<string>();
        var current = new System.Text.StringBuilder();
        foreach (var line in exposition.TrimEnd('\n').Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal) && current.Length > 0)
            {
                blocks.Add(current.ToString());
                current.Clear();
            }

            current.Append(line).Append('\n');
        }

        blocks.Add(current.ToString());
        return string.Concat(blocks.Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The GPU lane runs on its own time: the first ticks may be published before NVML's initialisation
    /// and first discovery are done (gpu_nvml_up 0 until then).
    /// </summary>
    internal static async Task WaitForNvmlAsync(AgentProcess agent)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!(await agent.ScrapeAsync()).Contains("\ngpu_nvml_up 1", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "NVML did not come up within 20 s");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Agent_without_NVML_reports_the_GPU_collector_absent_and_serves_everything_else()
    {
        using var dir = new TempDir();
        await using var agent = AgentProcess.Start(
        [
            "--path.sysfs=" + Repo.Fixture("p4d-postsplit", "sys"),
            "--path.procfs=" + Repo.Fixture("p4d-postsplit", "proc"),
            "--nvml.library=" + dir.Combine("libnvidia-ml.so.1"),
        ]);
        await agent.WaitHealthyAsync();
        var text = await agent.ScrapeAsync();

        Assert.Contains("gpu_nvml_up 0", text, StringComparison.Ordinal);
        Assert.DoesNotContain("gpu_up{", text, StringComparison.Ordinal);
        Assert.Contains("efa_port_tx_bytes_total{device=\"rdmap16s27\",port=\"1\"}", text, StringComparison.Ordinal);
        Assert.Contains("netdev_receive_bytes_total{device=\"ens32\"}", text, StringComparison.Ordinal);
        Assert.Single(agent.Output.Split('\n'), l => l.Contains("NVML is not available", StringComparison.Ordinal));
    }
}
