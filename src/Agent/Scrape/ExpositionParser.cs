using System.Globalization;
using System.Text;

namespace EfaAgent.Agent.Scrape;

/// <summary>One sample of a scrape: a series name, its labels and its value.</summary>
public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>The value of label <paramref name="name"/>, or the empty string (Prometheus's "absent").</summary>
    public string Label(string name) => Labels.TryGetValue(name, out var v) ? v : "";
}

/// <summary>A parsed scrape: the samples in order, and the HELP and TYPE of each family.</summary>
public sealed class MetricSet
{
    private readonly Dictionary<string, List<Sample>> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _types;
    private readonly Dictionary<string, string> _help;

    internal MetricSet(List<Sample> samples, Dictionary<string, string> types, Dictionary<string, string> help)
    {
        Samples = samples;
        _types = types;
        _help = help;
        foreach (var s in samples)
        {
            if (!_byName.TryGetValue(s.Name, out var list))
            {
                _byName[s.Name] = list = [];
            }

            list.Add(s);
        }
    }

    /// <summary>Every sample, in the order of the exposition.</summary>
    public IReadOnlyList<Sample> Samples { get; }

    /// <summary>The names of the series present.</summary>
    public IEnumerable<string> Names => _byName.Keys;

    /// <summary>The declared type of a family (<c>counter</c>, <c>gauge</c>, ...), or null.</summary>
    public string? TypeOf(string family) => _types.GetValueOrDefault(family);

    /// <summary>The HELP text of a family, unescaped, or null.</summary>
    public string? HelpOf(string family) => _help.GetValueOrDefault(family);

    /// <summary>All samples named <paramref name="name"/>.</summary>
    public IReadOnlyList<Sample> Series(string name) => _byName.TryGetValue(name, out var list) ? list : [];

    /// <summary>The value of the first sample named <paramref name="name"/> whose labels match, or null.</summary>
    public double? Value(string name, params (string Label, string Value)[] match)
    {
        foreach (var s in Series(name))
        {
            if (match.All(m => s.Label(m.Label) == m.Value))
            {
                return s.Value;
            }
        }

        return null;
    }
}

/// <summary>
/// A parser of the Prometheus text exposition format (0.0.4) and of OpenMetrics text: HELP and TYPE
/// lines, label escapes (<c>\\</c>, <c>\"</c>, <c>\n</c>), <c>NaN</c> and <c>±Inf</c>, optional
/// timestamps, OpenMetrics exemplars and <c># EOF</c>. The one parser of the project: the operator
/// commands read agents with it, and the tests read the agent's output with it.
/// </summary>
public static class ExpositionParser
{
    /// <summary>Parses <paramref name="text"/>; throws <see cref="FormatException"/> naming the line.</summary>
    public static MetricSet Parse(string text) =>
        TryParse(text, out var set, out var error) ? set! : throw new FormatException(error);

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> names the line and the fault.</summary>
    public static bool TryParse(string text, out MetricSet? set, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<Sample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        set = null;
        error = null;
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            string? fault;
            if (line[0] == '#')
            {
                if (line == "# EOF")
                {
                    break;
                }

                fault = ParseComment(line, types, help);
            }
            else
            {
                fault = ParseSample(line, out var sample);
                if (sample is not null)
                {
                    samples.Add(sample);
                }
            }

            if (fault is not null)
            {
                error = $"line {lineNumber}: {fault}: {Shorten(line)}";
                return false;
            }
        }

