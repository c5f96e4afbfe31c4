using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace EfaAgent.Agent.Doctor;

/// <summary>The doctor's two outputs: a checklist for people and JSON for scripts.</summary>
public static class DoctorRenderer
{
    private const string Reset = "\u001b[0m";
    private const int NameWidth = 16;

    /// <summary>The checklist: one line per result, its remedy under it, and a summary line.</summary>
    public static string Text(IReadOnlyList<CheckResult> results, bool color)
    {
        var sb = new StringBuilder();
        foreach (var r in results)
        {
            var (label, code) = r.Status switch
            {
                CheckStatus.Ok => ("ok", "\u001b[32m"),
                CheckStatus.Warn => ("WARN", "\u001b[33m"),
                CheckStatus.Fail => ("FAIL", "\u001b[1;31m"),
                _ => ("skip", "\u001b[2m"),
            };
            var padded = label.PadRight(5);
            sb.Append(color ? code + padded + Reset : padded);
            // One line each, whatever a program or a library put in the text.
            sb.Append(' ').Append(r.Name.PadRight(NameWidth)).Append(' ').Append(r.Detail.ReplaceLineEndings(" ")).Append('\n');
            if (r.Remedy is not null)
            {
                sb.Append(' ', 6).Append("-> ").Append(r.Remedy.ReplaceLineEndings(" ")).Append('\n');
            }
        }

        sb.Append('\n').Append(Summary(results)).Append('\n');
        return sb.ToString();
    }

    /// <summary>The summary line: counts by status and the overall verdict.</summary>
    public static string Summary(IReadOnlyList<CheckResult> results)
    {
        int Count(CheckStatus s) => results.Count(r => r.Status == s);
        var fails = Count(CheckStatus.Fail);
        var verdict = fails > 0 ? "NOT READY: fix the FAIL lines above" : Count(CheckStatus.Warn) > 0 ? "ready, with warnings" : "ready";
        return string.Create(CultureInfo.InvariantCulture, $"{Count(CheckStatus.Ok)} ok, {Count(CheckStatus.Warn)} warn, {fails} fail, {Count(CheckStatus.Skip)} skip: {verdict}");
    }

    /// <summary>
    /// <c>{"checks": [{"name", "status", "detail", "remedy"}], "summary": {"ok", "warn", "fail", "skip"}, "exit_code"}</c>;
    /// status is <c>ok</c>, <c>warn</c>, <c>fail</c> or <c>skip</c>, remedy is null when there is none.
    /// </summary>
    public static string Json(IReadOnlyList<CheckResult> results)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartArray("checks");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("name", r.Name);
                w.WriteString("status", StatusName(r.Status));
                w.WriteString("detail", r.Detail);
                if (r.Remedy is null)
                {
                    w.WriteNull("remedy");
                }
                else
                {
                    w.WriteString("remedy", r.Remedy);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("summary");
            foreach (var status in Enum.GetValues<CheckStatus>())
            {
                w.WriteNumber(StatusName(status), results.Count(r => r.Status == status));
            }

            w.WriteEndObject();
            w.WriteNumber("exit_code", DoctorRunner.ExitCode(results));
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>The status as written in JSON.</summary>
    public static string StatusName(CheckStatus status) => status switch
    {
        CheckStatus.Ok => "ok",
        CheckStatus.Warn => "warn",
        CheckStatus.Fail => "fail",
        _ => "skip",
    };
}
