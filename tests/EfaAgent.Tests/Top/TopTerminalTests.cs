using System.Globalization;
using System.Text.RegularExpressions;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Top;

/// <summary>
/// <c>efa-agent top</c> in a real terminal (tmux) over two agents on fixture trees: node A moves
/// 20 Gbit/s on one EFA device; node B has busy GPUs (the fake NVML), flat EFA and busy ENA, a job
/// that fell back to TCP sockets. The screen is read back with capture-pane.
/// </summary>
public sealed partial class TopTerminalTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    private const string BusyGpus = """
        count 8
        * set name NVIDIA A100-SXM4-40GB
        * set util 95
        * set mem_total 42949672960
        * set mem_used 38654705664
        * set power_mw 371000
        * set temp 61
        * set sm_mhz 1410
        """;

    [Fact]
    public async Task Top_in_a_terminal_shows_the_job_zooms_into_a_node_follows_a_resize_and_restores_the_terminal_on_q()
    {
        using var dir = new TempDir();
        var a = dir.CopyFrom(Repo.Fixture("p4d-postsplit"), "a");
        var b = dir.CopyFrom(Repo.Fixture("p4d-postsplit"), "b");
        using var nvml = new FakeNvml(build, BusyGpus);
        using var feedA = new CounterFeeder(a, [("rdmap16s27", "tx_bytes", 2.5e9)], []);
        using var feedB = new CounterFeeder(b, [], [("ens32", 50e6, 50e6), ("ens65", 50e6, 50e6)]);
        await using var agentA = await TopCommandTests.StartAgentAsync(a);
        await using var agentB = await TopCommandTests.StartAgentAsync(b, "--nvml.library=" + nvml.LibraryPath);

        var command = $"'{AgentProcess.Executable}' top 127.0.0.1:{agentA.Port} 127.0.0.1:{agentB.Port}; echo TOP-EXITED $?; sleep 600";
        using var tmux = Tmux.Start(command, 150, 45);

        // The job view: node B's verdict is the socket fallback of the alert rule.
        var job = await tmux.WaitForAsync(s => s.Contains("GPUs busy, EFA idle, ENA busy", StringComparison.Ordinal), "the socket-fallback verdict");
        Assert.Contains("job of 2 nodes", job, StringComparison.Ordinal);
        Assert.Equal("1", tmux.Display("#{alternate_on}"));

        // Enter opens node A (selected first): its devices and the throughput the test writes.
        tmux.Keys("Enter");
        var node = await tmux.WaitForAsync(s => s.Contains("rdmap160s27", StringComparison.Ordinal) && RateOf(s, "rdmap16s27") > 0, "node A's devices with a rate");
        Assert.Contains("rdmap32s27", node, StringComparison.Ordinal);
        Assert.Contains("rdmap144s27", node, StringComparison.Ordinal);
        node = await tmux.WaitForAsync(s => RateOf(s, "rdmap16s27") is > 15 and < 25, "about 20 Gbit/s on rdmap16s27");
        Assert.Contains("peak tx", node, StringComparison.Ordinal);

        // A narrower terminal drops columns rather than wrapping.
        tmux.Resize(70, 30);
        var narrow = await tmux.WaitForAsync(s => !s.Contains("peak tx", StringComparison.Ordinal) && s.Contains("rdmap16s27", StringComparison.Ordinal), "the view re-rendered at 70 columns");
        Assert.All(narrow.Split('\n'), l => Assert.True(l.TrimEnd().Length <= 70, l));

        // Esc goes back to the job, q quits and leaves the terminal as it was.
        tmux.Keys("Escape");
        await tmux.WaitForAsync(s => s.Contains("job of 2 nodes", StringComparison.Ordinal), "the job view again");
        tmux.Keys("q");
        var after = await tmux.WaitForAsync(s => s.Contains("TOP-EXITED 0", StringComparison.Ordinal), "top exiting with 0");
        Assert.Equal("0", tmux.Display("#{alternate_on}"));
        Assert.Equal("1", tmux.Display("#{cursor_flag}"));
        Assert.DoesNotContain("rdmap16s27", after, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SIGTERM")]
    [InlineData("Ctrl+C")]
    public async Task A_signal_restores_the_terminal(string how)
    {
        using var dir = new TempDir();
        var a = dir.CopyFrom(Repo.Fixture("p4d-postsplit"), "a");
        await using var agent = await TopCommandTests.StartAgentAsync(a);
        var pidFile = dir.Combine("pid");
        using var tmux = Tmux.Start($"sh -c 'echo $$ > {pidFile}; exec \"{AgentProcess.Executable}\" top 127.0.0.1:{agent.Port}'; echo TOP-EXITED $?; sleep 600", 120, 40);

        await tmux.WaitForAsync(s => s.Contains("rdmap16s27", StringComparison.Ordinal), "the node view");
        if (how == "SIGTERM")
        {
            var pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), CultureInfo.InvariantCulture);
            Assert.Equal(0, Kill(pid, 15));
        }
        else
        {
            tmux.Keys("C-c");
        }

        await tmux.WaitForAsync(s => s.Contains("TOP-EXITED 0", StringComparison.Ordinal), "top exiting with 0");
        Assert.Equal("0", tmux.Display("#{alternate_on}"));
        Assert.Equal("1", tmux.Display("#{cursor_flag}"));
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    /// <summary>The first rate in Gbit/s on the row of <paramref name="device"/>, or null.</summary>
    private static double? RateOf(string screen, string device)
    {
        var row = screen.Split('\n').FirstOrDefault(l => l.StartsWith(device + " ", StringComparison.Ordinal));
        return row is not null && RateRegex().Match(row) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    [GeneratedRegex(@"([0-9.]+) Gbit/s")]
    private static partial Regex RateRegex();
}
