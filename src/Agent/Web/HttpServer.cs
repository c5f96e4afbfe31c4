using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Agent.Web;

/// <summary>
/// The agent's HTTP/1.1 server: GET and HEAD of a few paths whose answers are already in memory, over
/// plain TCP or TLS, on one listening socket. It is small because what it serves is: no request bodies,
/// no chunked responses, no HTTP/2, no upgrades. Each connection is one loop that reads a request head
/// (within <see cref="HeadersTimeout"/>), asks the handler, writes the head and the body (within
/// <see cref="WriteTimeout"/>), and waits for the next request (within <see cref="KeepAliveTimeout"/>)
/// holding no buffer. A request it cannot take (malformed, too large, with a body) is answered with
/// its status and the connection closed. See docs/performance.md ("Memory") for why it replaced Kestrel.
/// </summary>
public sealed class HttpServer : IHostedService, IDisposable
{
    private const int FirstBufferSize = 4096;

    private readonly Socket _listener;
    private readonly string _url;
    private readonly HttpHandler _handler;
    private readonly Func<SslServerAuthenticationOptions>? _tls;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private int _connections;
    private int _disposed;
    private long _refused;
    private long _lastRefusalLog;
    private long _lastAcceptErrorLog;
    private Task? _accepting;
    private DateHeader _date = new(-1, "");

    /// <summary>Serves connections accepted on <paramref name="listener"/> (bound and listening) with <paramref name="handler"/>.</summary>
    /// <param name="listener">The listening socket; the server owns it from now on.</param>
    /// <param name="handler">Answers a request; it may throw, which is answered 500.</param>
    /// <param name="tls">When set, each connection is TLS with the options it returns at the time.</param>
    /// <param name="logger">For what goes wrong beyond a single client.</param>
    public HttpServer(Socket listener, HttpHandler handler, Func<SslServerAuthenticationOptions>? tls, ILogger logger)
    {
        _listener = listener;
        _url = $"{(tls is null ? "http" : "https")}://{listener.LocalEndPoint}";
        _handler = handler;
        _tls = tls;
        _logger = logger;
    }

    /// <summary>A client has this long to send a request's head once it has started it, or a new connection its first (and its TLS handshake).</summary>
    public TimeSpan HeadersTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>An idle kept-alive connection is closed after this; longer than the usual 15 s scrape interval.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>A response the client has not taken within this is abandoned and the connection closed.</summary>
    public TimeSpan WriteTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Open connections beyond this are closed as soon as accepted, so that clients cannot use up the descriptors the counters need.</summary>
    public int MaxConnections { get; init; } = 4096;

    /// <summary>
    /// Accepting starts once this completes (the sampler's first tick, so that no scrape meets an
    /// exposition without the node's series), or after <see cref="ReadyTimeout"/> in any case;
    /// clients wait in the listening socket's backlog meanwhile.
    /// </summary>
    public Task Ready { get; init; } = Task.CompletedTask;

    /// <summary>How long accepting waits for <see cref="Ready"/>.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Connections now open.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Starts accepting.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _accepting = Task.Run(AcceptLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops accepting, cuts the open connections, and waits (until <paramref name="cancellationToken"/>) for their loops to end.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        if (_accepting is { } accepting)
        {
            await accepting.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        while (Connections > 0 && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stopping.Cancel();
            _listener.Dispose();
            _stopping.Dispose();
        }
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            await Ready.WaitAsync(ReadyTimeout, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception e)
        {
            // Late or failed, the first tick must not keep /healthz and the self-metrics from answering.
            _logger.LogWarning("no sample within {Seconds} s of start ({Reason}): serving anyway", ReadyTimeout.TotalSeconds, e.Message);
        }

        _logger.LogInformation("listening on {Url}", _url);
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of descriptors or memory: the clients wait in the backlog meanwhile.
                if (Every(ref _lastAcceptErrorLog, 10))
                {
                    _logger.LogWarning("cannot accept connections on /metrics: {Reason}", e.Message);
                }

                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            if (Interlocked.Increment(ref _connections) > MaxConnections)
            {
                Interlocked.Decrement(ref _connections);
                var refused = Interlocked.Increment(ref _refused);
                if (Every(ref _lastRefusalLog, 10))
                {
                    _logger.LogWarning("{Open} HTTP connections are open, the most served at once: closed the newest ({Refused} so far)", MaxConnections, refused);
                }

                client.Dispose();
                continue;
            }

            client.NoDelay = true;
            _ = Task.Run(() => ServeAsync(client), CancellationToken.None);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        Stream stream = new NetworkStream(client, ownsSocket: true);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        byte[]? buffer = null;
        var filled = 0;
        try
        {
            deadline.CancelAfter(HeadersTimeout);
            if (_tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsServerAsync(_tls(), deadline.Token).ConfigureAwait(false);
            }

            for (var first = true; ; first = false)
            {
                if (filled == 0)
                {
                    // Idle between requests: hold no buffer, only wait for the next byte.
                    Return(ref buffer);
                    Restart(deadline, first ? HeadersTimeout : KeepAliveTimeout);
                    await stream.ReadAsync(Memory<byte>.Empty, deadline.Token).ConfigureAwait(false);
                }

                Restart(deadline, HeadersTimeout);
                buffer ??= ArrayPool<byte>.Shared.Rent(FirstBufferSize);
                HttpRequestHead? request;
                int consumed;
                HttpRequestError? error;
                var searched = 0;
                while (!HttpRequestParser.TryParse(buffer.AsSpan(0, filled), out request, out consumed, out error, searched))
                {
                    searched = filled; // no end of the head in what is there: look only at what comes
                    if (filled == buffer.Length)
                    {
                        Grow(ref buffer, filled);
                    }

                    var read = await stream.ReadAsync(buffer.AsMemory(filled), deadline.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return; // the client closed, between requests or in the middle of one
                    }

                    filled += read;
                }

                if (error is not null)
                {
                    await WriteAsync(stream, deadline, HttpResponse.Text(error.Status, error.Reason + "\n"), head: false, close: true).ConfigureAwait(false);
                    await LingerAsync(client, stream, deadline).ConfigureAwait(false);
                    return;
                }

                var response = await AnswerAsync(request!, deadline.Token).ConfigureAwait(false);
                var keepAlive = request!.KeepAlive && !_stopping.IsCancellationRequested;
                if (keepAlive && !request.Http11)
                {
                    response.With("Connection", "keep-alive"); // an HTTP/1.0 client closes unless told otherwise
                }

                await WriteAsync(stream, deadline, response, request.IsHead, close: !keepAlive).ConfigureAwait(false);
                if (!keepAlive)
                {
                    await LingerAsync(client, stream, deadline).ConfigureAwait(false);
                    return;
                }

                // What follows the head is the next request (pipelining), kept at the buffer's start.
                buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
                filled -= consumed;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or AuthenticationException or ObjectDisposedException)
        {
            // A client that went away, timed out or failed its handshake: its connection ends, nothing else.
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "an HTTP connection failed");
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            Return(ref buffer);
            Interlocked.Decrement(ref _connections);
        }
    }

