using System.IO.Compression;
using EfaAgent.Agent.Sampling;
using Microsoft.AspNetCore.Http;
using Prometheus;

namespace EfaAgent.Agent.Exposition;

/// <summary>
/// Serves <c>/metrics</c> from bytes rendered at most once per snapshot and variant (Prometheus text,
/// OpenMetrics, each plain or gzip). The first scrape after the sampler published renders the variant
/// it asked for, through the <see cref="PrometheusBridge"/> and prometheus-net; every other scrape
/// until the next publish gets the same bytes, so the cost of a scrape does not grow with the number
/// of scrapers, and a snapshot nobody scrapes is never rendered. Concurrent scrapes of a stale variant
/// wait for one render rather than each doing their own.
/// </summary>
public sealed class ExpositionCache : IDisposable
{
    private static readonly string[] Formats = ["text", "openmetrics"];
    private static readonly string[] Encodings = ["identity", "gzip"];

    private readonly SnapshotStore _store;
    private readonly CollectorRegistry _registry;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Rendered?[] _cache = new Rendered?[4];
    private readonly Counter.Child[] _renders = new Counter.Child[4];
    private readonly MemoryStream _scratch = new();

    /// <summary>Creates the cache over <paramref name="registry"/> (which the bridge fills from <paramref name="store"/>).</summary>
    public ExpositionCache(SnapshotStore store, CollectorRegistry registry)
    {
        _store = store;
        _registry = registry;
        var renders = Metrics.WithCustomRegistry(registry).CreateCounter(
            "efa_agent_exposition_renders_total",
            "Times /metrics was serialised (encoding=\"identity\") or compressed (encoding=\"gzip\") from a snapshot: at most once per snapshot and variant, however many scrapers.",
            new CounterConfiguration { LabelNames = ["format", "encoding"], ExemplarBehavior = ExemplarBehavior.NoExemplars() });
        for (var i = 0; i < _renders.Length; i++)
        {
            _renders[i] = renders.WithLabels(Formats[i >> 1], Encodings[i & 1]);
        }
    }

    /// <summary>How many times a variant has been rendered.</summary>
    public long Renders(ExpositionFormat format, bool gzip) => (long)_renders[Index(format, gzip)].Value;

    /// <summary>Answers a GET or HEAD of <c>/metrics</c>.</summary>
    public async Task ServeAsync(HttpContext context)
    {
        var request = context.Request;
        var format = ExpositionNegotiation.Format(request.Headers.Accept);
        var gzip = ExpositionNegotiation.Gzip(request.Headers.AcceptEncoding);
        var body = await GetAsync(format, gzip, context.RequestAborted).ConfigureAwait(false);

        var response = context.Response;
        response.ContentType = ExpositionNegotiation.ContentType(format);
        response.Headers.Vary = "Accept, Accept-Encoding";
        if (gzip)
        {
            response.Headers.ContentEncoding = "gzip";
        }

        response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(request.Method))
        {
            await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>The bytes of a variant for the store's current snapshot, rendered now if they are not yet.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> GetAsync(ExpositionFormat format, bool gzip, CancellationToken cancel = default)
    {
        var i = Index(format, gzip);
        var cached = Volatile.Read(ref _cache[i]);
        if (cached is not null && cached.Version == _store.Version)
        {
            return cached.Bytes;
        }

        await _gate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            // The version is read before the bridge copies the store out: a publish in between makes
            // the bytes newer than their version says, and the next scrape renders again. Never staler.
            var version = _store.Version;
            cached = _cache[i];
            if (cached is null || cached.Version != version)
            {
                cached = gzip ? Compress(format, await PlainAsync(format, version).ConfigureAwait(false), version) : await PlainAsync(format, version).ConfigureAwait(false);
                Volatile.Write(ref _cache[i], cached);
            }

            return cached.Bytes;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _gate.Dispose();
        _scratch.Dispose();
    }

    private static int Index(ExpositionFormat format, bool gzip) => (format == ExpositionFormat.OpenMetricsText ? 2 : 0) + (gzip ? 1 : 0);

    /// <summary>The uncompressed bytes of <paramref name="format"/> at <paramref name="version"/>; called under the gate.</summary>
    private async ValueTask<Rendered> PlainAsync(ExpositionFormat format, long version)
    {
        var i = Index(format, gzip: false);
        var cached = _cache[i];
        if (cached is not null && cached.Version == version)
        {
            return cached;
        }

        // Counted first, so a render shows itself. The scratch stream keeps its capacity between
        // renders; only the finished body is a new array.
        _renders[i].Inc();
        _scratch.SetLength(0);
        await _registry.CollectAndExportAsTextAsync(_scratch, format, CancellationToken.None).ConfigureAwait(false);
        cached = new Rendered(version, _scratch.ToArray());
        Volatile.Write(ref _cache[i], cached);
        return cached;
    }

    private Rendered Compress(ExpositionFormat format, Rendered plain, long version)
    {
        _renders[Index(format, gzip: true)].Inc();
        _scratch.SetLength(0);
        using (var gz = new GZipStream(_scratch, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(plain.Bytes.Span);
        }

        return new Rendered(version, _scratch.ToArray());
    }

    private sealed record Rendered(long Version, ReadOnlyMemory<byte> Bytes);
}
