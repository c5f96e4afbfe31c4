using System.Text;

namespace EfaAgent.Collectors.Model;

/// <summary>
/// Makes text that came from the node (file and device names) safe to put into the exposition and the
/// logs. A file named <c>x\nfake_metric 1</c> must not add a line to <c>/metrics</c>, and a <c>\</c>
/// in a HELP text must not make the scrape unparseable.
/// </summary>
public static class ExpositionText
{
    /// <summary>
    /// A HELP text as the text format and OpenMetrics both read it: <c>\</c> as <c>\\</c>, a newline as
    /// <c>\n</c>; any other control character becomes <c>?</c> (neither format has an escape for it).
    /// </summary>
    public static string EscapeHelp(string help)
    {
        if (!NeedsEscape(help))
        {
            return help;
        }

        var sb = new StringBuilder(help.Length + 8);
        foreach (var c in help)
        {
            sb.Append(c switch
            {
                '\\' => "\\\\",
                '\n' => "\\n",
                _ when char.IsControl(c) => "?",
                _ => c.ToString(),
            });
        }

        return sb.ToString();
    }

    /// <summary>A name as it can be shown on one line: control characters and <c>\</c> as <c>\xNN</c>-style escapes, quotes kept.</summary>
    public static string Printable(string name)
    {
        if (!NeedsEscape(name))
        {
            return name;
        }

        var sb = new StringBuilder(name.Length + 8);
        foreach (var c in name)
        {
            if (c == '\\' || char.IsControl(c))
            {
                sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    private static bool NeedsEscape(string text)
    {
        foreach (var c in text)
        {
            if (c == '\\' || char.IsControl(c))
            {
                return true;
            }
        }

        return false;
    }
}
