using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace EfaAgent.Agent.Web;

/// <summary>
/// A response with its whole body in memory (every body the agent serves is: a cached exposition or a
/// short text), so it always has a Content-Length and is never chunked.
/// </summary>
public sealed class HttpResponse
{
    private List<KeyValuePair<string, string>>? _headers;

    /// <summary>A response with a body.</summary>
    /// <param name="status">The status code.</param>
    /// <param name="contentType">The Content-Type of <paramref name="body"/>.</param>
    /// <param name="body">The body; sent as is, except in the answer to HEAD.</param>
    /// <param name="owner">Released once the body has been written (a cached exposition's reference).</param>
    public HttpResponse(int status, string contentType, ReadOnlyMemory<byte> body, IDisposable? owner = null)
    {
        Status = status;
        ContentType = contentType;
        Body = body;
        Owner = owner;
    }

    /// <summary>The status code.</summary>
    public int Status { get; }

    /// <summary>The Content-Type.</summary>
    public string ContentType { get; }

    /// <summary>The body.</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>What the body belongs to, released after the write.</summary>
    public IDisposable? Owner { get; }

    /// <summary>Other headers, in the order added.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers => _headers ?? [];

    /// <summary>A short text answer.</summary>
    public static HttpResponse Text(int status, string text, string contentType = "text/plain; charset=utf-8") =>
        new(status, contentType, Encoding.UTF8.GetBytes(text));

    /// <summary>Adds a header. Names and values come from the agent and its checked web config; CR, LF and other controls are refused here all the same.</summary>
    /// <exception cref="ArgumentException">The name or value would break the response head.</exception>
    public HttpResponse With(string name, string value)
    {
        if (name.Length == 0 || name.AsSpan().ContainsAnyExceptInRange('!', '~') || name.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException($"not a header name: \"{name}\"", nameof(name));
        }

        if (!IsFieldValue(value))
        {
            throw new ArgumentException($"header {name}: a control or non-Latin-1 character in its value", nameof(value));
        }

        (_headers ??= []).Add(new(name, value));
        return this;
    }

    /// <summary>Whether <paramref name="value"/> can be sent as a header's value: Latin-1, no control character but tab (so no line break).</summary>
    public static bool IsFieldValue(string value) => value.All(c => IsFieldValueChar(c));

    /// <summary>
    /// The rule for one character of a header's value, received or sent: visible characters, spaces,
    /// tabs and obs-text (0x80-0xFF); no other control character.
    /// </summary>
    public static bool IsFieldValueChar(int c) => (c >= ' ' || c == '\t') && c != 0x7F && c <= 0xFF;

    /// <summary>Writes the status line and headers, ending with the empty line, into <paramref name="output"/>.</summary>
    /// <param name="output">Where the head goes.</param>
    /// <param name="date">The Date header's value (an IMF-fixdate).</param>
    /// <param name="close">Whether to say Connection: close.</param>
    public void WriteHead(ArrayBufferWriter<byte> output, string date, bool close)
    {
        Append(output, "HTTP/1.1 ");
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(Status, digits, out var n);
        output.Write(digits[..n]);
        Append(output, " ");
        Append(output, Reason(Status));
        Line(output, "Date", date);
        Line(output, "Content-Type", ContentType);
        Append(output, "\r\nContent-Length: ");
        Utf8Formatter.TryFormat(Body.Length, digits, out n);
        output.Write(digits[..n]);
        if (close)
        {
            Line(output, "Connection", "close");
        }

        foreach (var (name, value) in Headers)
        {
            Line(output, name, value);
        }

        Append(output, "\r\n\r\n");
    }

    /// <summary>The reason phrase of the status codes the agent answers with.</summary>
    public static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    };

    private static void Line(ArrayBufferWriter<byte> output, string name, string value)
    {
        Append(output, "\r\n");
        Append(output, name);
        Append(output, ": ");
        Append(output, value);
    }

    private static void Append(ArrayBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(text.Length);
        var written = Encoding.Latin1.GetBytes(text, span);
        output.Advance(written);
    }
}
