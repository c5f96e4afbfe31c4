using System.Net;
using System.Net.Sockets;
using System.Text;
using EfaAgent.Agent.Web;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Web;

/// <summary>
/// The agent's HTTP server on a real socket on 127.0.0.1, with raw clients: what it answers, when it
/// closes a connection, and that one client's misbehaviour is not another's problem.
/// </summary>
public sealed class HttpServerTests : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(1);
    private readonly ListLogger _log = new();
    private HttpServer _server = null!;
    private int _port;

    /// <summary>The body of a GET of /big: more than the socket buffers of both ends hold.</summary>
    private static readonly Lazy<byte[]> Big = new(() => new byte[64 << 20]);

    /// <summary>Connections allowed at once in this test server.</summary>
    public int MaxConnections { get; set; } = 8;

    public Task InitializeAsync() => StartAsync();
    public Task DisposeAsync() => _server.StopAsync(CancellationToken.None);

    public void Dispose() => _server.Dispose();

    [Fact]
    public async Task Pipelined_requests_are_answered_in_order_on_one_connection()
    {
        var text = await ExchangeAsync("GET /one HTTP/1.1\r\nHost: a\r\n\r\nHEAD /two HTTP/1.1\r\nHost: a\r\n\r\nGET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

        var bodies = text.Split("HTTP/1.1 200 OK").Skip(1).Select(r => r[(r.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).ToList();
        Assert.Equal(["path /one", "", "path /three"], bodies);
        Assert.Contains("Content-Length: 9\r\n", text.Split("HTTP/1.1 200 OK")[2], StringComparison.Ordinal); // HEAD: the length of the GET body, no body
        Assert.EndsWith("path /three", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET /x HTTP/1.1\r\n\r\n", "400 Bad Request")]
    [InlineData("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "413 Content Too Large")]
    [InlineData("GET /x HTTP/3.0\r\nHost: a\r\n\r\n", "505 HTTP Version Not Supported")]
    public async Task A_request_it_does_not_take_is_answered_and_the_connection_closed(string request, string status)
    {
        var text = await ExchangeAsync(request + "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.StartsWith($"HTTP/1.1 {status}\r\n", text, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("path /after", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_HTTP_1_0_request_is_answered_and_closed()
    {
        var text = await ExchangeAsync("GET /old HTTP/1.0\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", text, StringComparison.Ordinal);
        Assert.EndsWith("path /old", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_HTTP_1_0_request_that_asks_for_keep_alive_is_told_so_and_served_again()
    {
        var text = await ExchangeAsync("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");

        var first = text[..text.IndexOf("path /a", StringComparison.Ordinal)];
        Assert.Contains("Connection: keep-alive\r\n", first, StringComparison.Ordinal);
        Assert.EndsWith("path /b", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_head_sent_too_slowly_and_an_idle_connection_are_cut_off()
    {
        using var slow = await ConnectAsync();
        await SendAsync(slow, "GET /slow HTTP/1.1\r\nHost: a\r\n");
        using var idle = await ConnectAsync();
        await SendAsync(idle, "GET /idle HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("", await ReadToEndAsync(slow));
        Assert.EndsWith("path /idle", await ReadToEndAsync(idle), StringComparison.Ordinal);
        await WaitAsync(() => _server.Connections == 0);
    }

    [Fact]
    public async Task A_kept_alive_connection_waits_for_its_next_request_past_the_header_timeout()
    {
        await StartAsync(headers: TimeSpan.FromMilliseconds(200), keepAlive: TimeSpan.FromMinutes(1));
        using var client = await ConnectAsync();
        await SendAsync(client, "GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
        await ReadUntilAsync(client, "path /first");

        await Task.Delay(1000); // idle: the keep-alive timeout (a minute) applies, not the header timeout
        await SendAsync(client, "GET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

        Assert.EndsWith("path /second", await ReadToEndAsync(client), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_does_not_read_its_answer_is_dropped_and_others_are_served_meanwhile()
    {
        await StartAsync(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)); // only the write timeout (1 s) can end the connection
        using var stuck = await ConnectAsync();
        stuck.ReceiveBufferSize = 4096;
        await SendAsync(stuck, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
        await WaitAsync(() => _server.Connections == 1);

        Assert.EndsWith("path /other", await ExchangeAsync("GET /other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), StringComparison.Ordinal);

        // The write of /big cannot finish: the server gives up on it after its write timeout.
        await WaitAsync(() => _server.Connections == 0);
    }

    [Fact]
    public async Task A_failing_handler_is_a_500_and_the_server_goes_on()
    {
        Assert.StartsWith("HTTP/1.1 500 Internal Server Error\r\n", await ExchangeAsync("GET /throw HTTP/1.1\r\nHost: a\r\n\r\n"), StringComparison.Ordinal);

        Assert.Equal(1, _log.Count("answering GET /throw failed"));
        Assert.EndsWith("path /fine", await ExchangeAsync("GET /fine HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_past_the_limit_are_closed_at_once_and_logged_and_served_again_when_some_end()
    {
        await StartAsync(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)); // the held connections stay, however slow the machine
        var held = new List<Socket>();
        for (var i = 0; i < MaxConnections; i++)
        {
            held.Add(await ConnectAsync());
        }

        await WaitAsync(() => _server.Connections == MaxConnections);
        using (var refused = await ConnectAsync())
        {
            Assert.Equal("", await ReadToEndAsync(refused));
        }

        await WaitAsync(() => _log.Count("HTTP connections are open, the most served at once") == 1);
        foreach (var socket in held)
        {
            socket.Dispose();
        }

        await WaitAsync(() => _server.Connections == 0);
        Assert.EndsWith("path /again", await ExchangeAsync("GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nothing_is_answered_before_the_server_is_ready_and_what_waited_is_answered_then()
    {
        var ready = new TaskCompletionSource();
        await StartAsync(ready: ready.Task);
        var listening = _log.Count("listening on http://127.0.0.1:"); // the stopped first server's
        using var client = await ConnectAsync(); // in the listening socket's backlog
        await SendAsync(client, "GET /early HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        var read = ReadToEndAsync(client);

        await Task.Delay(500);
        Assert.False(read.IsCompleted);
        Assert.Equal(listening, _log.Count("listening on http://127.0.0.1:"));
        ready.SetResult();

        Assert.EndsWith("path /early", await read, StringComparison.Ordinal);
        Assert.Equal(listening + 1, _log.Count("listening on http://127.0.0.1:"));
    }

    [Fact]
    public async Task A_first_tick_that_never_comes_delays_serving_only_until_the_ready_timeout()
    {
        await StartAsync(ready: new TaskCompletionSource().Task, readyTimeout: TimeSpan.FromMilliseconds(300));

        Assert.EndsWith("path /late", await ExchangeAsync("GET /late HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), StringComparison.Ordinal);
        Assert.Equal(1, _log.Count("no sample within 0.3 s of start"));
    }

    [Fact]
    public async Task Stopping_closes_the_open_connections()
    {
        await StartAsync(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)); // idle connections would stay open for a minute
        using var client = await ConnectAsync();
        await SendAsync(client, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
        await ReadUntilAsync(client, "path /a");

        Assert.Equal(1, _server.Connections); // kept alive, waiting for the next request
        await _server.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);

        Assert.Equal(0, _server.Connections);
        Assert.Equal("", await ReadToEndAsync(client));
    }

    /// <summary>Starts this test's server, in place of the one running (whose log stays in <see cref="_log"/>).</summary>
    private async Task StartAsync(TimeSpan? headers = null, TimeSpan? keepAlive = null, Task? ready = null, TimeSpan? readyTimeout = null)
    {
        if (_server is { } running)
        {
            await running.StopAsync(CancellationToken.None);
            running.Dispose();
        }

        var listener = WebServer.Bind(new(IPAddress.Loopback, 0), out var error) ?? throw new InvalidOperationException(error);
        _port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        _server = new HttpServer(listener, Handle, tls: null, _log)
        {
            HeadersTimeout = headers ?? Short,
            KeepAliveTimeout = keepAlive ?? Short,
            WriteTimeout = TimeSpan.FromSeconds(1),
            MaxConnections = MaxConnections,
            Ready = ready ?? Task.CompletedTask,
            ReadyTimeout = readyTimeout ?? TimeSpan.FromSeconds(10),
        };
        await _server.StartAsync(CancellationToken.None);
    }

    private static ValueTask<HttpResponse> Handle(HttpRequestHead request, CancellationToken cancel) => request.Path switch
    {
        "/throw" => throw new InvalidOperationException("broken"),
        "/big" => new(new HttpResponse(200, "application/octet-stream", Big.Value)),
        _ => new(HttpResponse.Text(200, $"path {request.Path}")),
    };

    private async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _port);
        return socket;
    }

    /// <summary>Sends <paramref name="request"/> on a new connection and returns all the server sends until it closes it.</summary>
    private async Task<string> ExchangeAsync(string request)
    {
        using var client = await ConnectAsync();
        await SendAsync(client, request);
        return await ReadToEndAsync(client);
    }

    private static async Task SendAsync(Socket socket, string text) => await socket.SendAsync(Encoding.Latin1.GetBytes(text));

    /// <summary>Reads the answer to a request whose connection stays open, up to the end of its body.</summary>
    private static async Task ReadUntilAsync(Socket socket, string end)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var answer = new byte[4096];
        var received = 0;
        while (!Encoding.Latin1.GetString(answer, 0, received).EndsWith(end, StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(answer.AsMemory(received), timeout.Token);
            Assert.NotEqual(0, n);
            received += n;
        }
    }

    /// <summary>Everything the server sends until it closes the connection (a test fails rather than hangs after 20 s).</summary>
    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = new MemoryStream();
        var buffer = new byte[16384];
        while (true)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer, timeout.Token);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                break;
            }

            if (n == 0)
            {
                break;
            }

            received.Write(buffer, 0, n);
        }

        return Encoding.Latin1.GetString(received.ToArray());
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 20 s");
            await Task.Delay(20);
        }
    }
}
