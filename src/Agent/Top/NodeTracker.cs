using EfaAgent.Agent.Scrape;

namespace EfaAgent.Agent.Top;

/// <summary>
/// One node as <c>top</c> follows it: its readings of the last minute (for the verdicts' windows and
/// the sparklines) and the view built from the latest two.
/// </summary>
public sealed class NodeTracker
{
    /// <summary>How far back rates for verdicts and sparklines go: the <c>rate1m</c> of the recording rules.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly List<Reading> _readings = [];
    private readonly List<(double Time, NodeTotals Totals)> _history = [];

    /// <summary>Follows the node <paramref name="name"/> read from <paramref name="source"/>.</summary>
    public NodeTracker(string name, string source)
    {
        Name = name;
        Source = source;
        View = NodeView.Unreachable(name, source, "waiting for the first scrape", NodeHistory.Empty) with { Verdicts = [] };
    }

    /// <summary>The node's name as shown.</summary>
    public string Name { get; }

    /// <summary>Where it is read from (a URL, or "this node").</summary>
    public string Source { get; }

    /// <summary>The latest view.</summary>
    public NodeView View { get; private set; }

    /// <summary>Adds a scrape that arrived at <paramref name="time"/> (monotonic seconds); <paramref name="wallClock"/> is Unix time now.</summary>
    public NodeView Update(MetricSet metrics, double time, double wallClock)
    {
        var now = Reading.From(metrics, time);
        var before = _readings.Count > 0 ? _readings[^1] : null;
        if (before is not null && (before.Time >= time || Restarted(before, now)))
        {
            // A clock that did not move or an agent that restarted: start over rather than show nonsense rates.
            _readings.Clear();
            before = null;
        }

        _readings.Add(now);
        _readings.RemoveAll(r => r.Time < time - Window.TotalSeconds);

        // A reading taken before a series existed (an agent still discovering its devices, a device that
        // appeared late) would make the window's increase of that series unknown for a whole minute:
        // the window starts at the oldest reading that has every counter this one has. Series appear,
        // they do not come and go, so only the front of the window needs looking at.
        while (_readings.Count > 1 && !now.Counters.Keys.All(_readings[0].Counters.ContainsKey))
        {
            _readings.RemoveAt(0);
        }
        var windowStart = _readings.Count > 1 ? _readings[0] : null;

        var efa = NodeViewBuilder.EfaPorts(now, before);
        var interfaces = NodeViewBuilder.Interfaces(now, before, efa, _readings);
        var gpus = NodeViewBuilder.Gpus(now, before);
        var verdicts = Verdicts.Evaluate(new Verdicts.Input(now, windowStart, efa, interfaces, gpus, wallClock));
        var totals = Totals(efa, interfaces, gpus, before is not null);
        if (before is not null)
        {
            _history.Add((time, totals));
        }

        _history.RemoveAll(h => h.Time < time - Window.TotalSeconds);
        var expected = metrics.Series("efa_devices_expected") is [var e, ..] ? e : null;
        var simulated = metrics.Series("efa_agent_simulated_data") is [var sim, ..] ? sim : null;
        View = new NodeView(
            Name,
            Source,
            null,
            metrics.Series("efa_node_info").Select(s => s.Label("instance_type")).FirstOrDefault(t => !string.IsNullOrEmpty(t)),
            simulated is null ? null : $"SIMULATED {simulated.Label("shape")}, scenario {simulated.Label("scenario")}",
            metrics.Value("efa_devices") is { } f ? (int)f : null,
            expected is null ? null : (int)expected.Value,
            efa,
            interfaces,
            gpus,
            verdicts,
            totals,
            History());
        return View;
    }

    /// <summary>Records a failed scrape: the node is shown as not answering, its history kept.</summary>
    public NodeView Fail(string error)
    {
        View = NodeView.Unreachable(Name, Source, error, History());
        return View;
    }

    private static bool Restarted(Reading before, Reading now) =>
        now.Metrics.Value("efa_agent_start_time_seconds") is { } a && before.Metrics.Value("efa_agent_start_time_seconds") is { } b && a != b;

    private static NodeTotals Totals(List<EfaPortView> efa, List<InterfaceView> interfaces, List<GpuView> gpus, bool rates)
    {
        var util = gpus.Where(g => g.Utilization is not null).Select(g => g.Utilization!.Value).ToList();
        var moving = efa.Sum(p => p.Errors.Count(e => e.Recent > 0)) + interfaces.Sum(i => i.AllowanceDrops.Count(e => e.Recent > 0))
            + gpus.Sum(g => g.Xids.Count(x => x.Recent > 0));
        return new NodeTotals(
            rates ? efa.Sum(p => p.Transmit ?? 0) : null,
            rates ? efa.Sum(p => p.Receive ?? 0) : null,
            rates ? interfaces.Sum(i => i.Transmit ?? 0) : null,
            rates ? interfaces.Sum(i => i.Receive ?? 0) : null,
            util.Count == 0 ? null : util.Average(),
            util.Count == 0 ? null : util.Min(),
            moving);
    }

    private NodeHistory History() => new(
        [.. _history.Select(h => h.Totals.EfaTransmit ?? 0)],
        [.. _history.Select(h => h.Totals.EfaReceive ?? 0)],
        [.. _history.Select(h => h.Totals.EnaTransmit ?? 0)],
        [.. _history.Select(h => h.Totals.EnaReceive ?? 0)],
        [.. _history.Select(h => h.Totals.GpuMean ?? 0)]);
}
