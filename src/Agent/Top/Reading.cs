using EfaAgent.Agent.Scrape;

namespace EfaAgent.Agent.Top;

/// <summary>
/// One scrape of one node, kept for rates: the parsed metrics, when they arrived (seconds on a
/// monotonic clock), and the counters <c>top</c> computes rates from, by series.
/// </summary>
public sealed class Reading
{
    private static readonly string[] KeyLabels = ["device", "port", "gpu", "xid", "type", "counter"];

    private Reading(MetricSet metrics, double time, Dictionary<string, double> counters)
    {
        Metrics = metrics;
        Time = time;
        Counters = counters;
    }

    /// <summary>The parsed scrape.</summary>
    public MetricSet Metrics { get; }

    /// <summary>When it arrived, in seconds on a monotonic clock.</summary>
    public double Time { get; }

    /// <summary>The counters of the EFA ports and devices, interfaces, ENA allowances and GPUs, by <see cref="Key(string, Sample)"/>.</summary>
    public IReadOnlyDictionary<string, double> Counters { get; }

    /// <summary>Keeps the counters of <paramref name="metrics"/> that rates are computed from.</summary>
    public static Reading From(MetricSet metrics, double time)
    {
        var counters = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var s in metrics.Samples)
        {
            if (s.Name.EndsWith("_total", StringComparison.Ordinal)
                && (s.Name.StartsWith("efa_port_", StringComparison.Ordinal) || s.Name.StartsWith("efa_device_", StringComparison.Ordinal)
                    || s.Name.StartsWith("netdev_", StringComparison.Ordinal) || s.Name.StartsWith("gpu_", StringComparison.Ordinal)
                    || EnaAllowance.Counters.Contains(s.Name))
                && double.IsFinite(s.Value))
            {
                counters[Key(s.Name, s)] = s.Value;
            }
        }

        return new Reading(metrics, time, counters);
    }

    /// <summary>The key of a series: its name and the labels that tell the agent's series apart.</summary>
    public static string Key(string name, Sample sample) => Key(name, sample.Labels);

    /// <summary>The key of a series named <paramref name="name"/> with <paramref name="labels"/>.</summary>
    public static string Key(string name, IReadOnlyDictionary<string, string> labels)
    {
        var key = name;
        foreach (var l in KeyLabels)
        {
            if (labels.TryGetValue(l, out var v))
            {
                key += $"|{l}={v}";
            }
        }

        return key;
    }

    /// <summary>
    /// The increase of a counter from <paramref name="earlier"/> to this reading; null when either has
    /// no value, or when the counter went down (the agent restarted).
    /// </summary>
    public double? Increase(Reading? earlier, string key) =>
        earlier is not null && Counters.TryGetValue(key, out var now) && earlier.Counters.TryGetValue(key, out var then) && now >= then
            ? now - then
            : null;

    /// <summary>
    /// The last step of a counter the agent reads on its slow lane (every discovery interval, not
    /// every tick, so most scrapes repeat its value): its increase since the latest reading of
    /// <paramref name="window"/> (oldest first) that had another value; 0 when it did not move in
    /// the window, null when this reading lacks it or it went down.
    /// </summary>
    public double? LastStep(IReadOnlyList<Reading> window, string key)
    {
        if (!Counters.TryGetValue(key, out var now))
        {
            return null;
        }

        for (var i = window.Count - 1; i >= 0; i--)
        {
            if (window[i] != this && window[i].Counters.TryGetValue(key, out var then) && then != now)
            {
                return now > then ? now - then : null;
            }
        }

        return 0;
    }

    /// <summary>The per-second rate of a counter since <paramref name="earlier"/>; null as for <see cref="Increase"/>.</summary>
    public double? Rate(Reading? earlier, string key) =>
        earlier is not null && Time > earlier.Time && Increase(earlier, key) is { } d ? d / (Time - earlier.Time) : null;
}
