using EfaAgent.Agent.Hosting;
using EfaAgent.Agent.Jobs;
using EfaAgent.Agent.Options;
using EfaAgent.Agent.Scrape;
using EfaAgent.Agent.Top;
using EfaAgent.Collectors.Nvml;
using EfaAgent.Collectors;
using EfaAgent.Collectors.Gpu;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Agent.Demo;

/// <summary>
/// <c>efa-agent demo --nodes N</c>: N simulated nodes of one job, one agent each on consecutive ports,
/// in one process; on a terminal, the job view of <c>efa-agent top</c> over them. Also shows a single
/// demo node in the view.
/// </summary>
public static class DemoJob
{
    /// <summary>The most nodes one demo simulates.</summary>
    public const int MaxNodes = 16;

    /// <summary>Runs <paramref name="count"/> nodes; the last runs <paramref name="lastScenario"/>, the others are healthy.</summary>
    public static async Task<int> RunAsync(NodeShape shape, int count, Scenario lastScenario, string lastName, List<string> rest)
    {
        var roots = new List<string>();
        var nodes = new List<SimulatedNode>();
        try
        {
            var all = new List<AgentOptions>();
            var collectors = new List<Func<ILoggerFactory, IReadOnlyList<ICollector>>>();
            var scenarios = new List<string>();
            for (var i = 0; i < count; i++)
            {
                var scenario = i == count - 1 ? lastScenario : Scenario.Healthy;
                var root = Directory.CreateTempSubdirectory($"efa-agent-demo-{shape.Name}-{i + 1}-").FullName;
                roots.Add(root);
                var node = SimulatedNode.Create(root, shape, scenario);
                nodes.Add(node);
                var result = OptionsLoader.Load([.. rest, $"--path.sysfs={node.SysfsRoot}", $"--path.procfs={node.ProcfsRoot}"], Environment.GetEnvironmentVariable);
                if (result.Options is null)
                {
                    return DemoCommand.Fail(result.Error ?? "invalid settings");
                }

                var listen = result.Options.ListenAddress;
                var options = result.Options with { SimulatedShape = shape.InstanceType, ListenAddress = listen with { Port = listen.Port + i } };
                Func<INvml>? nvml = DemoCommand.RealNvml(rest) ? null : DemoCommand.SimulatedGpus(shape, scenario);
                all.Add(options);
                collectors.Add(loggers => CollectorFactory.Create(options, loggers, nvml, () => node.Ethtool));
                scenarios.Add(scenario == Scenario.Healthy ? "healthy" : lastName);
                node.Start(TimeSpan.FromMilliseconds(50));
            }

            var first = all[0].ListenAddress;
            await Console.Error.WriteLineAsync(
                $"efa-agent demo: a SIMULATED job of {count} {shape.InstanceType} nodes, the last one {lastName}; no value comes from real hardware.\n" +
                $"efa-agent demo: metrics at http://{DemoCommand.HostForUrl(first)}:{first.Port}/metrics to :{first.Port + count - 1}; Ctrl+C stops.").ConfigureAwait(false);
            if (DemoCommand.ShowsView())
            {
                return await ShowAsync(all, collectors, scenarios).ConfigureAwait(false);
            }

            var hosts = all.Select((o, i) => AgentHost.RunAsync(o, collectors[i], scenarios[i])).ToList();
            return (await Task.WhenAll(hosts).ConfigureAwait(false)).Max();
        }
        finally
        {
            foreach (var node in nodes)
            {
                node.Dispose();
            }

            foreach (var root in roots)
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    /// <summary>
    /// Runs the agents with their log in a file and shows them in <c>efa-agent top</c> until q, Ctrl+C
    /// or SIGTERM; then stops the agents.
    /// </summary>
    public static async Task<int> ShowAsync(IReadOnlyList<AgentOptions> options, IReadOnlyList<Func<ILoggerFactory, IReadOnlyList<ICollector>>> collectors, IReadOnlyList<string> scenarios)
    {
        var logPath = Path.Combine(Path.GetTempPath(), "efa-agent-demo.log");
        var log = TextWriter.Synchronized(new StreamWriter(logPath, append: false) { AutoFlush = true });
        await using (log.ConfigureAwait(false))
        {
            using var stop = new SignalStop();
            var hosts = options.Select((o, i) => AgentHost.RunAsync(o, collectors[i], scenarios[i], log, stop.Token)).ToList();

            // Stop the view as soon as an agent ends (a port in use, say): its log tells why.
            _ = Task.WhenAny(hosts).ContinueWith(_ => stop.Cancel(), TaskScheduler.Default);
            var targets = options.Select(o => new JobHost(DemoCommand.HostForUrl(o.ListenAddress), o.ListenAddress.Port, null)).ToList();
            var topOptions = new TopOptions { Targets = targets };
            var (session, error) = await TopSession.OpenAsync(topOptions, stop.Token).ConfigureAwait(false);
            if (session is not null)
            {
                await using (session.ConfigureAwait(false))
                {
                    try
                    {
                        await WaitForAgentsAsync([.. targets.Select(topOptions.MetricsUrl)], stop.Token).ConfigureAwait(false);
                        await TopCommand.RunAsync(session, topOptions, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
                    {
                        // Ctrl+C or SIGTERM while the agents were starting
                    }
                }
            }

            stop.Cancel();
            var code = (await Task.WhenAll(hosts).ConfigureAwait(false)).Max();
            await Console.Error.WriteLineAsync($"efa-agent demo: stopped{(error is null ? "" : $" ({error})")}; the agents' log is {logPath}").ConfigureAwait(false);
            return code;
        }
    }

    /// <summary>Gives the agents up to 5 s to answer, so the view does not open on "connection refused".</summary>
    private static async Task WaitForAgentsAsync(IReadOnlyList<Uri> urls, CancellationToken ct)
    {
        // Probed apart from the view's session, so that its first rates span a whole interval.
        using var client = new ScrapeClient(TimeSpan.FromSeconds(1));
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            var results = await client.ScrapeAllAsync(urls, ct).ConfigureAwait(false);
            if (results.All(r => r.Metrics is not null))
            {
                return;
            }

            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }
}
