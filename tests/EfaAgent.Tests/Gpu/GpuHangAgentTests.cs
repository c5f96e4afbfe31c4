using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>
/// The agent process with one NVML call hung for longer than the longest --nvml.timeout: the EFA and
/// netdev lanes go on ticking, /healthz stays healthy (so the watchdog is fed), the stall is reported,
/// and SIGTERM stops the agent at once.
/// </summary>
public sealed partial class GpuHangAgentTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    [Fact]
    public async Task A_hung_NVML_call_never_stops_the_EFA_ticks_or_health_and_SIGTERM_is_prompt()
    {
        using var nvml = new FakeNvml(build);
        await using var agent = AgentProcess.Start(
        [
            "--path.sysfs=" + Repo.Fixture("p4d-postsplit", "sys"),
            "--path.procfs=" + Repo.Fixture("p4d-postsplit", "proc"),
            "--nvml.library=" + nvml.LibraryPath,
            "--nvml.timeout=60s",
            "--sample.interval=100ms",
        ]);
        await agent.WaitHealthyAsync();
        await GpuEndToEndTests.WaitForNvmlAsync(agent);

        nvml.Scenario("hang nvmlDeviceGetPowerUsage 120000 0\n");
        var before = Ticks(await agent.ScrapeAsync());
        await Task.Delay(TimeSpan.FromSeconds(3));
        var text = await agent.ScrapeAsync();
        var health = await agent.Http.GetAsync(new Uri("/healthz", UriKind.Relative));

        // 3 s at 100 ms is 30 ticks; a lane held up by the hung call would have made none.
        Assert.True(Ticks(text) - before >= 10, $"ticks went from {before} to {Ticks(text)} while NVML hung");
        Assert.True(health.IsSuccessStatusCode, "/healthz must stay healthy while only NVML hangs");
        Assert.Contains("efa_port_tx_bytes_total{device=\"rdmap16s27\",port=\"1\"}", text, StringComparison.Ordinal);

        var stop = Stopwatch.GetTimestamp();
        agent.Signal(15);
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(5)), "the agent did not stop");
        var took = Stopwatch.GetElapsedTime(stop);
        // The call hangs for two minutes and the unit's TimeoutStopSec is 20 s; the agent stops in about
        // 10 ms here (the call has outlived the shutdown budget). The bound leaves room for a machine
        // loaded by the rest of the suite.
        Assert.True(took < TimeSpan.FromSeconds(3), $"SIGTERM took {took.TotalMilliseconds} ms while NVML hung");
    }

    private static double Ticks(string text) =>
        double.Parse(TicksLine().Match(text).Groups[1].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^efa_agent_ticks_total (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TicksLine();
}
