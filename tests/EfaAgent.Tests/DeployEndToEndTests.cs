using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using EfaAgent.Agent.Scrape;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>
/// The shipped Prometheus config, rules and Grafana dashboards against real agents: six agents stand in
/// for the nodes of one training job (demo nodes: a healthy p4d, a p4d whose NCCL fell back to sockets,
/// a p5 with EFA drops and retransmits, a p4d that loses a GPU, a p4d with a throttled straggler GPU;
/// and the malformed fixture tree: a p4d with two of its four EFA devices and unreadable counters),
/// a real Prometheus scrapes them with the
/// shipped static scrape config (targets, intervals and rule paths adapted to the test; the rules'
/// <c>for:</c> shortened to seconds) and evaluates the shipped rules. Then every recording rule and
/// every dashboard query must run without error and return data, the alerts built for each scenario
/// must fire on that node alone, the healthy node must have none, and every metric name the
/// dashboards and rules use must exist in what the agents serve.
/// </summary>
[Collection(nameof(DeployEndToEndTests))]
public sealed partial class DeployEndToEndTests
{
    private const string Cluster = "test-job";

    private static readonly (string Node, string[] Args)[] Nodes =
    [
        ("node-a", ["demo", "--shape=p4d", "--scenario=healthy"]),
        ("node-b", ["demo", "--shape=p4d", "--scenario=socket-fallback"]),
        ("node-c", ["demo", "--shape=p5", "--scenario=efa-errors"]),
        ("node-d", ["demo", "--shape=p4d", "--scenario=gpu-lost"]),
        ("node-e", ["demo", "--shape=p4d", "--scenario=straggler"]),
        ("node-f", ["--path.sysfs=" + Repo.Fixture("malformed", "sys"), "--path.procfs=" + Repo.Fixture("malformed", "proc"), "--no-collector.gpu", EndToEndTests.NoEthtool]),
    ];

    /// <summary>Which alerts each scenario must raise, on its own node only.</summary>
    private static readonly Dictionary<string, string[]> Expected = new(StringComparer.Ordinal)
    {
        ["node-a"] = [],
        ["node-b"] = ["EfaNotUsedWhileGpusBusy", "EnaAllowanceExceeded"],
        ["node-c"] = ["EfaRxDrops", "EfaRetransmitTimeouts", "EfaRemotePeerUnresponsive", "EfaRemotePeerImpaired"],
        ["node-d"] = ["GpuLost", "GpuCriticalXid"],
        ["node-e"] = ["GpuThermalOrPowerThrottling"],
        ["node-f"] = ["EfaDevicesMissing", "EfaAgentCounterUnavailable"],
    };