        set = new MetricSet(samples, types, help);
        return true;
    }

    private static string? ParseComment(string line, Dictionary<string, string> types, Dictionary<string, string> help)
    {
        var parts = line.Split(' ', 4);
        if (parts.Length < 3 || parts[0] != "#" || parts[1] is not ("HELP" or "TYPE"))
        {
            return null; // a plain comment, or # UNIT
        }

        if (!IsMetricName(parts[2]))
        {
            return $"bad metric name '{parts[2]}' in {parts[1]}";
        }

        var rest = parts.Length > 3 ? parts[3] : "";
        if (parts[1] == "TYPE")
        {
            if (rest is not ("counter" or "gauge" or "histogram" or "summary" or "untyped" or "unknown" or "info" or "stateset" or "gaugehistogram"))
            {
                return $"unknown type '{rest}'";
            }

            types[parts[2]] = rest;
        }
        else
        {
            var unescaped = Unescape(rest, allowQuote: true);
            if (unescaped is null)
            {
                return "bad escape in HELP";
            }

            help[parts[2]] = unescaped;
        }

        return null;
    }

    private static string? ParseSample(string line, out Sample? sample)
    {
        sample = null;
        var i = 0;
        while (i < line.Length && line[i] is not ('{' or ' ' or '\t'))
        {
            i++;
        }

        var name = line[..i];
        if (!IsMetricName(name))
        {
            return $"bad metric name '{name}'";
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                SkipSpaces(line, ref i);
                if (i < line.Length && line[i] == '}')
                {
                    i++;
                    break;
                }

                var start = i;
                while (i < line.Length && line[i] != '=' && line[i] != ' ')
                {
                    i++;
                }

                var label = line[start..i];
                SkipSpaces(line, ref i);
                if (!IsLabelName(label) || i >= line.Length || line[i] != '=' || i + 1 >= line.Length || line[i + 1] != '"')
                {
                    return $"bad label '{label}'";
                }

                i += 2;
                var value = new StringBuilder();
                var closed = false;
                while (i < line.Length)
                {
                    var c = line[i++];
                    if (c == '"')
                    {
                        closed = true;
                        break;
                    }

                    if (c == '\\')
                    {
                        if (i >= line.Length)
                        {
                            break;
                        }

                        var e = line[i++];
                        value.Append(e switch { 'n' => '\n', '\\' => '\\', '"' => '"', _ => '\0' });
                        if (e is not ('n' or '\\' or '"'))
                        {
                            return $"bad escape '\\{e}' in label {label}";
                        }
                    }
                    else
                    {
                        value.Append(c);
                    }
                }

                if (!closed)
                {
                    return $"unterminated value of label {label}";
                }

                if (!labels.TryAdd(label, value.ToString()))
                {
                    return $"label {label} twice";
                }

                SkipSpaces(line, ref i);
                if (i < line.Length && line[i] == ',')
                {
                    i++;
                }
                else if (i >= line.Length || line[i] != '}')
                {
                    return "expected ',' or '}' after a label";
                }
            }
        }

        var rest = line[i..].Trim();
        var exemplar = rest.IndexOf(" # ", StringComparison.Ordinal);
        if (exemplar >= 0)
        {
            rest = rest[..exemplar];
        }

        var fields = rest.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length is < 1 or > 2)
        {
            return "expected a value and an optional timestamp";
        }

        if (!TryParseValue(fields[0], out var number))
        {
            return $"bad value '{fields[0]}'";
        }

        if (fields.Length == 2 && !double.TryParse(fields[1], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            return $"bad timestamp '{fields[1]}'";
        }

        sample = new Sample(name, labels, number);
        return null;
    }

    private static bool TryParseValue(string text, out double value)
    {
        switch (text)
        {
            case "NaN":
                value = double.NaN;
                return true;
            case "+Inf" or "Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }

    private static string? Unescape(string text, bool allowQuote)
    {
        if (!text.Contains('\\', StringComparison.Ordinal))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                sb.Append(text[i]);
                continue;
            }

            if (++i >= text.Length)
            {
                return null;
            }

            switch (text[i])
            {
                case 'n': sb.Append('\n'); break;
                case '\\': sb.Append('\\'); break;
                case '"' when allowQuote: sb.Append('"'); break;
                default: return null;
            }
        }

        return sb.ToString();
    }

    private static void SkipSpaces(string line, ref int i)
    {
        while (i < line.Length && line[i] is ' ' or '\t')
        {
            i++;
        }
    }

    private static bool IsMetricName(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    private static bool IsLabelName(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static string Shorten(string line) => line.Length <= 120 ? line : line[..117] + "...";
}
