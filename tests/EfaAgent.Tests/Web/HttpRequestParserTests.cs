using System.Text;
using EfaAgent.Agent.Web;

namespace EfaAgent.Tests.Web;

/// <summary>The request-head parser of the agent's HTTP server, on the bytes a client sends.</summary>
public sealed class HttpRequestParserTests
{
    [Fact]
    public void A_scrape_is_parsed_with_its_negotiation_headers_and_the_bytes_it_took()
    {
        var text = "GET /metrics?debug=1 HTTP/1.1\r\nHost: node:9400\r\nAccept: application/openmetrics-text;version=1.0.0\r\n"
            + "accept: text/plain;q=0.5\r\nAccept-Encoding: gzip\r\nUser-Agent: Prometheus/3.0\r\n\r\n";
        var request = Parse(text + "GET /next", out var consumed);

        Assert.Equal(text.Length, consumed);
        Assert.Equal("GET", request.Method);
        Assert.Equal("/metrics", request.Path);
        Assert.True(request.Http11);
        Assert.True(request.KeepAlive);
        Assert.Equal("application/openmetrics-text;version=1.0.0, text/plain;q=0.5", request.Accept);
        Assert.Equal("gzip", request.AcceptEncoding);
        Assert.Null(request.Authorization);
    }

    [Theory]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\n")]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\n\r")]
    [InlineData("GET /metr")]
    [InlineData("")]
    [InlineData("\r\n\r\n")]
    public void An_incomplete_head_asks_for_more(string text)
    {
        Assert.False(HttpRequestParser.TryParse(Encoding.ASCII.GetBytes(text), out _, out _, out _));
    }

    [Theory]
    [InlineData("GET /metrics HTTP/1.1\nHost: a\n\n", "/metrics", true)]
    [InlineData("\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", "/healthz", true)]
    [InlineData("GET http://node:9400/metrics?x HTTP/1.1\r\nHost: a\r\n\r\n", "/metrics", true)]
    [InlineData("GET http://node:9400 HTTP/1.1\r\nHost: a\r\n\r\n", "/", true)]
    [InlineData("GET /%6Detrics HTTP/1.1\r\nHost: a\r\n\r\n", "/metrics", true)]
    [InlineData("GET /metrics HTTP/1.0\r\n\r\n", "/metrics", false)]
    [InlineData("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "*", true)]
    public void Line_ends_leading_empty_lines_and_target_forms_are_accepted(string text, string path, bool http11)
    {
        var request = Parse(text, out var consumed);

        Assert.Equal(path, request.Path);
        Assert.Equal(http11, request.Http11);
        Assert.Equal(text.Length, consumed);
    }

    [Theory]
    [InlineData("HTTP/1.1", "", true)]
    [InlineData("HTTP/1.1", "Connection: close\r\n", false)]
    [InlineData("HTTP/1.1", "Connection: Upgrade, Close\r\n", false)]
    [InlineData("HTTP/1.0", "", false)]
    [InlineData("HTTP/1.0", "Connection: keep-alive\r\n", true)]
    public void The_connection_is_kept_as_the_version_and_Connection_header_say(string version, string connection, bool keepAlive)
    {
        var request = Parse($"GET / {version}\r\nHost: a\r\n{connection}\r\n", out _);

        Assert.Equal(keepAlive, request.KeepAlive);
    }

    [Theory]
    [InlineData("GET /metrics HTTP/1.1\r\n\r\n", 400)] // no Host
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n", 400)] // whitespace before the colon
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  folded\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n", 400)]
    [InlineData("GET /metrics\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET  /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("G/T /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET /m\u00e9trics HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/1.x\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n", 505)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 413)]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 413)]
    public void A_request_the_server_does_not_take_is_an_error_with_its_status(string text, int status)
    {
        Assert.True(HttpRequestParser.TryParse(Encoding.Latin1.GetBytes(text), out var request, out _, out var error));

        Assert.Null(request);
        Assert.Equal(status, error?.Status);
    }

    [Fact]
    public void A_head_sent_a_byte_at_a_time_is_found_where_it_ends()
    {
        var bytes = Encoding.ASCII.GetBytes("\r\nGET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /next");
        var searched = 0;
        for (var n = 1; n <= bytes.Length; n++)
        {
            if (HttpRequestParser.TryParse(bytes.AsSpan(0, n), out var request, out var consumed, out var error, searched))
            {
                Assert.Null(error);
                Assert.Equal("/slow", request!.Path);
                Assert.Equal(bytes.Length - "GET /next".Length, consumed);
                Assert.Equal(consumed, n);
                return;
            }

            searched = n;
        }

        Assert.Fail("the head was not found");
    }

    [Fact]
    public void More_than_a_few_empty_lines_before_the_request_line_are_refused()
    {
        Assert.True(HttpRequestParser.TryParse(Encoding.ASCII.GetBytes("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), out _, out _, out var error));
        Assert.Equal(400, error?.Status);
    }

    [Fact]
    public void Content_length_zero_is_no_body()
    {
        Assert.Equal("/", Parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", out _).Path);
    }

    [Fact]
    public void Limits_are_enforced_before_the_head_is_complete()
    {
        var longLine = Encoding.ASCII.GetBytes("GET /" + new string('a', HttpRequestParser.MaxRequestLineBytes));
        Assert.True(HttpRequestParser.TryParse(longLine, out _, out _, out var error));
        Assert.Equal(414, error?.Status);

        var endless = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: a\r\n" + string.Concat(Enumerable.Repeat("X-Filler: 0123456789012345678901234567890123456789\r\n", 1000)));
        Assert.True(HttpRequestParser.TryParse(endless.AsSpan(0, HttpRequestParser.MaxHeadBytes), out _, out _, out error));
        Assert.Equal(431, error?.Status);

        var many = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: a\r\n" + string.Concat(Enumerable.Range(0, HttpRequestParser.MaxHeaders).Select(i => $"X-{i}: v\r\n")) + "\r\n");
        Assert.True(HttpRequestParser.TryParse(many, out _, out _, out error));
        Assert.Equal(431, error?.Status);
    }

    private static HttpRequestHead Parse(string text, out int consumed)
    {
        Assert.True(HttpRequestParser.TryParse(Encoding.ASCII.GetBytes(text), out var request, out consumed, out var error));
        Assert.Null(error);
        return request!;
    }
}
