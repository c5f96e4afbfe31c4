using System.Globalization;
using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using EfaAgent.Agent.Exposition;
using EfaAgent.Tests.Support;
using Microsoft.Extensions.Primitives;
using Prometheus;

namespace EfaAgent.Tests;

/// <summary>
/// <c>/metrics</c> of the agent process renders each snapshot at most once per format and encoding,
/// lazily, and serves those bytes to every scraper; the format and encoding follow the request
/// headers the way the Prometheus client libraries negotiate them.
/// </summary>
public partial class ExpositionCacheTests
{
    /// <summary>What Prometheus 2.x/3.x sends when scraping (without the protobuf entry).</summary>
    private const string PrometheusAccept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    /// <summary>One tick a minute: the first tick's snapshot is the only one during a test.</summary>
    private static readonly string[] OneSnapshot = ["--sample.interval=60s", "--discovery.interval=1m", "--burst.window=1m"];

    [Theory]
    [InlineData(null, "text")]
    [InlineData("", "text")]
    [InlineData("*/*", "text")]
    [InlineData("text/plain", "text")]
    [InlineData("text/plain; version=0.0.4; charset=utf-8", "text")]
    [InlineData(PrometheusAccept, "openmetrics")]
    [InlineData("application/openmetrics-text", "openmetrics")]
    [InlineData("application/openmetrics-text; version=0.0.1", "openmetrics")]
    [InlineData("application/openmetrics-text; version=2.0.0", "text")]
    [InlineData("application/openmetrics-text;q=0.1, text/plain;q=0.5", "text")]
    [InlineData("text/plain;q=0.1, application/openmetrics-text;q=0.5", "openmetrics")]
    [InlineData("application/openmetrics-text;q=0, text/plain", "text")]
    [InlineData("application/json", "text")]
    [InlineData("not a media type;;;", "text")]
    public void Format_is_negotiated_from_Accept_in_order_of_quality(string? accept, string expected)
    {
        var format = ExpositionNegotiation.Format(new StringValues(accept));

        Assert.Equal(expected, format == ExpositionFormat.OpenMetricsText ? "openmetrics" : "text");
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("identity", false)]
    [InlineData("gzip", true)]
    [InlineData("GZIP", true)]
    [InlineData("deflate, gzip;q=0.8", true)]
    [InlineData("gzip;q=0", false)]
    [InlineData("br, deflate", false)]
    public void Gzip_is_used_when_Accept_Encoding_names_it(string? acceptEncoding, bool expected) =>
        Assert.Equal(expected, ExpositionNegotiation.Gzip(new StringValues(acceptEncoding)));

