using EfaAgent.Agent.Sampling;
using EfaAgent.Collectors.Model;
using Prometheus;

namespace EfaAgent.Agent.Exposition;

/// <summary>
/// Serialises the latest snapshot through prometheus-net. Registered as a before-collect callback of
/// the registry: on each scrape it copies the finished frames out of the <see cref="SnapshotStore"/>
/// and sets the prometheus-net series from them. It never reads hardware. Series that leave a
/// layout are removed; a NaN value unpublishes a series until it has a value again.
/// </summary>
public sealed class PrometheusBridge
{
    private readonly SnapshotStore _store;
    private readonly MetricFactory _factory;
    private readonly Dictionary<string, Collector> _families = new(StringComparer.Ordinal);
    private readonly Source[] _sources;
    private readonly Layout[] _layouts;
    private readonly Lock _lock = new();

    /// <summary>Creates the bridge and registers it with <paramref name="registry"/>.</summary>
    public PrometheusBridge(SnapshotStore store, CollectorRegistry registry)
    {
        _store = store;
        _factory = Metrics.WithCustomRegistry(registry);
        _sources = new Source[store.Count];
        _layouts = new Layout[store.Count];
        for (var i = 0; i < _sources.Length; i++)
        {
            _sources[i] = new Source();
        }

        registry.AddBeforeCollectCallback(Sync);
    }

    /// <summary>Brings the prometheus-net series up to date with the store.</summary>
    public void Sync()
    {
        // Concurrent scrapes take turns: each sees a whole snapshot. All sources are copied from one
        // tick: a commit between two of the copies (one a tick, and a copy takes microseconds) starts
        // the copy again, at most twice.
        lock (_lock)
        {
            for (var attempt = 0; ; attempt++)
            {
                var version = _store.Version;
                for (var i = 0; i < _sources.Length; i++)
                {
                    _layouts[i] = _store.CopyTo(i, ref _sources[i].Values);
                }

                if (_store.Version == version || attempt == 2)
                {
                    break;
                }
            }

            for (var i = 0; i < _sources.Length; i++)
            {
                var s = _sources[i];
                var layout = _layouts[i];
                if (!ReferenceEquals(layout, s.Layout))
                {
                    Relayout(s, layout);
                }

                for (var k = 0; k < layout.Count; k++)
                {
                    Apply(s, k, s.Values[k]);
                }
            }
        }
    }

    private static void Apply(Source s, int k, double value)
    {
        var child = s.Children[k];
        if (double.IsNaN(value))
        {
            if (s.Published[k])
            {
                child.Unpublish();
                s.Published[k] = false;
            }

            return;
        }

        switch (child)
        {
            case Counter.Child c:
                c.IncTo(value);
                break;
            case Gauge.Child g:
                g.Set(value);
                break;
        }

        if (!s.Published[k])
        {
            child.Publish();
            s.Published[k] = true;
        }
    }

    private void Relayout(Source s, Layout layout)
    {
        var keep = new Dictionary<string, (ChildBase Child, bool Published)>(StringComparer.Ordinal);
        for (var k = 0; k < s.Layout.Count; k++)
        {
            keep[s.Layout.Series[k].Key] = (s.Children[k], s.Published[k]);
        }

        var children = new ChildBase[layout.Count];
        var published = new bool[layout.Count];
        for (var k = 0; k < layout.Count; k++)
        {
            var series = layout.Series[k];
            if (keep.Remove(series.Key, out var existing))
            {
                children[k] = existing.Child;
                published[k] = existing.Published;
            }
            else
            {
                children[k] = Child(series);
            }
        }

        // Whatever is left went away (a device removed, a counter that became readable again).
        foreach (var (_, gone) in keep)
        {
            gone.Child.Remove();
        }

        s.Layout = layout;
        s.Children = children;
        s.Published = published;
    }

    private ChildBase Child(Series series)
    {
        var family = series.Family;
        if (!_families.TryGetValue(family.Name, out var collector))
        {
            collector = family.Type switch
            {
                MetricType.Counter => _factory.CreateCounter(family.Name, family.Help, new CounterConfiguration { LabelNames = family.LabelNames, SuppressInitialValue = true }),
                _ => _factory.CreateGauge(family.Name, family.Help, new GaugeConfiguration { LabelNames = family.LabelNames, SuppressInitialValue = true }),
            };
            _families[family.Name] = collector;
        }

        var labels = series.LabelValues.ToArray();
        return collector switch
        {
            Counter c => c.WithLabels(labels),
            Gauge g => g.WithLabels(labels),
            _ => throw new InvalidOperationException($"unexpected collector type for {family.Name}"),
        };
    }

    private sealed class Source
    {
#pragma warning disable SA1401 // passed by ref to the store
        public double[] Values = [];
#pragma warning restore SA1401

        public Layout Layout { get; set; } = Layout.Empty;

        public ChildBase[] Children { get; set; } = [];

        public bool[] Published { get; set; } = [];
    }
}
