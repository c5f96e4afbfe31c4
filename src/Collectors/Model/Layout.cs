namespace EfaAgent.Collectors.Model;

/// <summary>
/// The ordered list of series a collector exports. A collector writes one value per series into an
/// array of the same length (<see cref="double.NaN"/> when a value is absent this tick). A layout is
/// immutable; a collector builds a new one only when its set of series changes (a device appears or
/// goes, a counter file becomes unreadable), so the fast lane never allocates.
/// </summary>
public sealed class Layout
{
    private static long s_nextVersion;

    /// <summary>Creates a layout over the given series.</summary>
    public Layout(IReadOnlyList<Series> series)
    {
        Series = series;
        Version = Interlocked.Increment(ref s_nextVersion);
    }

    /// <summary>An empty layout.</summary>
    public static Layout Empty { get; } = new([]);

    /// <summary>The series, in slot order.</summary>
    public IReadOnlyList<Series> Series { get; }

    /// <summary>A process-wide unique number: two layouts with the same version are the same object.</summary>
    public long Version { get; }

    /// <summary>The number of slots.</summary>
    public int Count => Series.Count;
}

/// <summary>Builds a <see cref="Layout"/> and hands out slot numbers.</summary>
public sealed class LayoutBuilder
{
    private readonly List<Series> _series = [];

    /// <summary>Adds a series and returns its slot.</summary>
    public int Add(Series series)
    {
        _series.Add(series);
        return _series.Count - 1;
    }

    /// <summary>Adds a series of <paramref name="family"/> and returns its slot.</summary>
    public int Add(MetricFamily family, params string[] labelValues) => Add(family.With(labelValues));

    /// <summary>The number of slots so far.</summary>
    public int Count => _series.Count;

    /// <summary>Freezes the layout.</summary>
    public Layout Build() => new(_series.ToArray());
}
