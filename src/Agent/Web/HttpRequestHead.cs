using System.Text;

namespace EfaAgent.Agent.Web;

/// <summary>
/// The parts of an HTTP/1.x request head the agent acts on. Other headers are checked for form and
/// otherwise ignored; repeated Accept, Accept-Encoding and Authorization headers are joined with ", "
/// as a list header is.
/// </summary>
public sealed class HttpRequestHead
{
    /// <summary>The method, case-sensitive as HTTP has it (GET, HEAD, ...).</summary>
    public required string Method { get; init; }

    /// <summary>The path of the target, percent-decoded, without query; "*" for the asterisk form.</summary>
    public required string Path { get; init; }

    /// <summary>HTTP/1.1 (true) or HTTP/1.0.</summary>
    public required bool Http11 { get; init; }

    /// <summary>Whether the connection stays open after the response (HTTP/1.1 unless "close", HTTP/1.0 only with "keep-alive").</summary>
    public required bool KeepAlive { get; init; }

    /// <summary>The Accept header, or null.</summary>
    public string? Accept { get; init; }

    /// <summary>The Accept-Encoding header, or null.</summary>
    public string? AcceptEncoding { get; init; }

    /// <summary>The Authorization header, or null.</summary>
    public string? Authorization { get; init; }

    /// <summary>Whether this is a HEAD request (the response has headers only).</summary>
    public bool IsHead => Method == "HEAD";
}

/// <summary>A request the server answers itself and then closes the connection: its status and why.</summary>
public sealed record HttpRequestError(int Status, string Reason);

/// <summary>
/// Parses a request head (RFC 9112) from the bytes received so far. Strict where leniency has been a
/// way in (no whitespace before a header's colon, no folded lines, no control characters, no request
/// body, one Host), tolerant where clients differ harmlessly (a bare LF ends a line, empty lines before
/// the request line are skipped).
/// </summary>
public static class HttpRequestParser
{
    /// <summary>The most a request line and its headers may take, as Kestrel's defaults (8 KB line, 32 KB headers) allow together.</summary>
    public const int MaxHeadBytes = 40 * 1024;

    /// <summary>The most a request line may take.</summary>
    public const int MaxRequestLineBytes = 8 * 1024;

    /// <summary>The most header fields a request may have.</summary>
    public const int MaxHeaders = 100;

    /// <summary>The most bytes of empty lines skipped before a request line.</summary>
    private const int MaxLeadingEmptyLines = 4;

    /// <summary>
    /// Parses the request at the start of <paramref name="buffer"/>. Returns false while the head is
    /// incomplete (and within the limits); otherwise true, with either <paramref name="request"/> and
    /// the bytes it took, or <paramref name="error"/>.
    /// </summary>
    /// <param name="buffer">What the client has sent so far.</param>
    /// <param name="request">The request, when its head is complete and valid.</param>
    /// <param name="consumed">The bytes of the head, leading empty lines included.</param>
    /// <param name="error">Why the request is refused.</param>
    /// <param name="searched">
    /// How many bytes of <paramref name="buffer"/> an earlier call already found incomplete: the end of
    /// the head is looked for only after them, so a head sent a byte at a time costs its length, not
    /// its length squared.
    /// </param>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out HttpRequestHead? request, out int consumed, out HttpRequestError? error, int searched = 0)
    {
        request = null;
        error = null;
        consumed = 0;

        // Empty lines before the request line are skipped (RFC 9112, 2.2), a few of them.
        var start = 0;
        while (start < buffer.Length && (buffer[start] == '\r' || buffer[start] == '\n'))
        {
            if (++start > MaxLeadingEmptyLines)
            {
                error = new(400, "malformed request line");
                return true;
            }
        }

        var end = EndOfHead(buffer, Math.Max(start, searched - 3));
        if (end < 0)
        {
            var lineEnd = buffer[start..].IndexOf((byte)'\n');
            if ((lineEnd < 0 ? buffer.Length - start : lineEnd) > MaxRequestLineBytes)
            {
                error = new(414, "request line too long");
                return true;
            }

            if (buffer.Length >= MaxHeadBytes)
            {
                error = new(431, "request header fields too large");
                return true;
            }

            return false;
        }

        consumed = end;
        error = Parse(buffer[start..end], out request);
        return true;
    }

    /// <summary>The offset just past the empty line that ends the head (looked for from <paramref name="start"/> on), or -1.</summary>
    private static int EndOfHead(ReadOnlySpan<byte> buffer, int start)
    {
        for (var i = buffer[start..].IndexOf((byte)'\n'); i >= 0;)
        {
            var at = start + i + 1;
            if (at < buffer.Length && buffer[at] == '\n')
            {
                return at + 1;
            }

            if (at + 1 < buffer.Length && buffer[at] == '\r' && buffer[at + 1] == '\n')
            {
                return at + 2;
            }

            var next = buffer[at..].IndexOf((byte)'\n');
            i = next < 0 ? -1 : at - start + next;
        }

        return -1;
    }

    private static HttpRequestError? Parse(ReadOnlySpan<byte> head, out HttpRequestHead? request)
    {
        request = null;
        var line = NextLine(ref head);
        if (line.Length > MaxRequestLineBytes)
        {
            return new(414, "request line too long");
        }

        var firstSpace = line.IndexOf((byte)' ');
        var lastSpace = line.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace == firstSpace)
        {
            return new(400, "malformed request line");
        }

