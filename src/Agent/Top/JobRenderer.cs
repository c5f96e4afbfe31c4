using System.Globalization;

namespace EfaAgent.Agent.Top;

/// <summary>Lays out the job view: one row per node, the straggler picked out.</summary>
public static class JobRenderer
{
    private static readonly Column[] Columns =
    [
        new("node", 18),
        new("EFA tx", 11, Right: true),
        new("EFA rx", 11, Right: true, Priority: 2),
        new("ENA tx", 11, Right: true, Priority: 1),
        new("ENA rx", 11, Right: true, Priority: 3),
        new("GPU", 5, Right: true),
        new("min", 5, Right: true, Priority: 2),
        new("errors", 6, Right: true, Priority: 4),
        new("EFA tx, last minute", 20, Priority: 5),
        new("verdict", 30, Fill: true),
    ];

    /// <summary>The job's lines at <paramref name="width"/>; <paramref name="selected"/> is the highlighted node (-1 for none).</summary>
    public static List<Line> Render(JobView job, int width, int selected)
    {
        var down = job.Nodes.Count(n => n.Down && n.Verdicts.Count > 0); // not those still waiting for their first answer
        var title = new List<Span> { new(string.Create(CultureInfo.InvariantCulture, $"job of {job.Nodes.Count} nodes"), Tone.Header) };
        if (down > 0)
        {
            title.Add(new Span(string.Create(CultureInfo.InvariantCulture, $"  {down} not answering"), Tone.Bad));
        }

        var simulated = job.Nodes.Count(n => n.Simulated is not null);
        if (simulated > 0)
        {
            title.Add(new Span(string.Create(CultureInfo.InvariantCulture, $"  [SIMULATED: {simulated} of {job.Nodes.Count} nodes]"), Tone.Warn));
        }

        var lines = new List<Line> { new(title) };
        for (var i = 0; i < job.Nodes.Count; i++)
        {
            if (job.Stragglers[i] is { } why)
            {
                lines.Add(new Line([new Span("WARN", Tone.Warn), new Span($" straggler: {job.Nodes[i].Name} ({why})", Tone.Warn)]));
            }
        }

        lines.Add(Line.Empty);
        lines.AddRange(Screen.Table(Columns, job.Nodes.Select((n, i) => ((IReadOnlyList<Span>)Row(n, job.Stragglers[i]), i == selected)), width));
        return lines;
    }

    private static Span[] Row(NodeView n, string? straggler)
    {
        var name = new Span(n.Name, straggler is null ? Tone.Plain : Tone.Warn);
        if (n.Down)
        {
            return [name, new("-", Tone.Dim), new("-", Tone.Dim), new("-", Tone.Dim), new("-", Tone.Dim), new("-", Tone.Dim), new("-", Tone.Dim), new("-", Tone.Dim), new(""), new(n.Verdicts.Count > 0 ? n.Verdicts[0].Text : n.Error ?? "", Tone.Bad)];
        }

        var t = n.Totals;
        var top = n.Verdicts.Count > 0 ? n.Verdicts[0] : new Verdict(Severity.Info, "waiting for a second scrape", null);
        if (straggler is not null && top.Severity > Severity.Warning)
        {
            top = new Verdict(Severity.Warning, $"straggler: {straggler}", null);
        }

        var more = n.Verdicts.Count(v => v.Severity <= Severity.Warning && v != top);
        return
        [
            name,
            new(Units.Rate(t.EfaTransmit)),
            new(Units.Rate(t.EfaReceive)),
            new(Units.Rate(t.EnaTransmit)),
            new(Units.Rate(t.EnaReceive)),
            new(Units.Ratio(t.GpuMean), t.GpuMean < AlertConditions.GpusBusy.Threshold ? Tone.Warn : Tone.Plain),
            new(Units.Ratio(t.GpuMin), t.GpuMin < AlertConditions.GpusBusy.Threshold ? Tone.Warn : Tone.Plain),
            new(t.ErrorsMoving.ToString(CultureInfo.InvariantCulture), t.ErrorsMoving > 0 ? Tone.Bad : Tone.Dim),
            new(Units.Spark(n.History.EfaTransmit, 20), Tone.Good),
            new(more > 0 ? string.Create(CultureInfo.InvariantCulture, $"{top.Text} (+{more})") : top.Text, NodeRenderer.ToneOf(top.Severity)),
        ];
    }
}