    [Fact]
    public async Task Sixteen_concurrent_scrapers_of_one_snapshot_get_the_same_bytes_from_one_render()
    {
        await using var agent = EndToEndTests.StartOn("p5-617", OneSnapshot);
        await agent.WaitHealthyAsync();

        var bodies = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => agent.Http.GetByteArrayAsync(new Uri("/metrics", UriKind.Relative))));
        var again = await agent.ScrapeAsync();

        Assert.All(bodies, b => Assert.Equal(bodies[0], b));
        Assert.Equal(Encoding.UTF8.GetString(bodies[0]), again);
        Assert.Equal(1, Renders(again, "text", "identity"));
    }

    [Fact]
    public async Task Gzip_and_OpenMetrics_are_rendered_once_each_and_gzip_decodes_to_the_plain_text()
    {
        await using var agent = EndToEndTests.StartOn("p5-617", OneSnapshot);
        await agent.WaitHealthyAsync();
        var plain = await agent.ScrapeAsync();

        var gzipped = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => GetAsync(agent, accept: null, gzip: true)));
        var openMetrics = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => GetAsync(agent, PrometheusAccept, gzip: false)));
        var openMetricsGzip = await GetAsync(agent, PrometheusAccept, gzip: true);

        foreach (var r in gzipped)
        {
            Assert.Equal("gzip", Assert.Single(r.ContentEncoding));
            Assert.Equal("text/plain", r.MediaType);
            Assert.Equal(plain, Gunzip(r.Body));
        }

        Assert.All(openMetrics, r => Assert.Equal(openMetrics[0].Body, r.Body));
        Assert.Equal("application/openmetrics-text", openMetrics[0].MediaType);
        Assert.Empty(openMetrics[0].ContentEncoding);
        var om = Encoding.UTF8.GetString(openMetrics[0].Body);
        Assert.EndsWith("# EOF\n", om, StringComparison.Ordinal);
        Assert.Equal(om, Gunzip(openMetricsGzip.Body));

        // Each body shows the renders up to and including its own.
        Assert.Equal(1, Renders(om, "text", "identity"));
        Assert.Equal(1, Renders(om, "text", "gzip"));
        Assert.Equal(1, Renders(om, "openmetrics", "identity"));
        var last = await agent.ScrapeAsync();
        Assert.Equal(plain, last);
        Assert.DoesNotContain("trace_id", om, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_snapshot_is_rendered_on_the_first_scrape_after_it_not_on_every_tick()
    {
        await using var agent = EndToEndTests.StartOn("p4d-postsplit", "--sample.interval=20ms");
        await agent.WaitHealthyAsync();
        await Task.Delay(1000);

        var first = await agent.ScrapeAsync();
        await Task.Delay(200);
        var second = await agent.ScrapeAsync();

        Assert.True(Value(first, "efa_agent_ticks_total") >= 10, "the sampler should have ticked many times before the first scrape");
        Assert.Equal(1, Renders(first, "text", "identity"));
        Assert.Equal(2, Renders(second, "text", "identity"));
    }

    [Fact]
    public async Task Renders_never_outnumber_snapshots_and_every_body_is_whole_however_many_scrapers()
    {
        await using var agent = EndToEndTests.StartOn("p5-617", "--sample.interval=100ms");
        await agent.WaitHealthyAsync();
        var lines = (await agent.ScrapeAsync()).Split('\n').Length;

        // Half the scrapers ask for gzip: a body torn between two renders would fail its CRC.
        for (var round = 0; round < 10; round++)
        {
            var bodies = await Task.WhenAll(Enumerable.Range(0, 16).Select(async k =>
                k % 2 == 0 ? await agent.ScrapeAsync() : Gunzip((await GetAsync(agent, accept: null, gzip: true)).Body)));
            Assert.All(bodies, b => Assert.Equal(lines, b.Split('\n').Length));
        }

        var text = await agent.ScrapeAsync();
        Assert.True(Renders(text, "text", "identity") <= Value(text, "efa_agent_ticks_total"),
            $"{Renders(text, "text", "identity")} renders for {Value(text, "efa_agent_ticks_total")} ticks and 162 scrapes");
    }

    [Fact]
    public async Task HEAD_answers_the_headers_of_GET_without_a_body()
    {
        await using var agent = EndToEndTests.StartOn("p4d-postsplit", OneSnapshot);
        await agent.WaitHealthyAsync();
        var body = await agent.Http.GetByteArrayAsync(new Uri("/metrics", UriKind.Relative));

        using var request = new HttpRequestMessage(HttpMethod.Head, "/metrics");
        using var response = await agent.Http.SendAsync(request);

        Assert.True(response.IsSuccessStatusCode);
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    private static async Task<(byte[] Body, string? MediaType, ICollection<string> ContentEncoding)> GetAsync(AgentProcess agent, string? accept, bool gzip)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        if (gzip)
        {
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
        }

        using var response = await agent.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadAsByteArrayAsync(), response.Content.Headers.ContentType?.MediaType, response.Content.Headers.ContentEncoding.ToList());
    }

    private static string Gunzip(byte[] body)
    {
        using var gz = new GZipStream(new MemoryStream(body), CompressionMode.Decompress);
        using var reader = new StreamReader(gz, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static long Renders(string exposition, string format, string encoding) =>
        Value(exposition, $"efa_agent_exposition_renders_total{{format=\"{format}\",encoding=\"{encoding}\"}}");

    private static long Value(string exposition, string series)
    {
        var line = exposition.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return (long)double.Parse(Number().Match(line[(series.Length + 1)..]).Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^\S+")]
    private static partial Regex Number();
}
