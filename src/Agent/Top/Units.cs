using System.Globalization;

namespace EfaAgent.Agent.Top;

/// <summary>Human units for the view: bits per second for links, GiB, W, °C, GHz.</summary>
public static class Units
{
    private static readonly string[] Blocks = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

    /// <summary>A throughput in bytes per second as bits per second: "97.3 Gbit/s", "12 Mbit/s", "0".</summary>
    public static string Rate(double? bytesPerSecond)
    {
        if (bytesPerSecond is not { } b)
        {
            return "-";
        }

        var bits = b * 8;
        return bits switch
        {
            < 0.5 => "0",
            < 1e3 => F($"{bits:0} bit/s"),
            < 1e6 => Scaled(bits / 1e3, "kbit/s"),
            < 1e9 => Scaled(bits / 1e6, "Mbit/s"),
            < 1e12 => Scaled(bits / 1e9, "Gbit/s"),
            _ => Scaled(bits / 1e12, "Tbit/s"),
        };
    }

    /// <summary>Three significant digits at most, so a rate fits 11 columns: "5.12 Gbit/s", "97.3 Gbit/s", "979 Gbit/s".</summary>
    private static string Scaled(double v, string unit) => v switch
    {
        < 9.995 => F($"{v:0.00} {unit}"),
        < 99.95 => F($"{v:0.0} {unit}"),
        _ => F($"{v:0} {unit}"),
    };

    /// <summary>A share of a maximum: "97%"; "-" without both.</summary>
    public static string Percent(double? value, double? of) =>
        value is { } v && of is { } o && o > 0 ? F($"{100 * v / o:0}%") : "-";

    /// <summary>A ratio 0..1 as a percentage.</summary>
    public static string Ratio(double? ratio) => ratio is { } r ? F($"{100 * r:0}%") : "-";

    /// <summary>Bytes in GiB: "38.2".</summary>
    public static string GiB(double? bytes) => bytes is { } b ? F($"{b / (1L << 30):0.0}") : "-";

    /// <summary>Watts.</summary>
    public static string Watts(double? w) => w is { } v ? F($"{v:0} W") : "-";

    /// <summary>Degrees Celsius.</summary>
    public static string Celsius(double? c) => c is { } v ? F($"{v:0} °C") : "-";

    /// <summary>Hertz as MHz.</summary>
    public static string Mhz(double? hz) => hz is { } v ? F($"{v / 1e6:0} MHz") : "-";

    /// <summary>A count: "0", "12", "3.4k", "5.6M".</summary>
    public static string Count(double n) => n switch
    {
        < 1e4 => F($"{n:0}"),
        < 1e6 => F($"{n / 1e3:0.0}k"),
        < 1e9 => F($"{n / 1e6:0.0}M"),
        _ => F($"{n / 1e9:0.0}G"),
    };

    /// <summary>A sparkline of the last <paramref name="width"/> values, scaled to <paramref name="max"/> (or to their own maximum).</summary>
    public static string Spark(IReadOnlyList<double> values, int width, double? max = null)
    {
        var top = max ?? (values.Count == 0 ? 0 : values.Max());
        var start = Math.Max(0, values.Count - width);
        var s = new System.Text.StringBuilder(width);
        for (var i = start; i < values.Count; i++)
        {
            var level = top <= 0 ? 0 : (int)Math.Round(Math.Clamp(values[i] / top, 0, 1) * (Blocks.Length - 1));
            s.Append(Blocks[level]);
        }

        return s.ToString().PadLeft(width);
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
