using System.Globalization;

namespace EfaAgent.Agent.Top;

/// <summary>
/// Lays out the full view of one node: verdicts, EFA ports with their ENA interfaces, history, GPUs.
/// A line's errors are its EFA port's and its ENA interface's allowance drops, each moving counter
/// in red with its increase in the last interval, the others' totals in yellow.
/// </summary>
public static class NodeRenderer
{
    private static readonly Column[] EfaColumns =
    [
        new("EFA", 12),
        new("port", 4, Right: true, Priority: 8),
        new("tx", 11, Right: true),
        new("%", 4, Right: true, Priority: 3),
        new("rx", 11, Right: true, Priority: 1),
        new("%", 4, Right: true, Priority: 3),
        new("peak tx", 11, Right: true, Priority: 5),
        new("peak rx", 11, Right: true, Priority: 5),
        new("rdma read", 11, Right: true, Priority: 7),
        new("rdma write", 11, Right: true, Priority: 7),
        new("ENA", 8, Priority: 2),
        new("ENA tx", 11, Right: true, Priority: 2),
        new("ENA rx", 11, Right: true, Priority: 3),
        new("errors", 16, Priority: 1, Fill: true),
    ];

    private static readonly Column[] GpuColumns =
    [
        new("GPU", 3, Right: true),
        new("util", 5, Right: true),
        new("memory GiB", 11, Right: true, Priority: 1),
        new("power", 6, Right: true, Priority: 2),
        new("temp", 6, Right: true, Priority: 2),
        new("SM clock", 9, Right: true, Priority: 4),
        new("NVLink tx", 11, Right: true, Priority: 6),
        new("NVLink rx", 11, Right: true, Priority: 6),
        new("PCIe tx", 11, Right: true, Priority: 7),
        new("PCIe rx", 11, Right: true, Priority: 7),
        new("Xid", 7, Priority: 3),
        new("throttle", 12, Priority: 5, Fill: true),
    ];

    /// <summary>The node's lines at <paramref name="width"/>.</summary>
    public static List<Line> Render(NodeView node, int width)
    {
        var lines = new List<Line> { Title(node) };
        foreach (var v in node.Verdicts)
        {
            lines.Add(VerdictLine(v));
        }

        if (node.Down)
        {
            return lines;
        }

        lines.Add(Line.Empty);
        lines.AddRange(Screen.Table(EfaColumns, EfaRows(node), width));
        lines.Add(Line.Empty);
        lines.AddRange(History(node.History, width));
        if (node.Gpus.Count > 0)
        {
            lines.Add(Line.Empty);
            lines.AddRange(Screen.Table(GpuColumns, node.Gpus.Select(g => ((IReadOnlyList<Span>)GpuRow(g), false)), width));
        }

        return lines;
    }

    /// <summary>The first line: the node, its instance type and where the numbers come from.</summary>
    public static Line Title(NodeView node)
    {
        var spans = new List<Span> { new(node.Name, Tone.Header) };
        if (node.InstanceType is { } t)
        {
            spans.Add(new Span($"  {t}"));
        }

        if (node.EfaFound is { } f)
        {
            spans.Add(new Span(string.Create(CultureInfo.InvariantCulture, $"  {f} EFA"), node.EfaExpected > f ? Tone.Warn : Tone.Plain));
        }

        if (node.Gpus.Count > 0)
        {
            spans.Add(new Span(string.Create(CultureInfo.InvariantCulture, $"  {node.Gpus.Count} GPU")));
        }

        if (node.Simulated is { } s)
        {
            spans.Add(new Span($"  [{s}]", Tone.Warn));
        }

        spans.Add(new Span($"  {node.Source}", Tone.Dim));
        return new Line(spans);
    }

    /// <summary>A verdict as a line: a severity word and the sentence.</summary>
    public static Line VerdictLine(Verdict v) => new([new Span(SeverityWord(v.Severity), ToneOf(v.Severity)), new Span(" " + v.Text, ToneOf(v.Severity))]);

    /// <summary>The word before a verdict.</summary>
    public static string SeverityWord(Severity s) => s switch
    {
        Severity.Critical => "CRIT",
        Severity.Warning => "WARN",
        Severity.Info => "info",
        _ => " ok ",
    };

    /// <summary>The tone of a severity.</summary>
    public static Tone ToneOf(Severity s) => s switch
    {
        Severity.Critical => Tone.Bad,
        Severity.Warning => Tone.Warn,
        Severity.Info => Tone.Info,
        _ => Tone.Good,
    };

    private static IEnumerable<(IReadOnlyList<Span>, bool)> EfaRows(NodeView node)
    {
        var paired = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in node.Efa)
        {
            var ena = p.Netdev is null ? null : node.Interfaces.FirstOrDefault(i => i.Device == p.Netdev);
            if (ena is not null)
            {
                paired.Add(ena.Device);
            }

            yield return (
            [
                new(p.Device),
                new(p.Port, Tone.Dim),
                new(Units.Rate(p.Transmit)),
                new(Units.Percent(p.Transmit, p.PortRate), Tone.Dim),
                new(Units.Rate(p.Receive)),
                new(Units.Percent(p.Receive, p.PortRate), Tone.Dim),
                new(Units.Rate(p.TransmitPeak)),
                new(Units.Rate(p.ReceivePeak)),
                new(Units.Rate(p.RdmaRead)),
                new(Units.Rate(p.RdmaWrite)),
                new(ena?.Device ?? "-", Tone.Dim),
                new(ena is null ? "" : Units.Rate(ena.Transmit)),
                new(ena is null ? "" : Units.Rate(ena.Receive)),
                Errors([.. p.Errors, .. Allowances(ena)]),
            ], false);
        }

