using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>
/// The built efa-agent process on the fixture trees, scraped over 127.0.0.1. The exposition is
/// compared with tests/golden/e2e/&lt;fixture&gt;.prom (UPDATE_GOLDEN=1 rewrites them) after the values
/// that change from run to run (durations, timestamps, tick counts, the runtime version) are masked,
/// and checked by <c>promtool check metrics</c>.
/// </summary>
public partial class EndToEndTests
{
    private static readonly HashSet<string> VolatileFamilies =
    [
        "efa_agent_collector_duration_seconds",
        "efa_agent_last_sample_timestamp_seconds",
        "efa_agent_tick_duration_seconds",
        "efa_agent_ticks_total",
        "efa_agent_tick_overruns_total",
        "efa_agent_start_time_seconds",
        "efa_agent_exposition_renders_total",
    ];

    public static TheoryData<string> Fixtures => new() { "p4d-postsplit", "p5-617", "presplit-4x", "mlx5-beside-efa", "malformed" };

    [Theory]
    [MemberData(nameof(Fixtures))]
    public async Task Agent_on_a_fixture_tree_serves_the_golden_exposition_and_passes_promtool(string fixture)
    {
        await using var agent = StartOn(fixture);
        await agent.WaitHealthyAsync();
        var text = await agent.ScrapeSettledAsync(EndToEndTests.Normalize);

        Promtool.AssertMetricsValid(text);
        Golden.AssertMatches($"e2e/{fixture}.prom", Normalize(text));
    }

