using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Doctor;

/// <summary>
/// <c>efa-agent doctor</c> on the fixture trees of real machine shapes, GPUs from the fake NVML behind
/// the real binding: the checklist is compared with tests/golden/doctor/ (UPDATE_GOLDEN=1 rewrites it),
/// the JSON is parsed, the exit code is checked. Ports chosen at run time are written back as the
/// defaults (19400 for the agent, 29500 for the rendezvous) so the golden files are stable.
/// </summary>
public sealed class DoctorFixtureTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    private static readonly string[] Statuses = ["ok", "warn", "fail", "skip"];

    [Fact]
    public async Task A_healthy_p4d_with_its_agent_and_a_listening_peer_is_ready()
    {
        using var nvml = DoctorRun.Gpus(build, "p4d-postsplit");
        var roots = DoctorRun.Fixture("p4d-postsplit", nvml.LibraryPath);
        await using var agent = AgentProcess.Start(roots.Where(a => !a.StartsWith("--path.rootfs", StringComparison.Ordinal)));
        await agent.WaitHealthyAsync();
        await WaitForAsync(agent, "gpu_info{");
        using var peer = new TcpListener(IPAddress.Loopback, 0);
        peer.Start();
        var rendezvous = ((IPEndPoint)peer.LocalEndpoint).Port;

        var run = await DoctorRun.RunAsync([.. roots, $"--web.listen-address=127.0.0.1:{agent.Port}", $"--port={rendezvous}", "--peer=127.0.0.1"]);

        var text = Stable(run.Output, agent.Port, rendezvous);
        Golden.AssertMatches("doctor/p4d-healthy.txt", text);
        Assert.Equal(0, run.ExitCode);
        Assert.DoesNotContain("FAIL", text, StringComparison.Ordinal);
        Assert.DoesNotContain("WARN", text, StringComparison.Ordinal);
        Assert.Contains("peer 127.0.0.1:19400 agent same as this node: p4d.24xlarge, 4 EFA devices, NVIDIA driver 535.183.01", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_guides_p4d_with_one_of_four_EFA_devices_fails_and_names_the_stale_rendezvous_process()
    {
        using var nvml = DoctorRun.Gpus(build, "p4d-one-efa");
        var closed = AgentProcess.FreePort();
        var peerPort = closed == 65535 ? closed - 1 : closed + 1; // nothing listens on either (a race with another test at worst shows in the golden diff)
        var args = DoctorRun.Fixture("p4d-one-efa", nvml.LibraryPath).Concat([$"--web.listen-address=127.0.0.1:{closed}", "--port=30000", $"--peer=127.0.0.1:{peerPort}"]).ToArray();

        var run = await DoctorRun.RunAsync(args);
        Golden.AssertMatches("doctor/p4d-one-efa.txt", Stable(run.Output, closed, peerPort, shownRendezvousPort: 30000));
        Assert.Equal(1, run.ExitCode);

        var checks = (await DoctorRun.RunAsync([.. args, "--json"])).Checks();
        Assert.Equal("fail", checks["efa.devices"].Status);
        Assert.Contains("1 of 4 EFA devices", checks["efa.devices"].Detail, StringComparison.Ordinal);
        Assert.Contains("NetworkCardIndex", checks["efa.devices"].Remedy, StringComparison.Ordinal);
        Assert.Equal("fail", checks["memlock"].Status);
        Assert.Equal("warn", checks["port 30000"].Status);
        Assert.Contains("pid 4242", checks["port 30000"].Detail, StringComparison.Ordinal);
        Assert.Contains("user ubuntu since 2026-12-03 09:18:00 UTC", checks["port 30000"].Detail, StringComparison.Ordinal);
        Assert.Contains("kill 4242", checks["port 30000"].Remedy, StringComparison.Ordinal);
        Assert.Equal("warn", checks["gpu.persistence"].Status);
        Assert.Equal("warn", checks[$"peer 127.0.0.1:{peerPort}"].Status);
    }

    [Fact]
    public async Task A_p5en_is_ready_but_warns_about_the_GPU_whose_PCIe_link_runs_at_half_width()
    {
        using var nvml = DoctorRun.Gpus(build, "p5en");
        var closed = AgentProcess.FreePort();
        var run = await DoctorRun.RunAsync([.. DoctorRun.Fixture("p5en", nvml.LibraryPath), $"--web.listen-address=127.0.0.1:{closed}"]);

        var text = Stable(run.Output, closed, closed);
        Golden.AssertMatches("doctor/p5en.txt", text);
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("16 of 16 EFA devices: rdmap85s0 .. rdmap163s0; port ACTIVE, 200 Gb/sec", text, StringComparison.Ordinal);
        Assert.Contains("GPU 5 (0000:db:00.0) x8 of x16", text, StringComparison.Ordinal);
        Assert.Contains("normal for an idle GPU", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_without_EFA_fails_and_skips_the_EFA_software()
    {
        using var nvml = DoctorRun.Gpus(build, "no-efa");
        var closed = AgentProcess.FreePort();
        var run = await DoctorRun.RunAsync([.. DoctorRun.Fixture("no-efa", nvml.LibraryPath), $"--web.listen-address=127.0.0.1:{closed}"]);

        Golden.AssertMatches("doctor/no-efa.txt", Stable(run.Output, closed, closed));
        Assert.Equal(1, run.ExitCode);
        var checks = (await DoctorRun.RunAsync([.. DoctorRun.Fixture("no-efa", nvml.LibraryPath), $"--web.listen-address=127.0.0.1:{closed}", "--json"])).Checks();
        Assert.Equal("fail", checks["efa.devices"].Status);
        Assert.Equal("skip", checks["efa.software"].Status);
        Assert.Equal("warn", checks["memlock"].Status); // no EFA: a limit does not break anything yet
        Assert.Equal("ok", checks["gpu.count"].Status);
    }

    [Fact]
    public async Task Json_has_every_check_with_name_status_detail_and_remedy_a_summary_and_the_exit_code()
    {
        using var nvml = DoctorRun.Gpus(build, "p4d-one-efa");
        var run = await DoctorRun.RunAsync([.. DoctorRun.Fixture("p4d-one-efa", nvml.LibraryPath), $"--web.listen-address=127.0.0.1:{AgentProcess.FreePort()}", "--json"]);

        using var doc = System.Text.Json.JsonDocument.Parse(run.Output);
        var checks = doc.RootElement.GetProperty("checks").EnumerateArray().ToArray();
        Assert.True(checks.Length >= 15, run.Output);
        foreach (var c in checks)
        {
            Assert.Contains(c.GetProperty("status").GetString(), Statuses);
            Assert.False(string.IsNullOrEmpty(c.GetProperty("name").GetString()));
            Assert.False(string.IsNullOrEmpty(c.GetProperty("detail").GetString()));
            var remedy = c.GetProperty("remedy");
            Assert.Equal(c.GetProperty("status").GetString() is "ok" or "skip", remedy.ValueKind == System.Text.Json.JsonValueKind.Null);
        }

        var summary = doc.RootElement.GetProperty("summary");
        Assert.Equal(checks.Count(c => c.GetProperty("status").GetString() == "fail"), summary.GetProperty("fail").GetInt32());
        Assert.Equal(1, doc.RootElement.GetProperty("exit_code").GetInt32());
        Assert.Equal(1, run.ExitCode);
    }

    [Theory]
    [InlineData("p4d-healthy.txt")]
    [InlineData("p4d-one-efa.txt")]
    public void The_READMEs_doctor_output_is_the_golden_output(string golden)
    {
        var readme = File.ReadAllText(Repo.PathTo("README.md"));
        var text = File.ReadAllText(Repo.PathTo("tests", "golden", "doctor", golden)).TrimEnd('\n');
        Assert.True(readme.Contains("```\n" + text + "\n```", StringComparison.Ordinal), $"README.md's \"Before your first job\" no longer shows tests/golden/doctor/{golden}: copy it there");
    }

    [Fact]
    public async Task A_terminal_gets_colour_unless_NO_COLOR_is_set()
    {
        using var nvml = DoctorRun.Gpus(build, "no-efa");
        string[] args = [.. DoctorRun.Fixture("no-efa", nvml.LibraryPath), $"--web.listen-address=127.0.0.1:{AgentProcess.FreePort()}"];
        using var coloured = new StringWriter();
        await EfaAgent.Agent.Doctor.DoctorCommand.RunAsync(args, coloured, TextWriter.Null, _ => null, stdoutIsTerminal: true);
        Assert.Contains("\u001b[1;31mFAIL \u001b[0m efa.devices", coloured.ToString(), StringComparison.Ordinal);

        using var plain = new StringWriter();
        await EfaAgent.Agent.Doctor.DoctorCommand.RunAsync(args, plain, TextWriter.Null, v => v == "NO_COLOR" ? "1" : null, stdoutIsTerminal: true);
        Assert.DoesNotContain("\u001b[", plain.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--port=0")]
    [InlineData("--port=abc")]
    [InlineData("--timeout=forever")]
    [InlineData("--peer")]
    [InlineData("--path.sysfs=/does/not/exist")]
    [InlineData("--no-such-flag")]
    public async Task A_usage_error_exits_2_with_one_line_naming_the_setting(string arg)
    {
        var run = await DoctorRun.RunAsync(arg);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Output);
        Assert.StartsWith("efa-agent doctor: ", run.Error, StringComparison.Ordinal);
        Assert.Contains(arg.Split('=')[0].TrimStart('-'), run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_installed_agents_config_file_tells_where_the_agent_listens()
    {
        using var root = new TempDir();
        var port = AgentProcess.FreePort();
        Directory.CreateDirectory(root.Combine("etc", "efa-agent"));
        File.WriteAllText(root.Combine("etc", "efa-agent", "config.json"), $"{{\"web.listen-address\": \"127.0.0.1:{port}\"}}");

        var run = await DoctorRun.RunAsync($"--path.rootfs={root.Path}", $"--path.sysfs={Repo.Fixture("no-efa", "sys")}", "--nvml.library=/nonexistent/libnvidia-ml.so.1", "--json");

        Assert.Contains($"no efa-agent on 127.0.0.1:{port}", run.Checks()["agent"].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_hostfile_is_a_usage_error()
    {
        var run = await DoctorRun.RunAsync("--hostfile=/does/not/exist");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--hostfile", run.Error, StringComparison.Ordinal);
    }

    /// <summary>Writes ports chosen at run time back as the defaults.</summary>
    private static string Stable(string output, int agentPort, int rendezvousPort, int shownRendezvousPort = 29500)
    {
        string P(int port) => port.ToString(CultureInfo.InvariantCulture);
        return output
            .Replace($"127.0.0.1:{P(agentPort)}", "127.0.0.1:19400", StringComparison.Ordinal)
            .Replace($"127.0.0.1:{P(rendezvousPort)}", $"127.0.0.1:{P(shownRendezvousPort)}", StringComparison.Ordinal)
            .Replace($"port {P(rendezvousPort)}", $"port {P(shownRendezvousPort)}", StringComparison.Ordinal)
            .Replace($"HOST:{P(rendezvousPort + 1)}", $"HOST:{P(shownRendezvousPort + 1)}", StringComparison.Ordinal);
    }

    private static async Task WaitForAsync(AgentProcess agent, string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if ((await agent.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative))).Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"the agent never exported {text}:\n{agent.Output}");
    }
}