        foreach (var i in node.Interfaces.Where(i => !paired.Contains(i.Device)))
        {
            yield return ([new("-", Tone.Dim), new(""), new(""), new(""), new(""), new(""), new(""), new(""), new(""), new(""), new(i.Device), new(Units.Rate(i.Transmit)), new(Units.Rate(i.Receive)), Errors(Allowances(i))], false);
        }
    }

    /// <summary>
    /// The ENA allowance drops of an interface, by allowance as the alert labels it (<c>bw_out +1.5k</c>):
    /// short, so that the increase fits a 100-column terminal; the verdict says they are allowances.
    /// </summary>
    private static IReadOnlyList<ErrorCount> Allowances(InterfaceView? ena) => ena?.AllowanceDrops ?? [];

    /// <summary>
    /// Error counters: those that moved in the last interval in red with their increase, the largest
    /// first (what a narrow cell keeps), then the others' totals in yellow.
    /// </summary>
    public static Span Errors(IReadOnlyList<ErrorCount> errors)
    {
        if (errors.Count == 0)
        {
            return new Span("-", Tone.Dim);
        }

        var text = string.Join(" ", errors.OrderByDescending(e => e.Recent).Select(e => e.Recent > 0 ? $"{ShortName(e.Counter)} +{Units.Count(e.Recent)}" : $"{ShortName(e.Counter)} {Units.Count(e.Total)}"));
        return new Span(text, errors.Any(e => e.Recent > 0) ? Tone.Bad : Tone.Warn);
    }

    /// <summary>A short name for a well-known error counter; others keep their name.</summary>
    public static string ShortName(string counter) => counter switch
    {
        "rx_drops" => "drops",
        "retrans_pkts" => "retrans",
        "retrans_timeout_events" => "retrans_timeouts",
        "unresponsive_remote_events" => "unresponsive",
        "impaired_remote_conn_events" => "impaired",
        _ => counter,
    };

    private static Span[] GpuRow(GpuView g)
    {
        if (!g.Up)
        {
            return [new(g.Index, Tone.Bad), new("LOST", Tone.Bad), new(""), new(""), new(""), new(""), new(""), new(""), new(""), new(""), Xids(g), new("")];
        }

        var mem = g.MemoryUsed is { } u && g.MemoryTotal is { } t ? $"{Units.GiB(u)}/{Units.GiB(t)}" : "-";
        return
        [
            new(g.Index),
            new(Units.Ratio(g.Utilization), g.Utilization < AlertConditions.GpusBusy.Threshold ? Tone.Warn : Tone.Plain),
            new(mem),
            new(Units.Watts(g.Power)),
            new(Units.Celsius(g.Temperature)),
            new(Units.Mhz(g.SmClock)),
            new(Units.Rate(g.NvlinkTransmit)),
            new(Units.Rate(g.NvlinkReceive)),
            new(Units.Rate(g.PcieTransmit)),
            new(Units.Rate(g.PcieReceive)),
            Xids(g),
            g.Throttle.Count == 0 ? new("-", Tone.Dim) : new(string.Join(",", g.Throttle), Tone.Warn),
        ];
    }

    private static Span Xids(GpuView g) => g.Xids.Count == 0
        ? new Span("-", Tone.Dim)
        : new Span(string.Join(",", g.Xids.Select(x => x.Total > 1 ? $"{x.Counter}x{x.Total:0}" : x.Counter)), Tone.Bad);

    private static IEnumerable<Line> History(NodeHistory h, int width)
    {
        const int Label = 22;
        var spark = Math.Max(0, Math.Min(60, width - Label - 1));
        var linkMax = Math.Max(h.EfaTransmit.Concat(h.EfaReceive).DefaultIfEmpty(0).Max(), 1);
        var enaMax = Math.Max(h.EnaTransmit.Concat(h.EnaReceive).DefaultIfEmpty(0).Max(), 1);
        (string Name, IReadOnlyList<double> Values, double Max, Func<double, string> Unit)[] rows =
        [
            ("EFA tx", h.EfaTransmit, linkMax, v => Units.Rate(v)),
            ("EFA rx", h.EfaReceive, linkMax, v => Units.Rate(v)),
            ("ENA tx", h.EnaTransmit, enaMax, v => Units.Rate(v)),
            ("ENA rx", h.EnaReceive, enaMax, v => Units.Rate(v)),
            ("GPU util", h.GpuMean, 1, v => Units.Ratio(v)),
        ];
        yield return Line.Of("last minute", Tone.Header);
        foreach (var (name, values, max, unit) in rows)
        {
            var now = values.Count == 0 ? "-" : unit(values[^1]);
            yield return new Line([new Span(Screen.Cell(name, 9, false)), new Span(Screen.Cell(now, 12, true) + " "), new Span(Units.Spark(values, spark, max), Tone.Good)]);
        }
    }
}
