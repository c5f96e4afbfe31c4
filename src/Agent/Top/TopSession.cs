using System.Diagnostics;
using EfaAgent.Agent.Scrape;

namespace EfaAgent.Agent.Top;

/// <summary>
/// The nodes <c>top</c> follows and where their numbers come from: the agents' <c>/metrics</c>, fetched
/// in parallel with a timeout each, or this node sampled in-process.
/// </summary>
public sealed class TopSession : IAsyncDisposable
{
    private readonly List<NodeTracker> _trackers;
    private readonly ScrapeClient? _client;
    private readonly IReadOnlyList<Uri> _urls;
    private readonly LocalSampler? _local;

    private TopSession(List<NodeTracker> trackers, ScrapeClient? client, IReadOnlyList<Uri> urls, LocalSampler? local)
    {
        _trackers = trackers;
        _client = client;
        _urls = urls;
        _local = local;
    }

    /// <summary>Whether several nodes are shown (the job view).</summary>
    public bool IsJob => _trackers.Count > 1;

    /// <summary>The nodes' latest views and stragglers.</summary>
    public JobView Job => JobView.From([.. _trackers.Select(t => t.View)]);

    /// <summary>
    /// Opens the session: the targets of <paramref name="options"/>; with none, the local agent, or
    /// when it does not answer, this node sampled in-process.
    /// </summary>
    public static async Task<(TopSession? Session, string? Error)> OpenAsync(TopOptions options, CancellationToken ct)
    {
        var client = new ScrapeClient(options.Timeout);
        if (options.Targets.Count > 0)
        {
            var urls = options.Targets.Select(options.MetricsUrl).ToList();
            var trackers = options.Targets.Select((t, i) => new NodeTracker(options.DisplayName(t), urls[i].ToString())).ToList();
            return (new TopSession(trackers, client, urls, null), null);
        }

        // Settings for the in-process sampler (--path.sysfs=...) ask for it; otherwise the local agent, if one answers.
        var url = new Uri($"http://localhost:{options.Port}/metrics");
        var probe = options.AgentArgs.Count > 0 ? null : await client.ScrapeAsync(url, ct).ConfigureAwait(false);
        if (probe?.Metrics is not null)
        {
            return (new TopSession([new NodeTracker(Environment.MachineName, url.ToString())], client, [url], null), null);
        }

        client.Dispose();
        var (sampler, error) = await LocalSampler.StartAsync(options.AgentArgs, ct).ConfigureAwait(false);
        if (sampler is null)
        {
            return (null, error);
        }

        var source = probe is null ? "sampled by top" : $"sampled by top: no agent on localhost:{options.Port} ({probe.Error})";
        return (new TopSession([new NodeTracker(Environment.MachineName, source)], null, [], sampler), null);
    }

    /// <summary>Reads every node once (in parallel) and updates their views.</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        if (_local is not null)
        {
            var set = await _local.ScrapeAsync(ct).ConfigureAwait(false);
            _trackers[0].Update(set, Now(), WallClock());
            return;
        }

        var results = await _client!.ScrapeAllAsync(_urls, ct).ConfigureAwait(false);
        var time = Now();
        var wall = WallClock();
        for (var i = 0; i < results.Count; i++)
        {
            if (results[i].Metrics is { } m)
            {
                _trackers[i].Update(m, time, wall);
            }
            else
            {
                _trackers[i].Fail(results[i].Error ?? results[i].Failure.ToString());
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        if (_local is not null)
        {
            await _local.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static double Now() => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    private static double WallClock() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
}