    [Fact]
    public async Task Scrape_negotiates_OpenMetrics_when_asked()
    {
        await using var agent = StartOn("p4d-postsplit");
        await agent.WaitHealthyAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse("application/openmetrics-text; version=1.0.0; charset=utf-8"));
        using var response = await agent.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal("application/openmetrics-text", response.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("# EOF\n", body, StringComparison.Ordinal);
        Assert.Contains("efa_port_tx_bytes_total{device=\"rdmap16s27\",port=\"1\"}", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Landing_page_links_the_metrics_and_lists_the_collectors()
    {
        await using var agent = StartOn("p4d-postsplit");
        await agent.WaitHealthyAsync();
        var page = await agent.Http.GetStringAsync(new Uri("/", UriKind.Relative));

        Assert.Contains("href=\"/metrics\"", page, StringComparison.Ordinal);
        Assert.Matches(@"<td>efa</td><td>4</td>", page);
        Assert.Contains("<td>netdev</td>", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SIGTERM_stops_the_agent_cleanly_with_exit_code_0()
    {
        var agent = StartOn("p4d-postsplit");
        await using (agent)
        {
            await agent.WaitHealthyAsync();
            agent.Signal(15);

            Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(10)), "the agent did not exit after SIGTERM");
            Assert.Equal(0, agent.ExitCode);
            Assert.Contains("sampling stopped", agent.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_no_RDMA_devices_it_still_serves_this_machines_interfaces_and_says_so()
    {
        using var empty = new TempDir();
        await using var agent = AgentProcess.Start(["--path.sysfs=" + empty.Path, "--no-collector.gpu"]);
        await agent.WaitHealthyAsync();
        var text = await agent.ScrapeAsync();

        Assert.Contains("netdev_receive_bytes_total{device=\"lo\"}", text, StringComparison.Ordinal);
        Assert.Contains("efa_devices 0", text, StringComparison.Ordinal);
        Assert.Contains("efa_agent_collector_success{collector=\"efa\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("no RDMA devices under", agent.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--sample.interval=5x", "invalid --sample.interval \"5x\": expected a duration such as 250ms, 5s or 1m, from 10ms to 1m")]
    [InlineData("--sample.interval=2m", "invalid --sample.interval \"2m\"")]
    [InlineData("--web.listen-address=nowhere", "invalid --web.listen-address \"nowhere\": expected [host]:port")]
    [InlineData("--path.sysfs=/does/not/exist", "invalid --path.sysfs \"/does/not/exist\": expected an existing directory")]
    [InlineData("--log.format=xml", "invalid --log.format \"xml\": expected text or json")]
    [InlineData("--collector.netdev.device-include=(", "invalid --collector.netdev.device-include \"(\": expected a regular expression")]
    [InlineData("--frobnicate", "unknown flag --frobnicate")]
    public async Task A_bad_setting_stops_the_start_with_one_line_naming_it_and_exit_code_2(string flag, string message)
    {
        await using var agent = AgentProcess.Start([flag], addListenAddress: false);
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(30)));

        Assert.Equal(2, agent.ExitCode);
        var lines = agent.Output.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("efa-agent: " + message, lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broken_config_file_is_a_bad_setting_too()
    {
        using var dir = new TempDir();
        var path = dir.Combine("config.json");
        await File.WriteAllTextAsync(path, "{\"sample.interval\": \"250ms\", \"sample.intervall\": \"1s\"}");
        await using var agent = AgentProcess.Start(["--config.file=" + path], addListenAddress: false);
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(30)));

        Assert.Equal(2, agent.ExitCode);
        Assert.Contains("unknown setting \"sample.intervall\"", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Settings_come_from_the_config_file_then_the_environment_then_flags()
    {
        using var dir = new TempDir();
        var path = dir.Combine("config.json");
        await File.WriteAllTextAsync(path, "{\"sample.interval\": \"100ms\", \"burst.window\": \"30s\"}");
        await using var agent = AgentProcess.Start(
            ["--config.file=" + path, "--path.sysfs=" + Repo.Fixture("p4d-postsplit", "sys"), "--no-collector.gpu", "--sample.interval=200ms"],
            new Dictionary<string, string> { ["EFA_AGENT_SAMPLE_INTERVAL"] = "150ms", ["EFA_AGENT_COLLECTOR_NETDEV"] = "false" });
        await agent.WaitHealthyAsync();
        var text = await agent.ScrapeAsync();

        Assert.Contains("efa_agent_sample_interval_seconds 0.2\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("netdev_", text, StringComparison.Ordinal);
        Assert.Contains("efa_port_tx_bytes_total", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_systemd_each_log_line_carries_its_journald_priority()
    {
        await using var agent = AgentProcess.Start(
            ["--path.sysfs=" + Repo.Fixture("malformed", "sys"), "--path.procfs=" + Repo.Fixture("malformed", "proc"), "--no-collector.gpu"],
            new Dictionary<string, string> { ["JOURNAL_STREAM"] = "8:12345" });
        await agent.WaitHealthyAsync();

        var lines = agent.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, l => Assert.Matches("^<[0-7]>", l));
        Assert.Contains(lines, l => l.StartsWith("<6>", StringComparison.Ordinal) && l.Contains("starting", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("<4>", StringComparison.Ordinal) && l.Contains("not exported", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Json_logs_are_one_object_per_line()
    {
        await using var agent = AgentProcess.Start(["--path.sysfs=" + Repo.Fixture("p4d-postsplit", "sys"), "--no-collector.gpu", "--log.format=json"]);
        await agent.WaitHealthyAsync();

        var lines = agent.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, l => System.Text.Json.JsonDocument.Parse(l).Dispose());
    }

    /// <summary>
    /// Keeps the ethtool collector off on a fixture tree: it asks this machine's kernel about the tree's
    /// interface names (lo, eth0, ens32), so its answers would depend on the machine, not the fixture.
    /// </summary>
    internal const string NoEthtool = "--no-collector.ethtool";

    internal static AgentProcess StartOn(string fixture, params string[] extra) =>
        AgentProcess.Start(
        [
            "--path.sysfs=" + Repo.Fixture(fixture, "sys"),
            "--path.procfs=" + Repo.Fixture(fixture, "proc"),
            "--no-collector.gpu",
            NoEthtool,
            "--sample.interval=100ms",
            .. extra,
        ]);

    /// <summary>Masks the values that differ between runs; everything else must match exactly.</summary>
    internal static string Normalize(string exposition)
    {
        var lines = exposition.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.StartsWith('#') || line.Length == 0)
            {
                continue;
            }

            var name = line[..line.IndexOfAny(['{', ' '])];
            if (VolatileFamilies.Contains(name))
            {
                lines[i] = line[..line.LastIndexOf(' ')] + " <volatile>";
            }
            else if (name == "efa_agent_build_info")
            {
                lines[i] = DotnetVersion().Replace(Revision().Replace(line, "revision=\"<volatile>\""), "dotnet_version=\"<volatile>\"");
            }
        }

        return string.Join('\n', lines);
    }

    [GeneratedRegex("dotnet_version=\"[^\"]*\"")]
    private static partial Regex DotnetVersion();

    [GeneratedRegex("revision=\"[^\"]*\"")]
    private static partial Regex Revision();
}