        var method = line[..firstSpace];
        var target = line[(firstSpace + 1)..lastSpace];
        var version = line[(lastSpace + 1)..];
        if (!IsToken(method) || target.Length == 0 || !IsTarget(target))
        {
            return new(400, "malformed request line");
        }

        bool http11;
        if (version.SequenceEqual("HTTP/1.1"u8))
        {
            http11 = true;
        }
        else if (version.SequenceEqual("HTTP/1.0"u8))
        {
            http11 = false;
        }
        else
        {
            return version.Length == 8 && version.StartsWith("HTTP/"u8) && char.IsAsciiDigit((char)version[5]) && version[6] == '.' && char.IsAsciiDigit((char)version[7])
                ? new(505, "only HTTP/1.0 and HTTP/1.1 are served")
                : new(400, "malformed request line");
        }

        string? accept = null, acceptEncoding = null, authorization = null, connection = null;
        var hosts = 0;
        var fields = 0;
        while (head.Length > 0)
        {
            line = NextLine(ref head);
            if (line.Length == 0)
            {
                break;
            }

            if (++fields > MaxHeaders)
            {
                return new(431, "too many header fields");
            }

            if (line[0] is (byte)' ' or (byte)'\t')
            {
                return new(400, "folded header lines are not accepted");
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                return new(400, "malformed header field");
            }

            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (!IsFieldValue(value))
            {
                return new(400, "control characters in a header field");
            }

            var name = line[..colon];
            if (Is(name, "host"))
            {
                hosts++;
            }
            else if (Is(name, "accept"))
            {
                accept = Join(accept, value);
            }
            else if (Is(name, "accept-encoding"))
            {
                acceptEncoding = Join(acceptEncoding, value);
            }
            else if (Is(name, "authorization"))
            {
                authorization = Join(authorization, value);
            }
            else if (Is(name, "connection"))
            {
                connection = Join(connection, value);
            }
            else if (Is(name, "transfer-encoding") || (Is(name, "content-length") && !value.SequenceEqual("0"u8)))
            {
                return new(413, "request bodies are not accepted");
            }
        }

        if (http11 && hosts != 1)
        {
            return new(400, hosts == 0 ? "an HTTP/1.1 request needs a Host header" : "more than one Host header");
        }

        request = new HttpRequestHead
        {
            Method = Encoding.ASCII.GetString(method),
            Path = PathOf(target),
            Http11 = http11,
            KeepAlive = http11 ? !HasToken(connection, "close") : HasToken(connection, "keep-alive") && !HasToken(connection, "close"),
            Accept = accept,
            AcceptEncoding = acceptEncoding,
            Authorization = authorization,
        };
        return null;
    }

    /// <summary>The line at the start of <paramref name="head"/> without its CR LF (or LF); advances past it.</summary>
    private static ReadOnlySpan<byte> NextLine(ref ReadOnlySpan<byte> head)
    {
        var lf = head.IndexOf((byte)'\n');
        var line = lf < 0 ? head : head[..lf];
        head = lf < 0 ? [] : head[(lf + 1)..];
        return line.Length > 0 && line[^1] == '\r' ? line[..^1] : line;
    }

    /// <summary>The path of an origin-form ("/p?q"), absolute-form ("http://h/p?q") or asterisk-form target, percent-decoded.</summary>
    private static string PathOf(ReadOnlySpan<byte> target)
    {
        if (target[0] != '/' && target.IndexOf("://"u8) is var scheme and > 0)
        {
            target = target[(scheme + 3)..];
            var slash = target.IndexOfAny((byte)'/', (byte)'?');
            target = slash < 0 || target[slash] == '?' ? "/"u8 : target[slash..];
        }

        var query = target.IndexOfAny((byte)'?', (byte)'#');
        var path = Encoding.ASCII.GetString(query < 0 ? target : target[..query]);
        return path.Contains('%', StringComparison.Ordinal) ? Uri.UnescapeDataString(path) : path;
    }

    private static bool Is(ReadOnlySpan<byte> name, string lower) => Ascii.EqualsIgnoreCase(name, lower);

    private static string Join(string? before, ReadOnlySpan<byte> value)
    {
        var text = Encoding.Latin1.GetString(value);
        return before is null ? text : $"{before}, {text}";
    }

    private static bool HasToken(string? list, string token)
    {
        if (list is null)
        {
            return false;
        }

        foreach (var part in list.Split(','))
        {
            if (part.Trim().Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>RFC 9110 token: visible ASCII but for delimiters.</summary>
    private static bool IsToken(ReadOnlySpan<byte> s)
    {
        if (s.Length == 0)
        {
            return false;
        }

        foreach (var b in s)
        {
            if (b <= 0x20 || b >= 0x7F || "\"(),/:;<=>?@[\\]{}"u8.Contains(b))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A request target: visible ASCII only.</summary>
    private static bool IsTarget(ReadOnlySpan<byte> s) => !s.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E);

    /// <summary>A field value, by the rule the agent also applies to the values it sends.</summary>
    private static bool IsFieldValue(ReadOnlySpan<byte> s)
    {
        foreach (var b in s)
        {
            if (!HttpResponse.IsFieldValueChar(b))
            {
                return false;
            }
        }

        return true;
    }
}