    [Fact]
    public async Task Shipped_rules_and_dashboards_work_on_real_agents_and_alerts_fire_for_their_scenario_only()
    {
        using var tmp = new TempDir();
        var agents = new List<AgentProcess>();
        try
        {
            foreach (var (_, args) in Nodes)
            {
                agents.Add(AgentProcess.Start([.. args, "--sample.interval=250ms"]));
            }

            foreach (var a in agents)
            {
                await a.WaitHealthyAsync();
            }

            var config = WriteConfig(tmp, agents);
            await using var prometheus = await PrometheusServer.StartAsync(config, tmp.Combine("data"));
            await prometheus.WaitForTargetsUpAsync(Nodes.Length, TimeSpan.FromSeconds(60));

            // The scenarios' alerts fire (after their shortened for:) ...
            var alerts = await WaitForAlertsAsync(prometheus, TimeSpan.FromSeconds(90));
            foreach (var (node, names) in Expected)
            {
                var onNode = alerts.Where(a => a.Labels.GetValueOrDefault("node") == node).ToList();
                foreach (var name in names)
                {
                    Assert.True(onNode.Any(a => a.Name == name && a.State == "firing"), $"{name} does not fire on {node} ({Describe(alerts)})");
                }

                // ... and only there: a healthy node raises nothing, a broken one nothing but its own.
                var unexpected = onNode.Where(a => !names.Contains(a.Name)).Select(a => $"{a.Name} ({a.State})").ToList();
                Assert.True(unexpected.Count == 0, $"{node} raised unexpected alerts: {string.Join(", ", unexpected)}");
            }

            // Every rule evaluates cleanly, and every recording rule has data.
            var rules = await prometheus.RulesAsync();
            Assert.All(rules, r => Assert.True(r.Health == "ok", $"rule {r.Name}: {r.Health} {r.Error}"));
            foreach (var record in rules.Select(r => r.Name).Where(n => n.Contains(':', StringComparison.Ordinal)).Distinct())
            {
                Assert.True((await prometheus.QueryAsync(record)).GetArrayLength() > 0, $"recording rule {record} has no data");
            }

            // Every dashboard query runs and returns data for at least one of the nodes.
            var expositions = new List<string>();
            foreach (var a in agents)
            {
                expositions.Add(await a.ScrapeAsync());
            }

            var empty = new List<string>();
            foreach (var (dashboard, title, expr) in DashboardQueries())
            {
                var found = false;
                foreach (var variant in Expand(dashboard, expr))
                {
                    found |= (await prometheus.QueryAsync(variant)).GetArrayLength() > 0;
                }

                if (!found)
                {
                    empty.Add($"{dashboard} / {title}: {expr}");
                }
            }

            Assert.True(empty.Count == 0, "dashboard queries with no data:\n" + string.Join('\n', empty));

            // Every metric a dashboard or rule names is one the agents serve.
            var served = ServedNames(expositions);
            var used = DashboardQueries().Select(q => q.Expr).Concat(await RuleQueriesAsync(prometheus));
            var unknown = used.SelectMany(MetricNames).Distinct().Where(n => !served.Contains(n)).Order().ToList();
            Assert.True(unknown.Count == 0, "used by dashboards or rules but not served by the agent: " + string.Join(", ", unknown));
        }
        finally
        {
            foreach (var a in agents)
            {
                await a.DisposeAsync();
            }
        }
    }

    /// <summary>The shipped static config, pointed at the test's agents, scraping and evaluating every second.</summary>
    private static string WriteConfig(TempDir tmp, List<AgentProcess> agents)
    {
        var rulesDir = Repo.PathTo("deploy", "prometheus", "rules");
        foreach (var file in Directory.GetFiles(rulesDir, "*.yml"))
        {
            var text = ForDuration().Replace(File.ReadAllText(file), "for: 3s");
            File.WriteAllText(tmp.Combine(Path.GetFileName(file)), text);
        }

        var shipped = File.ReadAllText(Repo.PathTo("deploy", "prometheus", "prometheus-static.yml"));
        var config = Replace(shipped, "scrape_interval: 15s", "scrape_interval: 1s");
        config = Replace(config, "evaluation_interval: 15s", "evaluation_interval: 1s");
        config = Replace(config, "scrape_timeout: 10s", "scrape_timeout: 1s");
        config = Replace(config, "rules/efa-agent-recording.yml", tmp.Combine("efa-agent-recording.yml"));
        config = Replace(config, "rules/efa-agent-alerts.yml", tmp.Combine("efa-agent-alerts.yml"));

        var start = config.IndexOf("    static_configs:\n", StringComparison.Ordinal);
        var end = config.IndexOf("    relabel_configs:\n", StringComparison.Ordinal);
        Assert.True(start > 0 && end > start, "prometheus-static.yml no longer has static_configs followed by relabel_configs");
        var targets = new StringBuilder("    static_configs:\n");
        for (var i = 0; i < agents.Count; i++)
        {
            targets.Append(CultureInfo.InvariantCulture, $"      - targets: [\"127.0.0.1:{agents[i].Port}\"]\n        labels:\n          cluster: {Cluster}\n          node: {Nodes[i].Node}\n");
        }

        config = config[..start] + targets + config[end..];
        var path = tmp.Combine("prometheus.yml");
        File.WriteAllText(path, config);
        var (code, output) = Promtool.Run("", "check", "config", path);
        Assert.True(code == 0, $"adapted config does not check:\n{output}\n{config}");
        return path;
    }

    private static string Replace(string text, string what, string with)
    {
        Assert.Contains(what, text, StringComparison.Ordinal);
        return text.Replace(what, with, StringComparison.Ordinal);
    }

