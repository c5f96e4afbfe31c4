namespace EfaAgent.Collectors.Model;

/// <summary>
/// A collector's layout and value array: the series found by discovery (the base), followed by one
/// <see cref="UnavailableSeries"/> series per counter that cannot be exported. The base is rebuilt by
/// discovery; the tail only when the set of unavailable counters changes. Values start as NaN (absent).
/// </summary>
public sealed class FrameState
{
    private Series[] _base = [];
    private double[] _values = [];

    /// <summary>The current layout.</summary>
    public Layout Layout { get; private set; } = Layout.Empty;

    /// <summary>The values, one per series of <see cref="Layout"/>; the collector writes the base slots.</summary>
    public double[] Values => _values;

    /// <summary>The frame to hand to the publisher.</summary>
    public Frame Frame => new(Layout, _values);

    /// <summary>Installs a new base; every base value is NaN until written.</summary>
    public void SetBase(LayoutBuilder builder, UnavailableSeries unavailable)
    {
        _base = builder.Build().Series.ToArray();
        Rebuild(unavailable, copy: false);
    }

    /// <summary>
    /// Installs a new base where every series that stays (same key) keeps the value the frame showed,
    /// until the next read writes it again: a relayout (a device found, a process started) shows no
    /// gap. A new series is NaN (absent), never 0.
    /// </summary>
    public void SetBaseCarrying(LayoutBuilder builder, UnavailableSeries unavailable)
    {
        var previous = new Dictionary<string, double>(Layout.Count, StringComparer.Ordinal);
        for (var i = 0; i < Layout.Count && i < _values.Length; i++)
        {
            previous[Layout.Series[i].Key] = _values[i];
        }

        SetBase(builder, unavailable);
        for (var i = 0; i < _base.Length; i++)
        {
            if (previous.TryGetValue(_base[i].Key, out var value))
            {
                _values[i] = value;
            }
        }
    }

    /// <summary>Re-appends the unavailable series when they changed, keeping the base values.</summary>
    public void SyncUnavailable(UnavailableSeries unavailable)
    {
        if (unavailable.Changed)
        {
            Rebuild(unavailable, copy: true);
        }
    }

    private void Rebuild(UnavailableSeries unavailable, bool copy)
    {
        var builder = new LayoutBuilder();
        foreach (var s in _base)
        {
            builder.Add(s);
        }

        var errors = unavailable.AppendTo(builder);
        var values = new double[builder.Count];
        if (copy)
        {
            Array.Copy(_values, values, Math.Min(_base.Length, _values.Length));
        }
        else
        {
            Array.Fill(values, double.NaN, 0, _base.Length);
        }

        Array.Fill(values, 1.0, _base.Length, errors);
        _values = values;
        Layout = builder.Build();
    }
}
