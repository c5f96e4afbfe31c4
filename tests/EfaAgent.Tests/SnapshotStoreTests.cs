using EfaAgent.Agent.Sampling;
using EfaAgent.Collectors.Model;

namespace EfaAgent.Tests;

/// <summary>A scrape sees whole ticks: the frames a tick publishes become visible together, at its commit.</summary>
public sealed class SnapshotStoreTests
{
    private static readonly MetricFamily Value = new("test_value", "A test value.", MetricType.Gauge);

    [Fact]
    public void Published_frames_are_seen_only_after_the_commit_and_then_all_together()
    {
        var store = new SnapshotStore(2);
        var layout = Layout(1);
        store.Publish(0, new Frame(layout, new double[] { 1 }));
        store.Publish(1, new Frame(layout, new double[] { 10 }));
        store.Commit();
        var version = store.Version;

        // A tick under way: its first source is published, its second not yet.
        store.Publish(0, new Frame(layout, new double[] { 2 }));
        Assert.Equal(version, store.Version);
        Assert.Equal([1.0, 10.0], Read(store));

        store.Publish(1, new Frame(layout, new double[] { 20 }));
        store.Commit();
        Assert.Equal(version + 1, store.Version);
        Assert.Equal([2.0, 20.0], Read(store));
    }

    [Fact]
    public void A_source_that_published_nothing_in_a_tick_keeps_its_last_frame_and_a_new_layout_comes_with_its_values()
    {
        var store = new SnapshotStore(2);
        store.Publish(0, new Frame(Layout(1), new double[] { 1 }));
        store.Publish(1, new Frame(Layout(1), new double[] { 10 }));
        store.Commit();

        var wider = Layout(3);
        store.Publish(0, new Frame(wider, new double[] { 4, 5, 6 }));
        store.Commit();

        var values = Array.Empty<double>();
        Assert.Same(wider, store.CopyTo(0, ref values));
        Assert.Equal([4.0, 5.0, 6.0], values[..3]);
        Assert.Equal(1, store.CopyTo(1, ref values).Count);
        Assert.Equal(10.0, values[0]);
    }

    private static Layout Layout(int count)
    {
        var b = new LayoutBuilder();
        for (var i = 0; i < count; i++)
        {
            b.Add(Value.With());
        }

        return b.Build();
    }

    private static double[] Read(SnapshotStore store)
    {
        var result = new List<double>();
        var values = Array.Empty<double>();
        for (var i = 0; i < store.Count; i++)
        {
            var layout = store.CopyTo(i, ref values);
            result.AddRange(values.AsSpan(0, layout.Count).ToArray());
        }

        return [.. result];
    }
}
