using EfaAgent.Collectors.Model;

namespace EfaAgent.Tests.Support;

/// <summary>Looks series up in a collector's frame by metric name and labels.</summary>
public static class FrameReader
{
    /// <summary>Every series of <paramref name="name"/> whose labels include <paramref name="labels"/> ("name=value").</summary>
    public static List<(Series Series, double Value)> Find(this Frame frame, string name, params string[] labels)
    {
        var found = new List<(Series, double)>();
        var values = frame.Values.Span;
        for (var i = 0; i < frame.Layout.Count; i++)
        {
            var s = frame.Layout.Series[i];
            if (s.Family.Name == name && labels.All(l => Matches(s, l)))
            {
                found.Add((s, values[i]));
            }
        }

        return found;
    }

    /// <summary>The value of the one series of <paramref name="name"/> with <paramref name="labels"/>; fails when there is not exactly one.</summary>
    public static double Value(this Frame frame, string name, params string[] labels)
    {
        var found = frame.Find(name, labels);
        Assert.True(found.Count == 1, $"expected one {name}{{{string.Join(',', labels)}}}, found {found.Count}");
        return found[0].Value;
    }

    /// <summary>The label value of <paramref name="label"/> on a series.</summary>
    public static string Label(this Series series, string label) =>
        series.LabelValues[Array.IndexOf(series.Family.LabelNames, label)];

    /// <summary>Every distinct family name in the frame.</summary>
    public static HashSet<string> Names(this Frame frame) => [.. frame.Layout.Series.Select(s => s.Family.Name)];

    private static bool Matches(Series s, string label)
    {
        var eq = label.IndexOf('=', StringComparison.Ordinal);
        var name = label[..eq];
        var index = Array.IndexOf(s.Family.LabelNames, name);
        return index >= 0 && s.LabelValues[index] == label[(eq + 1)..];
    }
}
