using System.Globalization;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Ethtool;

/// <summary>
/// The ethtool collector against a real kernel driver: the built agent runs inside a network
/// namespace of the test's own, holding a veth pair, with <c>--collector.ethtool.all</c>, and is
/// scraped from inside it. Skipped, with the reason, where the machine cannot make a namespace.
/// </summary>
public sealed class EthtoolVethTests
{
    [SkippableFact]
    public async Task The_veth_driver_names_itself_and_its_peer_ifindex_is_the_peers_ifindex()
    {
        using var ns = NetworkNamespace.TryCreate(out var reason);
        Skip.If(ns is null, reason);

        ns.Link("add", "va", "type", "veth", "peer", "name", "vb");
        ns.Link("set", "va", "up");
        ns.Link("set", "vb", "up");
        var ifindexA = ReadIfindex(ns, "va");
        var ifindexB = ReadIfindex(ns, "vb");

        using var agent = ns.Start(AgentProcess.Executable, "--collector.ethtool.all", "--no-collector.gpu", "--no-collector.efa", "--web.listen-address=127.0.0.1:19400");
        var text = await ScrapeWhenAsync(ns, agent, t => t.Contains("ethtool_stat_peer_ifindex{device=\"vb\"}", StringComparison.Ordinal));

        Assert.Contains($"ethtool_stat_peer_ifindex{{device=\"va\"}} {ifindexB}\n", text, StringComparison.Ordinal);
        Assert.Contains($"ethtool_stat_peer_ifindex{{device=\"vb\"}} {ifindexA}\n", text, StringComparison.Ordinal);
        Assert.Contains("ethtool_info{device=\"va\",driver=\"veth\",driver_version=\"1.0\",firmware_version=\"\",bus_info=\"\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("ethtool_info{device=\"vb\",driver=\"veth\"", text, StringComparison.Ordinal);
        Assert.Contains("ethtool_stat_received_queue_0_drops{device=\"va\"}", text, StringComparison.Ordinal);
        Assert.Contains("efa_agent_unavailable{collector=\"ethtool\",device=\"lo\",port=\"\",counter=\"*\",reason=\"not_supported\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("efa_agent_collector_success{collector=\"ethtool\"} 1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("ena_", text, StringComparison.Ordinal); // no ENA here
        Promtool.AssertMetricsValid(text);
    }

    private static int ReadIfindex(NetworkNamespace ns, string device)
    {
        var (code, output) = ns.Exec("cat", $"/sys/class/net/{device}/ifindex");
        Assert.True(code == 0, $"cannot read the ifindex of {device} in {ns.Name}: {output}");
        return int.Parse(output.Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Scrapes with curl inside the namespace until <paramref name="ready"/> holds.</summary>
    private static async Task<string> ScrapeWhenAsync(NetworkNamespace ns, ChildProcess agent, Func<string, bool> ready)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            if (agent.Process.HasExited)
            {
                throw new InvalidOperationException($"efa-agent exited with {agent.Process.ExitCode}:\n{agent.Output}");
            }

            var (code, output) = ns.Exec("curl", "-fsS", "--max-time", "5", "http://127.0.0.1:19400/metrics");
            if (code == 0 && ready(output))
            {
                return output;
            }

            last = output;
            await Task.Delay(200);
        }

        throw new TimeoutException($"the agent in {ns.Name} never served the ethtool series; last scrape:\n{last}\nagent output:\n{agent.Output}");
    }
}
