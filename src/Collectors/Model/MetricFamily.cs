namespace EfaAgent.Collectors.Model;

/// <summary>The Prometheus type of a metric family.</summary>
public enum MetricType
{
    /// <summary>A value that only goes up (exported with a <c>_total</c> suffix).</summary>
    Counter,

    /// <summary>A value that can go up and down.</summary>
    Gauge,
}

/// <summary>
/// One metric family: a name, its help text, its type and its label names. Families are plain data:
/// collectors describe what they export with them and know nothing of the exposition library.
/// </summary>
/// <remarks>The help text is escaped here, once, for every serialiser: it may carry a file name from the node.</remarks>
public sealed record MetricFamily(string Name, string Help, MetricType Type, params string[] LabelNames)
{
    /// <summary>The help text, escaped for the exposition (<see cref="ExpositionText.EscapeHelp"/>).</summary>
    public string Help { get; init; } = ExpositionText.EscapeHelp(Help);

    /// <summary>Builds one series of this family; the label values must match <see cref="LabelNames"/>.</summary>
    public Series With(params string[] labelValues)
    {
        if (labelValues.Length != LabelNames.Length)
        {
            throw new ArgumentException(
                $"metric {Name} takes {LabelNames.Length} label values ({string.Join(", ", LabelNames)}), got {labelValues.Length}",
                nameof(labelValues));
        }

        return new Series(this, labelValues);
    }
}

/// <summary>One time series: a family and the values of its labels.</summary>
public sealed class Series(MetricFamily family, string[] labelValues)
{
    /// <summary>The family this series belongs to.</summary>
    public MetricFamily Family { get; } = family;

    /// <summary>Label values, in the order of <see cref="MetricFamily.LabelNames"/>.</summary>
    public IReadOnlyList<string> LabelValues { get; } = labelValues;

    /// <summary>A stable identity: the family name and every label value.</summary>
    public string Key { get; } = family.Name + "{" + string.Join('\u001f', labelValues) + "}";

    /// <inheritdoc />
    public override string ToString()
    {
        var pairs = Family.LabelNames.Zip(LabelValues, (n, v) => $"{n}=\"{v}\"");
        return $"{Family.Name}{{{string.Join(',', pairs)}}}";
    }
}
