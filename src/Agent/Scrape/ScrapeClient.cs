using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EfaAgent.Agent.Scrape;

/// <summary>Why a scrape gave no metrics.</summary>
public enum ScrapeFailure
{
    /// <summary>It worked.</summary>
    None,

    /// <summary>The host answered that nothing listens on the port (TCP RST).</summary>
    Refused,

    /// <summary>No answer within the timeout: the packets are dropped (a security group) or the host is down.</summary>
    TimedOut,

    /// <summary>No route, or the name does not resolve.</summary>
    Unreachable,

    /// <summary>An HTTP status other than 200.</summary>
    HttpStatus,

    /// <summary>The body is not an exposition.</summary>
    BadBody,

    /// <summary>Anything else, named in the error text.</summary>
    Other,
}

/// <summary>The outcome of one scrape.</summary>
public sealed record ScrapeResult(Uri Url, MetricSet? Metrics, ScrapeFailure Failure, string? Error, TimeSpan Elapsed);

/// <summary>
/// Reads agents' <c>/metrics</c> over HTTP, each request bounded by a timeout, and parses them with the
/// project's <see cref="ExpositionParser"/>. Never throws for a failing node: the result says what failed.
/// </summary>
public sealed class ScrapeClient : IDisposable
{
    /// <summary>The largest body accepted (a p5 node serves about 130 KB).</summary>
    public const int MaxBodyBytes = 16 << 20;

    private readonly HttpClient _http;
    private readonly TimeSpan _timeout;

    /// <summary>Creates a client whose every request (connect, headers and body) ends within <paramref name="timeout"/>.</summary>
    public ScrapeClient(TimeSpan timeout)
    {
        _timeout = timeout;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = timeout,
            AutomaticDecompression = DecompressionMethods.GZip,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            UseProxy = false,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan, MaxResponseContentBufferSize = MaxBodyBytes };
        _http.DefaultRequestHeaders.Accept.ParseAdd("text/plain;version=0.0.4");
    }

    /// <summary>Scrapes one URL.</summary>
    public async Task<ScrapeResult> ScrapeAsync(Uri metricsUrl, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(metricsUrl);
        var clock = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(_timeout);
        try
        {
            using var response = await _http.GetAsync(metricsUrl, HttpCompletionOption.ResponseContentRead, deadline.Token).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return Fail(ScrapeFailure.HttpStatus, $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            var body = await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false);
            return ExpositionParser.TryParse(body, out var set, out var error)
                ? new ScrapeResult(metricsUrl, set, ScrapeFailure.None, null, clock.Elapsed)
                : Fail(ScrapeFailure.BadBody, error);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Fail(ScrapeFailure.TimedOut, $"no answer within {_timeout.TotalSeconds:0.###} s");
        }
        catch (HttpRequestException e)
        {
            var (failure, text) = Classify(e);
            return Fail(failure, text);
        }

        ScrapeResult Fail(ScrapeFailure failure, string? error) => new(metricsUrl, null, failure, error, clock.Elapsed);
    }

    /// <summary>Scrapes every URL in parallel; the results are in the order of <paramref name="urls"/>.</summary>
    public async Task<IReadOnlyList<ScrapeResult>> ScrapeAllAsync(IEnumerable<Uri> urls, CancellationToken ct) =>
        await Task.WhenAll(urls.Select(u => ScrapeAsync(u, ct))).ConfigureAwait(false);

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private (ScrapeFailure, string) Classify(HttpRequestException e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException s)
            {
                return s.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => (ScrapeFailure.Refused, "connection refused: nothing listens on that port"),
                    SocketError.TimedOut => (ScrapeFailure.TimedOut, $"no answer within {_timeout.TotalSeconds:0.###} s"),
                    SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => (ScrapeFailure.Unreachable, $"name does not resolve: {s.Message}"),
                    SocketError.HostUnreachable or SocketError.NetworkUnreachable => (ScrapeFailure.Unreachable, $"no route: {s.Message}"),
                    _ => (ScrapeFailure.Other, s.Message),
                };
            }
        }

        return (ScrapeFailure.Other, e.Message);
    }
}
