using System.Text.Json;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Top;

/// <summary>
/// <c>efa-agent top</c> as a process against real agent processes on copied fixture trees whose
/// counters a test thread moves: <c>--once</c>, <c>--json</c>, a host file with comments, <c>slots=</c>
/// and a dead host, this node sampled in-process, and plain snapshots on a pipe.
/// </summary>
public sealed class TopCommandTests
{
    /// <summary>20 Gbit/s written into rdmap16s27's tx_bytes.</summary>
    private const double TxBytesPerSecond = 2.5e9;

    [Fact]
    public async Task Json_snapshot_reports_the_throughput_of_the_counter_increments()
    {
        using var dir = new TempDir();
        var root = dir.CopyFrom(Repo.Fixture("p4d-postsplit"), "node");
        using var feeder = new CounterFeeder(root, [("rdmap16s27", "tx_bytes", TxBytesPerSecond)], []);
        await using var agent = await StartAgentAsync(root);

        var (code, output) = await RunTopAsync([$"127.0.0.1:{agent.Port}", "--json", "--interval=2s"]);

        Assert.Equal(0, code);
        var node = JsonDocument.Parse(output).RootElement.GetProperty("nodes")[0];
        Assert.True(node.GetProperty("up").GetBoolean());
        Assert.Equal("p4d.24xlarge", node.GetProperty("instance_type").GetString());
        var ports = node.GetProperty("efa").EnumerateArray().ToList();
        Assert.Equal(["rdmap16s27", "rdmap32s27", "rdmap144s27", "rdmap160s27"], ports.Select(p => p.GetProperty("device").GetString()));
        var tx = ports[0].GetProperty("transmit_bytes_per_second").GetDouble();
        Assert.InRange(tx, TxBytesPerSecond * 0.75, TxBytesPerSecond * 1.25);
        Assert.Equal(0, ports[1].GetProperty("transmit_bytes_per_second").GetDouble());
        Assert.Equal("ens32", ports[0].GetProperty("netdev").GetString());
    }

    [Fact]
    public async Task Once_prints_a_plain_snapshot_with_the_devices_and_no_escape_codes()
    {
        using var dir = new TempDir();
        var root = dir.CopyFrom(Repo.Fixture("p4d-postsplit"), "node");
        using var feeder = new CounterFeeder(root, [("rdmap16s27", "tx_bytes", TxBytesPerSecond)], []);
        await using var agent = await StartAgentAsync(root);

        var (code, output) = await RunTopAsync([$"127.0.0.1:{agent.Port}", "--once"]);

        Assert.Equal(0, code);
        Assert.DoesNotContain('\x1b', output);
        Assert.Contains("p4d.24xlarge", output, StringComparison.Ordinal);
        var row = Assert.Single(output.Split('\n'), l => l.StartsWith("rdmap16s27 ", StringComparison.Ordinal));
        Assert.Contains(" Gbit/s", row, StringComparison.Ordinal);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("rdmap160s27 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Host_file_with_comments_and_slots_shows_every_node_and_a_dead_one_as_such()
    {
        using var dir = new TempDir();
        var root = dir.CopyFrom(Repo.Fixture("p4d-postsplit"), "node");
        await using var agent = await StartAgentAsync(root);
        var hostfile = dir.Combine("hosts");
        await File.WriteAllTextAsync(hostfile, """
            # the job's nodes, as mpirun reads them
            127.0.0.1 slots=8   # rank 0-7

            127.0.0.2 slots=8 max_slots=8
            """);

        var (code, output) = await RunTopAsync(["--hostfile", hostfile, $"--port={agent.Port}", "--once", "--timeout=1s"]);

        Assert.Equal(0, code);
        Assert.Contains("job of 2 nodes  1 not answering", output, StringComparison.Ordinal);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("127.0.0.2 ", StringComparison.Ordinal) && l.Contains("no answer", StringComparison.Ordinal));
        Assert.Contains(output.Split('\n'), l => l.StartsWith("127.0.0.1 ", StringComparison.Ordinal) && !l.Contains("no answer", StringComparison.Ordinal));
        Assert.Contains("rdmap16s27", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_host_file_line_is_named_and_exits_with_a_usage_error()
    {
        using var dir = new TempDir();
        var hostfile = dir.Combine("hosts");
        await File.WriteAllTextAsync(hostfile, "node1 slots=eight\n");

        var (code, output) = await RunTopAsync(["--hostfile", hostfile, "--once"]);

        Assert.Equal(2, code);
        Assert.Contains("line 1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_an_agent_it_samples_the_node_itself_through_the_collectors()
    {
        var (code, output) = await RunTopAsync(
        [
            "--once",
            "--path.sysfs=" + Repo.Fixture("p4d-postsplit", "sys"),
            "--path.procfs=" + Repo.Fixture("p4d-postsplit", "proc"),
            "--no-collector.gpu",
        ]);

        Assert.Equal(0, code);
        Assert.Contains("sampled by top", output, StringComparison.Ordinal);
        Assert.Contains("p4d.24xlarge", output, StringComparison.Ordinal);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("rdmap144s27 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task On_a_pipe_it_prints_plain_snapshots_until_stopped()
    {
        using var dir = new TempDir();
        var root = dir.CopyFrom(Repo.Fixture("p4d-postsplit"), "node");
        await using var agent = await StartAgentAsync(root);
        await using var top = AgentProcess.Start(["top", $"127.0.0.1:{agent.Port}", "--interval=200ms"], addListenAddress: false);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (top.Output.Split('\n').Count(l => l.StartsWith("rdmap16s27 ", StringComparison.Ordinal)) < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        top.Signal(15);
        Assert.True(top.WaitForExit(TimeSpan.FromSeconds(10)), "top did not stop on SIGTERM");
        Assert.Equal(0, top.ExitCode);
        Assert.True(top.Output.Split('\n').Count(l => l.StartsWith("rdmap16s27 ", StringComparison.Ordinal)) >= 3, top.Output);
        Assert.DoesNotContain('\x1b', top.Output);
    }

    /// <summary>Starts an agent on a fixture tree, without GPUs, sampling fast.</summary>
    internal static async Task<AgentProcess> StartAgentAsync(string root, params string[] extra)
    {
        var agent = AgentProcess.Start(
        [
            "--path.sysfs=" + Path.Combine(root, "sys"),
            "--path.procfs=" + Path.Combine(root, "proc"),
            "--sample.interval=100ms",
            .. extra.Length == 0 ? ["--no-collector.gpu"] : extra,
        ]);
        await agent.WaitHealthyAsync();
        return agent;
    }

    private static async Task<(int Code, string Output)> RunTopAsync(string[] args)
    {
        await using var top = AgentProcess.Start(["top", .. args], addListenAddress: false);
        Assert.True(top.WaitForExit(TimeSpan.FromSeconds(60)), $"top did not exit:\n{top.Output}");
        return (top.ExitCode, top.Output);
    }
}
