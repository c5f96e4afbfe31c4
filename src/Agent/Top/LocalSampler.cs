using System.Text;
using EfaAgent.Agent.Exposition;
using EfaAgent.Agent.Hosting;
using EfaAgent.Agent.Options;
using EfaAgent.Agent.Sampling;
using EfaAgent.Agent.Scrape;
using EfaAgent.Collectors;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using ICollector = EfaAgent.Collectors.ICollector;

namespace EfaAgent.Agent.Top;

/// <summary>
/// Samples this node in-process when no agent answers: the agent's own collectors, sampling loop,
/// snapshot store and Prometheus bridge, exported as text and parsed like a scrape, so <c>top</c>
/// has one data model whichever way the numbers come.
/// </summary>
public sealed class LocalSampler : IAsyncDisposable
{
    private readonly IReadOnlyList<ICollector> _collectors;
    private readonly SamplingService _sampling;
    private readonly CollectorRegistry _registry;

    private LocalSampler(IReadOnlyList<ICollector> collectors, SamplingService sampling, CollectorRegistry registry)
    {
        _collectors = collectors;
        _sampling = sampling;
        _registry = registry;
    }

    /// <summary>Starts sampling with the agent's settings from <paramref name="agentArgs"/> (and the environment); returns null and an error for a bad setting.</summary>
    public static async Task<(LocalSampler? Sampler, string? Error)> StartAsync(IReadOnlyList<string> agentArgs, CancellationToken ct)
    {
        var loaded = OptionsLoader.Load(agentArgs, Environment.GetEnvironmentVariable);
        if (loaded.Options is null)
        {
            return (null, loaded.Error ?? "invalid settings");
        }

        var options = loaded.Options;
        var collectors = CollectorFactory.Create(options, NullLoggerFactory.Instance);
        var store = new SnapshotStore(collectors.Count + 1);
        var registry = Metrics.NewCustomRegistry();
        _ = new PrometheusBridge(store, registry);
        var self = new SelfMetrics([.. collectors.Select(c => c.Name)], options.SampleInterval, null, null);
        var sampling = new SamplingService(collectors, options, store, self, NullLogger<SamplingService>.Instance);
        await sampling.StartAsync(ct).ConfigureAwait(false);
        await sampling.FirstTick.WaitAsync(ct).ConfigureAwait(false);
        return (new LocalSampler(collectors, sampling, registry), null);
    }

    /// <summary>The latest snapshot, through the exposition format and the one parser.</summary>
    public async Task<MetricSet> ScrapeAsync(CancellationToken ct)
    {
        using var stream = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(stream, ct).ConfigureAwait(false);
        return ExpositionParser.Parse(Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _sampling.StopAsync(CancellationToken.None).ConfigureAwait(false);
        _sampling.Dispose();
        foreach (var c in _collectors)
        {
            c.Dispose();
        }
    }
}
