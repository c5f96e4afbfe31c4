using System.IO.Compression;
using EfaAgent.Agent.Sampling;
using EfaAgent.Agent.Web;
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
    private const int MaxSpares = 4;

    private static readonly string[] Formats = ["text", "openmetrics"];
    private static readonly string[] Encodings = ["identity", "gzip"];

    private readonly SnapshotStore _store;
    private readonly CollectorRegistry _registry;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Body?[] _cache = new Body?[4];
    private readonly Counter.Child[] _renders = new Counter.Child[4];
    private readonly MemoryStream _scratch = new();
    private readonly Stack<byte[]> _spares = new();

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

    /// <summary>Answers a GET or HEAD of <c>/metrics</c> with the cached body of the variant it negotiates; the response holds the body until written.</summary>
    public async ValueTask<HttpResponse> ServeAsync(HttpRequestHead request, CancellationToken cancel)
    {
        var format = ExpositionNegotiation.Format(request.Accept);
        var gzip = ExpositionNegotiation.Gzip(request.AcceptEncoding);
        var body = await AcquireAsync(format, gzip, cancel).ConfigureAwait(false);
        var response = new HttpResponse(200, ExpositionNegotiation.ContentType(format), body.Bytes, body).With("Vary", "Accept, Accept-Encoding");
        return gzip ? response.With("Content-Encoding", "gzip") : response;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        for (var i = 0; i < _cache.Length; i++)
        {
            _cache[i]?.Release();
            _cache[i] = null;
        }

        _gate.Dispose();
        _scratch.Dispose();
    }

    private static int Index(ExpositionFormat format, bool gzip) => (format == ExpositionFormat.OpenMetricsText ? 2 : 0) + (gzip ? 1 : 0);

    /// <summary>The body of a variant for the store's current snapshot, rendered now if it is not yet; the caller releases it.</summary>
    private async ValueTask<Body> AcquireAsync(ExpositionFormat format, bool gzip, CancellationToken cancel)
    {
        var i = Index(format, gzip);
        var cached = Volatile.Read(ref _cache[i]);
        if (cached is not null && cached.Version == _store.Version && cached.TryAcquire())
        {
            return cached;
        }

        await _gate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            // The version is read before the bridge copies the store out: a commit in between makes
            // the bytes newer than their version says, and the next scrape renders again. Never staler.
            var version = _store.Version;
            cached = _cache[i];
            if (cached is null || cached.Version != version)
            {
                var plain = await PlainAsync(format, version).ConfigureAwait(false);
                cached = gzip ? Compress(format, plain, version) : plain;
            }

            // Under the gate nothing replaces the cached body, so the cache's own reference holds it.
            cached.TryAcquire();
            return cached;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The uncompressed body of <paramref name="format"/> at <paramref name="version"/>; called under the gate.</summary>
    private async ValueTask<Body> PlainAsync(ExpositionFormat format, long version)
    {
        var i = Index(format, gzip: false);
        var cached = _cache[i];
        if (cached is not null && cached.Version == version)
        {
            return cached;
        }

        // Counted first, so a render shows itself.
        _renders[i].Inc();
        _scratch.SetLength(0);
        await _registry.CollectAndExportAsTextAsync(_scratch, format, CancellationToken.None).ConfigureAwait(false);
        return Install(i, version);
    }

    private Body Compress(ExpositionFormat format, Body plain, long version)
    {
        var i = Index(format, gzip: true);
        _renders[i].Inc();
        _scratch.SetLength(0);
        using (var gz = new GZipStream(_scratch, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(plain.Bytes.Span);
        }

        return Install(i, version);
    }

    /// <summary>Copies the scratch stream into a pooled body that replaces variant <paramref name="i"/>'s.</summary>
    private Body Install(int i, long version)
    {
        var length = (int)_scratch.Length;
        var buffer = Rent(length);
        _scratch.GetBuffer().AsSpan(0, length).CopyTo(buffer);
        var body = new Body(this, version, buffer, length);
        var old = _cache[i];
        Volatile.Write(ref _cache[i], body);
        old?.Release();
        return body;
    }

    /// <summary>A spare buffer of at least <paramref name="length"/> bytes, or a new one with room to grow.</summary>
    private byte[] Rent(int length)
    {
        lock (_spares)
        {
            while (_spares.TryPop(out var spare))
            {
                if (spare.Length >= length)
                {
                    return spare;
                }
            }
        }

        return GC.AllocateUninitializedArray<byte>(length + (length / 8));
    }

    /// <summary>
    /// Keeps a buffer no body uses any more for the next render. A few are enough: one per variant in
    /// use and one being written out; the shared ArrayPool would keep one per thread and per core.
    /// </summary>
    private void Return(byte[] buffer)
    {
        lock (_spares)
        {
            if (_spares.Count < MaxSpares)
            {
                _spares.Push(buffer);
            }
        }
    }

    /// <summary>
    /// A rendered body in a pooled buffer, shared by the scrapes that serve it: the cache holds one
    /// reference and each scrape one while it writes; the last release gives the buffer back to the
    /// cache's spares, so a steady stream of snapshots renders into the same few buffers instead of a new
    /// 100+ KB array each time.
    /// </summary>
    private sealed class Body(ExpositionCache owner, long version, byte[] buffer, int length) : IDisposable
    {
        private int _references = 1;

        public long Version { get; } = version;

        public ReadOnlyMemory<byte> Bytes { get; } = buffer.AsMemory(0, length);

        /// <summary>Takes a reference; false when the body was already given back.</summary>
        public bool TryAcquire()
        {
            var n = Volatile.Read(ref _references);
            while (n > 0)
            {
                var seen = Interlocked.CompareExchange(ref _references, n + 1, n);
                if (seen == n)
                {
                    return true;
                }

                n = seen;
            }

            return false;
        }

        /// <summary>Releases the reference of a scrape that has written the body.</summary>
        public void Dispose() => Release();

        public void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0)
            {
                owner.Return(buffer);
            }
        }
    }
}