    private static async Task<IReadOnlyList<(string Name, string State, Dictionary<string, string> Labels)>> WaitForAlertsAsync(PrometheusServer prometheus, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        IReadOnlyList<(string Name, string State, Dictionary<string, string> Labels)> alerts = [];
        while (DateTime.UtcNow < deadline)
        {
            alerts = await prometheus.AlertsAsync();
            var all = Expected.All(e => e.Value.All(name => alerts.Any(a => a.Name == name && a.State == "firing" && a.Labels.GetValueOrDefault("node") == e.Key)));
            if (all)
            {
                // Give alerts that should not fire the same time to show up.
                await Task.Delay(TimeSpan.FromSeconds(8));
                return await prometheus.AlertsAsync();
            }

            await Task.Delay(1000);
        }

        return alerts;
    }

    private static string Describe(IEnumerable<(string Name, string State, Dictionary<string, string> Labels)> alerts) =>
        string.Join("; ", alerts.Select(a => $"{a.Name}@{a.Labels.GetValueOrDefault("node")}={a.State}"));

    /// <summary>Every (dashboard, panel title, expression) of the shipped dashboards.</summary>
    private static IEnumerable<(string Dashboard, string Title, string Expr)> DashboardQueries()
    {
        foreach (var file in Directory.GetFiles(Repo.PathTo("deploy", "grafana", "dashboards"), "*.json").Order(StringComparer.Ordinal))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var name = Path.GetFileNameWithoutExtension(file);
            var list = new List<(string, string, string)>();
            Walk(doc.RootElement.GetProperty("panels"), name, list);
            foreach (var q in list)
            {
                yield return q;
            }
        }
    }

    private static void Walk(JsonElement panels, string dashboard, List<(string, string, string)> into)
    {
        foreach (var p in panels.EnumerateArray())
        {
            if (p.TryGetProperty("targets", out var targets))
            {
                foreach (var t in targets.EnumerateArray())
                {
                    if (t.TryGetProperty("expr", out var expr) && expr.GetString() is { Length: > 0 } e)
                    {
                        into.Add((dashboard, p.GetProperty("title").GetString() ?? "", e));
                    }
                }
            }

            if (p.TryGetProperty("panels", out var inner))
            {
                Walk(inner, dashboard, into);
            }
        }
    }

    /// <summary>The expression with Grafana's variables filled in: per node for the node dashboard, all nodes for the job dashboard.</summary>
    private static IEnumerable<string> Expand(string dashboard, string expr)
    {
        string Fill(string e, string node) => e
            .Replace("$__rate_interval", "1m", StringComparison.Ordinal)
            .Replace("$__range", "5m", StringComparison.Ordinal)
            .Replace("$__interval", "5s", StringComparison.Ordinal)
            .Replace("$cluster", Cluster, StringComparison.Ordinal)
            .Replace("$node", node, StringComparison.Ordinal)
            .Replace("$device", ".*", StringComparison.Ordinal)
            .Replace("$interface", ".*", StringComparison.Ordinal)
            .Replace("$gpu", ".*", StringComparison.Ordinal);

        if (dashboard.EndsWith("-node", StringComparison.Ordinal))
        {
            return Nodes.Select(n => Fill(expr, n.Node));
        }

        return [Fill(expr, string.Join('|', Nodes.Select(n => n.Node)))];
    }

    private static async Task<IEnumerable<string>> RuleQueriesAsync(PrometheusServer prometheus)
    {
        using var response = await prometheus.Http.GetAsync(new Uri("/api/v1/rules", UriKind.Relative));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => r.GetProperty("query").GetString() ?? "")
            .ToList();
    }

    /// <summary>The agent's metric names in an expression: recording-rule names and quoted label values left out.</summary>
    private static IEnumerable<string> MetricNames(string expr)
    {
        var stripped = Quoted().Replace(expr, "\"\"");
        stripped = Recorded().Replace(stripped, " ");
        return AgentName().Matches(stripped).Select(m => m.Value);
    }

    /// <summary>Family and sample names in the agents' expositions (a counter is used by its _total name).</summary>
    private static HashSet<string> ServedNames(IEnumerable<string> expositions) =>
        expositions.SelectMany(e => ExpositionParser.Parse(e).Names).ToHashSet(StringComparer.Ordinal);

    [GeneratedRegex(@"for: \d+[smh]")]
    private static partial Regex ForDuration();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"[A-Za-z_]*:[A-Za-z0-9_:]+")]
    private static partial Regex Recorded();

    [GeneratedRegex(@"\b(?:efa|rdma|netdev|gpu)_[a-z0-9_]+\b")]
    private static partial Regex AgentName();
}
