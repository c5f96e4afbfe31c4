using System.Text;

namespace EfaAgent.Agent.Top;

/// <summary>What a piece of text means; the terminal turns it into a colour, plain text ignores it.</summary>
public enum Tone
{
    /// <summary>Ordinary text.</summary>
    Plain,

    /// <summary>Less important (units, absent values).</summary>
    Dim,

    /// <summary>A heading.</summary>
    Header,

    /// <summary>Healthy.</summary>
    Good,

    /// <summary>Worth knowing.</summary>
    Info,

    /// <summary>Slow or at risk.</summary>
    Warn,

    /// <summary>Failing.</summary>
    Bad,

    /// <summary>The selected row.</summary>
    Selected,
}

/// <summary>A run of text in one tone.</summary>
public readonly record struct Span(string Text, Tone Tone = Tone.Plain);

/// <summary>One line of the screen: spans that together never exceed the width they were laid out for.</summary>
public sealed record Line(IReadOnlyList<Span> Spans)
{
    /// <summary>An empty line.</summary>
    public static Line Empty { get; } = new([]);

    /// <summary>A line of one span.</summary>
    public static Line Of(string text, Tone tone = Tone.Plain) => new([new Span(text, tone)]);

    /// <summary>The text without tones.</summary>
    public string Text => string.Concat(Spans.Select(s => s.Text));

    /// <summary>This line cut to <paramref name="width"/> columns.</summary>
    public Line Fit(int width)
    {
        var list = new List<Span>();
        var left = width;
        foreach (var s in Spans)
        {
            if (left <= 0)
            {
                break;
            }

            list.Add(s.Text.Length <= left ? s : s with { Text = s.Text[..left] });
            left -= Math.Min(left, s.Text.Length);
        }

        return new Line(list);
    }
}

/// <summary>A column of a table: its heading, width, alignment, and how soon it is dropped on a narrow terminal.</summary>
/// <param name="Header">The heading.</param>
/// <param name="Width">Columns it takes (a <paramref name="Fill"/> column takes at least this, and whatever is left).</param>
/// <param name="Right">Right-aligned (numbers).</param>
/// <param name="Priority">0 is always shown; higher numbers are dropped first when the width runs out.</param>
/// <param name="Fill">Takes the width the other columns leave.</param>
public sealed record Column(string Header, int Width, bool Right = false, int Priority = 0, bool Fill = false);

/// <summary>Lays out tables and text in a fixed width: columns that do not fit are dropped, never wrapped.</summary>
public static class Screen
{
    /// <summary>The narrowest a fill column gets before it is dropped.</summary>
    public const int MinFill = 12;

    /// <summary>
    /// Lays out a table at <paramref name="width"/>: the columns of lowest priority are dropped until the
    /// rest fits, cells are cut to their column. Each row is one span per column.
    /// </summary>
    public static List<Line> Table(IReadOnlyList<Column> columns, IEnumerable<(IReadOnlyList<Span> Cells, bool Selected)> rows, int width)
    {
        var shown = Choose(columns, width);
        var widths = shown.Select(i => columns[i].Width).ToArray();
        var fill = Array.FindIndex(shown, i => columns[i].Fill);
        if (fill >= 0)
        {
            // Whatever the others leave, which may be less than its width (down to MinFill).
            widths[fill] = Math.Max(1, widths[fill] + width - (widths.Sum() + widths.Length - 1));
        }

        var lines = new List<Line> { Row(shown.Select(i => new Span(columns[i].Header, Tone.Header)).ToArray(), shown, columns, widths, false) };
        foreach (var (cells, selected) in rows)
        {
            lines.Add(Row(shown.Select(i => cells[i]).ToArray(), shown, columns, widths, selected));
        }

        return lines;
    }

    /// <summary>The lines as plain text, each cut to <paramref name="width"/> and without trailing spaces.</summary>
    public static string PlainText(IEnumerable<Line> lines, int width)
    {
        var s = new StringBuilder();
        foreach (var line in lines)
        {
            s.Append(line.Fit(width).Text.TrimEnd()).Append('\n');
        }

        return s.ToString();
    }

    /// <summary>Pads or cuts <paramref name="text"/> to exactly <paramref name="width"/> columns.</summary>
    public static string Cell(string text, int width, bool right)
    {
        if (text.Length > width)
        {
            return width <= 1 ? text[..width] : text[..(width - 1)] + "…";
        }

        return right ? text.PadLeft(width) : text.PadRight(width);
    }

    /// <summary>
    /// The columns shown at <paramref name="width"/>, by priority. A fill column may shrink to
    /// <see cref="MinFill"/> to stay; then columns of lower priority make way until it has its width.
    /// </summary>
    private static int[] Choose(IReadOnlyList<Column> columns, int width)
    {
        var order = Enumerable.Range(0, columns.Count).OrderBy(i => columns[i].Priority).ThenBy(i => i).ToList();
        var chosen = new List<int>();
        var used = -1;
        foreach (var i in order)
        {
            var need = (columns[i].Fill ? Math.Min(MinFill, columns[i].Width) : columns[i].Width) + 1;
            if (used + need <= width || chosen.Count == 0)
            {
                chosen.Add(i);
                used += need;
            }
        }

        var fill = chosen.FindIndex(i => columns[i].Fill);
        if (fill >= 0)
        {
            var f = chosen[fill];
            int Total() => chosen.Sum(i => columns[i].Width + 1) - 1;
            while (Total() > width && chosen.Where(i => i != f && columns[i].Priority > columns[f].Priority).OrderByDescending(i => columns[i].Priority).ThenByDescending(i => i).FirstOrDefault(-1) is var drop and >= 0)
            {
                chosen.Remove(drop);
            }
        }

        chosen.Sort();
        return [.. chosen];
    }

    private static Line Row(Span[] cells, int[] shown, IReadOnlyList<Column> columns, int[] widths, bool selected)
    {
        var spans = new List<Span>();
        for (var k = 0; k < cells.Length; k++)
        {
            var col = columns[shown[k]];
            if (k > 0)
            {
                spans.Add(new Span(" ", selected ? Tone.Selected : Tone.Plain));
            }

            spans.Add(new Span(Cell(cells[k].Text, widths[k], col.Right), selected ? Tone.Selected : cells[k].Tone));
        }

        return new Line(spans);
    }
}
