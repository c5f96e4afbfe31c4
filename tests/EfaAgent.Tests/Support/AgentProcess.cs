using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace EfaAgent.Tests.Support;

/// <summary>
/// The built <c>efa-agent</c> executable, started as a real process on 127.0.0.1 with a free port,
/// its output captured. Disposing stops it with SIGTERM (then SIGKILL if it does not go).
/// </summary>
public sealed partial class AgentProcess : IAsyncDisposable
{
    private readonly ChildProcess _child;

    private AgentProcess(ChildProcess child, int port)
    {
        _child = child;
        Port = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>The path of the agent executable built next to the tests.</summary>
    public static string Executable => Path.Combine(AppContext.BaseDirectory, "efa-agent");

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>A client for its endpoint.</summary>
    public HttpClient Http { get; }

    /// <summary>Everything it printed so far.</summary>
    public string Output => _child.Output;

    /// <summary>Whether it has exited.</summary>
    public bool HasExited => _child.Process.HasExited;

    /// <summary>Its exit code (after it exited).</summary>
    public int ExitCode => _child.Process.ExitCode;

    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts the agent with <paramref name="args"/> plus a listen address on a free loopback port.</summary>
    public static AgentProcess Start(IEnumerable<string> args, IDictionary<string, string>? environment = null, bool addListenAddress = true)
    {
        var port = FreePort();
        var argv = addListenAddress ? [.. args, $"--web.listen-address=127.0.0.1:{port}"] : args;
        var env = new Dictionary<string, string?>(StringComparer.Ordinal) { ["JOURNAL_STREAM"] = null };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }

        return new AgentProcess(ChildProcess.Start(Executable, argv, env), port);
    }

    /// <summary>
    /// Starts the agent through a wrapper command (<c>prlimit --nofile=... --</c>): <paramref name="wrapper"/>
    /// is the command and its arguments, followed by the agent's path (<paramref name="executable"/>,
    /// <see cref="Executable"/> when null) and <paramref name="args"/>.
    /// </summary>
    public static AgentProcess StartThrough(IReadOnlyList<string> wrapper, IEnumerable<string> args, bool addListenAddress = true, string? executable = null)
    {
        var port = FreePort();
        var env = new Dictionary<string, string?>(StringComparer.Ordinal) { ["JOURNAL_STREAM"] = null };
        IEnumerable<string> argv = addListenAddress ? [.. args, $"--web.listen-address=127.0.0.1:{port}"] : args;
        return new AgentProcess(ChildProcess.Start(wrapper[0], [.. wrapper.Skip(1), executable ?? Executable, .. argv], env), port);
    }

    /// <summary>Waits until <c>/healthz</c> answers 200 (the first tick is published).</summary>
    public async Task WaitHealthyAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            if (_child.Process.HasExited)
            {
                throw new InvalidOperationException($"efa-agent exited with {_child.Process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await Http.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"efa-agent did not become healthy:\n{Output}");
    }

    /// <summary>
    /// Waits until the agent's output holds <paramref name="text"/>; false when it has not within
    /// <paramref name="timeout"/> or the process exited first. For what the agent logs in answer to
    /// something done to it, which reaches the output when the process gets to it.
    /// </summary>
    public async Task<bool> WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_child.Process.HasExited || DateTime.UtcNow >= deadline)
            {
                return Output.Contains(text, StringComparison.Ordinal);
            }

            await Task.Delay(50);
        }

        return true;
    }

    /// <summary>Scrapes <c>/metrics</c> in the Prometheus text format.</summary>
    public Task<string> ScrapeAsync() => Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));

    /// <summary>
    /// Scrapes until two scrapes 300 ms apart are the same once <paramref name="normalize"/> has masked
    /// what changes on its own (durations, timestamps): the state after discovery and the first ticks
    /// of every collector have settled.
    /// </summary>
    public async Task<string> ScrapeSettledAsync(Func<string, string> normalize)
    {
        var previous = normalize(await ScrapeAsync());
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(300);
            var text = await ScrapeAsync();
            var current = normalize(text);
            if (current == previous)
            {
                return text;
            }

            previous = current;
        }

        throw new TimeoutException("the exposition did not settle within 20 s");
    }

    /// <summary>Waits for the process to exit and for its output to be read; false on timeout.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_child.Process.WaitForExit(timeout))
        {
            return false;
        }

        // The timed wait returns without waiting for the output handlers, so on a busy machine the last
        // lines could still be missing from Output; the untimed wait returns once both streams are read.
        _child.Process.WaitForExit();
        return true;
    }

    /// <summary>Sends a signal (15 = SIGTERM, 2 = SIGINT).</summary>
    public void Signal(int signal)
    {
        if (Kill(_child.Process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_child.Process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_child.Process.HasExited)
        {
            Signal(15);
            _child.Process.WaitForExit(TimeSpan.FromSeconds(5));
        }

        _child.Dispose(); // kills it if SIGTERM was not enough
        return ValueTask.CompletedTask;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
