using System.Net;
using System.Net.Sockets;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Faults;

/// <summary>
/// The agent process against what its surroundings do: a port already taken, a signal it did not
/// expect, clients that do not only GET, a low open-file limit, a file name that tries to write the
/// exposition.
/// </summary>
public sealed class HostileProcessTests
{
    [Fact]
    public async Task A_port_already_in_use_is_one_line_naming_the_address_and_exit_code_2()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using var agent = AgentProcess.Start(["--no-collector.gpu", $"--web.listen-address=127.0.0.1:{port}"], addListenAddress: false);
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(30)));

        Assert.Equal(2, agent.ExitCode);
        var lines = agent.Output.Trim().Split('\n');
        Assert.Single(lines);
        Assert.Contains($"cannot serve /metrics on 127.0.0.1:{port}: address already in use", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_address_that_is_not_on_this_host_is_one_line_and_exit_code_2()
    {
        // 192.0.2.0/24 is TEST-NET-1: never assigned to a host. Nothing is sent: bind fails locally.
        await using var agent = AgentProcess.Start(["--no-collector.gpu", "--web.listen-address=192.0.2.1:19400"], addListenAddress: false);
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(30)));

        Assert.Equal(2, agent.ExitCode);
        Assert.Single(agent.Output.Trim().Split('\n'));
        Assert.Contains("cannot serve /metrics on 192.0.2.1:19400: cannot assign requested address", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_privileged_port_as_an_unprivileged_user_is_one_line_and_exit_code_2()
    {
        var setpriv = ChildProcess.FindOnPath("setpriv") ?? throw new InvalidOperationException("setpriv not found: install util-linux");
        await using var agent = AgentProcess.StartThrough(
            [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--"],
            ["--no-collector.gpu", "--web.listen-address=127.0.0.1:80"], addListenAddress: false, executable: OtherUsers.Executable);
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(30)));

        Assert.Equal(2, agent.ExitCode);
        Assert.Single(agent.Output.Trim().Split('\n'));
        Assert.Contains("cannot serve /metrics on 127.0.0.1:80: permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE)", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SIGHUP_is_logged_and_ignored()
    {
        await using var agent = EndToEndTests.StartOn("p4d-postsplit");
        await agent.WaitHealthyAsync();
        agent.Signal(1);

        // The log line comes when the runtime has dispatched the signal: waited for, not timed.
        Assert.True(await agent.WaitForOutputAsync("SIGHUP received and ignored", TimeSpan.FromSeconds(30)), $"no log line for SIGHUP:\n{agent.Output}");
        Assert.False(agent.HasExited, $"the agent exited on SIGHUP:\n{agent.Output}");
        Assert.Contains("efa_port_tx_bytes_total", await agent.ScrapeAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("TRACE")]
    [InlineData("PATCH")]
    public async Task Methods_other_than_GET_and_HEAD_are_answered_405(string method)
    {
        await using var agent = EndToEndTests.StartOn("p4d-postsplit");
        await agent.WaitHealthyAsync();
        foreach (var path in new[] { "/metrics", "/", "/healthz" })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            using var response = await agent.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Contains("GET", response.Content.Headers.Allow);
            Assert.DoesNotContain("efa_port_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task HEAD_is_answered_like_GET_without_a_body()
    {
        await using var agent = EndToEndTests.StartOn("p4d-postsplit");
        await agent.WaitHealthyAsync();
        foreach (var path in new[] { "/metrics", "/", "/healthz" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Head, path);
            using var response = await agent.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        }
    }

    [Fact]
    public async Task Other_paths_are_404_naming_metrics_and_the_served_paths_ignore_case_and_a_trailing_slash()
    {
        await using var agent = EndToEndTests.StartOn("p4d-postsplit");
        await agent.WaitHealthyAsync();
        foreach (var path in new[] { "/metricsx", "/metrics/x", "/api/v1/query", "/%2e%2e/etc/passwd" })
        {
            using var response = await agent.Http.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("/metrics", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        foreach (var path in new[] { "/metrics/", "/METRICS", "/Healthz/" })
        {
            using var response = await agent.Http.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Contains("efa_port_", await agent.Http.GetStringAsync(new Uri("/metrics/", UriKind.Relative)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_a_low_open_file_limit_the_devices_stay_and_the_limit_is_named()
    {
        // 1,152 counter files on the p5 fixture; a hard limit of 512 leaves the agent short of descriptors.
        var prlimit = ChildProcess.FindOnPath("prlimit") ?? throw new InvalidOperationException("prlimit not found: install util-linux");
        await using var agent = AgentProcess.StartThrough([prlimit, "--nofile=512:512", "--"], Fixture("p5-617"));
        await agent.WaitHealthyAsync();
        var text = await agent.ScrapeAsync();

        Assert.Contains("efa_devices 32\n", text, StringComparison.Ordinal);
        Assert.Contains("the open-file limit is 512", agent.Output, StringComparison.Ordinal);
        Assert.Contains("reason=\"read_error\"", text, StringComparison.Ordinal); // what did not fit is named, not dropped
    }

    [Fact]
    public async Task A_soft_open_file_limit_below_the_hard_one_is_raised_at_start()
    {
        var prlimit = ChildProcess.FindOnPath("prlimit") ?? throw new InvalidOperationException("prlimit not found: install util-linux");
        await using var agent = AgentProcess.StartThrough([prlimit, "--nofile=512:8192", "--"], Fixture("p5-617"));
        await agent.WaitHealthyAsync();
        var text = await agent.ScrapeAsync();

        Assert.Contains("efa_devices 32\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("reason=\"read_error\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("open-file limit is", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_counter_file_name_cannot_add_a_line_to_the_exposition()
    {
        using var tmp = new TempDir();
        var sys = Path.Combine(tmp.CopyFrom(Repo.Fixture("p4d-postsplit"), "host"), "sys");
        var hw = Path.Combine(sys, "class", "infiniband", "rdmap16s27", "ports", "1", "hw_counters");
        File.WriteAllText(Path.Combine(hw, "x\nfake_metric 1"), "1\n");
        File.WriteAllText(Path.Combine(hw, "back\\slash"), "2\n");
        await using var agent = AgentProcess.Start(["--path.sysfs=" + sys, "--path.procfs=" + Repo.Fixture("p4d-postsplit", "proc"), "--no-collector.gpu"]);
        await agent.WaitHealthyAsync();
        var text = await agent.ScrapeAsync();

        Assert.DoesNotContain(text.Split('\n'), l => l.StartsWith("fake_metric", StringComparison.Ordinal));
        Assert.Contains("efa_port_x_fake_metric_1_total{device=\"rdmap16s27\",port=\"1\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("efa_port_back_slash_total{device=\"rdmap16s27\",port=\"1\"} 2", text, StringComparison.Ordinal);
        Promtool.AssertMetricsValid(text);
        Assert.DoesNotContain("x\nfake_metric", agent.Output, StringComparison.Ordinal); // nor a line to the log
    }

    private static string[] Fixture(string name) =>
    [
        "--path.sysfs=" + Repo.Fixture(name, "sys"),
        "--path.procfs=" + Repo.Fixture(name, "proc"),
        "--no-collector.gpu",
        "--sample.interval=100ms",
    ];
}