    private async ValueTask<HttpResponse> AnswerAsync(HttpRequestHead request, CancellationToken cancel)
    {
        try
        {
            return await _handler(request, cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogError(e, "answering {Method} {Path} failed", request.Method, request.Path);
            return HttpResponse.Text(500, "internal error: see the agent's log\n");
        }
    }

    private async ValueTask WriteAsync(Stream stream, CancellationTokenSource deadline, HttpResponse response, bool head, bool close)
    {
        try
        {
            Restart(deadline, WriteTimeout);
            var output = new ArrayBufferWriter<byte>(512);
            response.WriteHead(output, Date(), close);
            var body = head ? ReadOnlyMemory<byte>.Empty : response.Body;
            if (body.Length <= 4096)
            {
                // A short answer goes out in one write with its head.
                output.Write(body.Span);
                await stream.WriteAsync(output.WrittenMemory, deadline.Token).ConfigureAwait(false);
            }
            else
            {
                await stream.WriteAsync(output.WrittenMemory, deadline.Token).ConfigureAwait(false);
                await stream.WriteAsync(body, deadline.Token).ConfigureAwait(false);
            }

            await stream.FlushAsync(deadline.Token).ConfigureAwait(false);
        }
        finally
        {
            response.Owner?.Dispose();
        }
    }

    /// <summary>
    /// Closes the sending side and reads what the client still sends for a moment before the socket
    /// is closed: closed with unread data, a socket sends a reset, which can make the client discard
    /// the answer it has not read yet (a 400, or the last of a pipelined series).
    /// </summary>
    private static async ValueTask LingerAsync(Socket client, Stream stream, CancellationTokenSource deadline)
    {
        if (stream is not NetworkStream)
        {
            return; // TLS: the close_notify and the close follow at once
        }

        client.Shutdown(SocketShutdown.Send);
        Restart(deadline, TimeSpan.FromSeconds(1));
        var sink = ArrayPool<byte>.Shared.Rent(FirstBufferSize);
        try
        {
            for (var drained = 0; drained < 64 * 1024;)
            {
                var read = await client.ReceiveAsync(sink, deadline.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                drained += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sink);
        }
    }

    /// <summary>The Date header, formatted once a second.</summary>
    private string Date()
    {
        var now = DateTimeOffset.UtcNow;
        var date = Volatile.Read(ref _date);
        if (date.Second != now.ToUnixTimeSeconds())
        {
            date = new(now.ToUnixTimeSeconds(), now.ToString("r", CultureInfo.InvariantCulture));
            Volatile.Write(ref _date, date);
        }

        return date.Text;
    }

    private static void Restart(CancellationTokenSource deadline, TimeSpan timeout)
    {
        // TryReset fails only once the deadline has passed, which the pending operation then reports.
        if (deadline.TryReset())
        {
            deadline.CancelAfter(timeout);
        }
    }

    private static void Grow(ref byte[] buffer, int filled)
    {
        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, HttpRequestParser.MaxHeadBytes + FirstBufferSize));
        buffer.AsSpan(0, filled).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = larger;
    }

    private static void Return(ref byte[]? buffer)
    {
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = null;
        }
    }

    /// <summary>True at most once every <paramref name="seconds"/> (for logs a flood would repeat).</summary>
    private static bool Every(ref long last, int seconds)
    {
        var now = Stopwatch.GetTimestamp();
        var before = Volatile.Read(ref last);
        return (before == 0 || Stopwatch.GetElapsedTime(before, now).TotalSeconds >= seconds)
            && Interlocked.CompareExchange(ref last, now, before) == before;
    }

    private sealed record DateHeader(long Second, string Text);
}
