using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Top;

/// <summary>
/// The README's first command: <c>efa-agent demo</c> on a terminal shows the node in top, labelled
/// simulated, while it serves <c>/metrics</c>; <c>--nodes N</c> shows a job. On a pipe it stays a plain agent.
/// </summary>
public sealed partial class DemoViewTests
{
    [Fact]
    public async Task Demo_on_a_terminal_shows_the_simulated_node_live_and_keeps_serving_metrics()
    {
        var port = AgentProcess.FreePort();
        using var tmux = Tmux.Start($"'{AgentProcess.Executable}' demo --web.listen-address=127.0.0.1:{port}; echo DEMO-EXITED $?; sleep 600", 150, 45);

        var screen = await tmux.WaitForAsync(s => s.Contains("EFA carries the job", StringComparison.Ordinal), "the healthy verdict");
        Assert.Contains("[SIMULATED p4d.24xlarge, scenario healthy]", screen, StringComparison.Ordinal);
        Assert.Contains("rdmap16s27", screen, StringComparison.Ordinal);
        Assert.Contains("ens32", screen, StringComparison.Ordinal);
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        Assert.Contains("efa_agent_simulated_data{shape=\"p4d.24xlarge\",scenario=\"healthy\"} 1", metrics, StringComparison.Ordinal);

        tmux.Keys("q");
        var after = await tmux.WaitForAsync(s => s.Contains("DEMO-EXITED", StringComparison.Ordinal), "the demo exiting");
        Assert.Contains("DEMO-EXITED 0", after, StringComparison.Ordinal);
        Assert.Contains("efa-agent demo: SIMULATED p4d.24xlarge node", after, StringComparison.Ordinal);
        Assert.Equal("0", tmux.Display("#{alternate_on}"));
    }

    [Fact]
    public async Task Demo_of_a_job_on_a_terminal_shows_the_job_view_with_the_socket_fallback_node()
    {
        var port = ConsecutiveFreePorts(3);
        using var tmux = Tmux.Start($"'{AgentProcess.Executable}' demo --nodes 3 --web.listen-address=127.0.0.1:{port}; echo DEMO-EXITED $?; sleep 600", 150, 45);

        var screen = await tmux.WaitForAsync(s => s.Contains("GPUs busy, EFA idle, ENA busy", StringComparison.Ordinal), "the socket-fallback verdict");
        Assert.Contains("job of 3 nodes", screen, StringComparison.Ordinal);
        Assert.Contains("[SIMULATED: 3 of 3 nodes]", screen, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port + 2}", screen, StringComparison.Ordinal);

        // The last node runs NCCL on sockets: zoomed in, once the agent's slow lane has read the ENA
        // allowance counters twice, its ENA lines show the drops of the last interval.
        tmux.Keys("j", "j", "Enter");
        var node = await tmux.WaitForAsync(
            s => s.Contains("scenario socket-fallback]", StringComparison.Ordinal) && EnaDropsRegex().IsMatch(s),
            "the ENA allowance drops on the zoomed socket-fallback node");
        Assert.Contains("over their bw_in, bw_out, pps allowances: AWS queues or drops packets", node, StringComparison.Ordinal);
        tmux.Keys("q");
        await tmux.WaitForAsync(s => s.Contains("DEMO-EXITED 0", StringComparison.Ordinal), "the demo exiting with 0");
    }

    [Fact]
    public async Task Demo_of_a_job_on_a_pipe_serves_each_node_on_its_own_port_without_a_view()
    {
        var port = ConsecutiveFreePorts(2);
        await using var demo = AgentProcess.Start(["demo", "--nodes=2", "--scenario=gpu-lost", $"--web.listen-address=127.0.0.1:{port}"], addListenAddress: false);
        using var http = new HttpClient();
        string second = "";
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !second.Contains("gpu_up", StringComparison.Ordinal))
        {
            await Task.Delay(200);
            try
            {
                second = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port + 1}/metrics"));
            }
            catch (HttpRequestException)
            {
                // not yet listening
            }
        }

        var first = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        Assert.Contains("scenario=\"healthy\"", first, StringComparison.Ordinal);
        Assert.Contains("scenario=\"gpu-lost\"", second, StringComparison.Ordinal);
        Assert.Contains("a SIMULATED job of 2 p4d.24xlarge nodes", demo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain('\x1b', demo.Output);
    }

    [GeneratedRegex(@"rdmap16s27 .* ens32 .* (bw_in|bw_out|pps) \+[0-9]")]
    private static partial Regex EnaDropsRegex();

    /// <summary>The first of <paramref name="count"/> consecutive free ports on 127.0.0.1.</summary>
    private static int ConsecutiveFreePorts(int count)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var first = AgentProcess.FreePort();
            if (first + count <= 65535 && Enumerable.Range(first, count).All(Free))
            {
                return first;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free ports");
    }

    private static bool Free(int port)
    {
        try
        {
            using var l = new TcpListener(IPAddress.Loopback, port);
            l.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
