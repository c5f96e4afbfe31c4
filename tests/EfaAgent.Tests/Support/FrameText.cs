using System.Globalization;
using EfaAgent.Collectors.Model;

namespace EfaAgent.Tests.Support;

/// <summary>Renders a collector's frame as text lines, one per present series.</summary>
public static class FrameText
{
    /// <summary>
    /// <c>name{label="value",...} value</c> for every series whose value is not NaN (absent), sorted
    /// ordinally so that the text does not depend on slot order.
    /// </summary>
    public static string[] Lines(Frame frame)
    {
        var values = frame.Values.Span;
        var lines = new List<string>(frame.Layout.Count);
        for (var i = 0; i < frame.Layout.Count; i++)
        {
            if (!double.IsNaN(values[i]))
            {
                lines.Add(frame.Layout.Series[i] + " " + values[i].ToString(CultureInfo.InvariantCulture));
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return [.. lines];
    }

    /// <summary>The value of the series written as <paramref name="series"/>; null when absent or NaN.</summary>
    public static double? Value(Frame frame, string series)
    {
        var values = frame.Values.Span;
        for (var i = 0; i < frame.Layout.Count; i++)
        {
            if (frame.Layout.Series[i].ToString() == series)
            {
                return double.IsNaN(values[i]) ? null : values[i];
            }
        }

        return null;
    }
}
