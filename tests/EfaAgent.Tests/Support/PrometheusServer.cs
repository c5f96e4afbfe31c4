using System.Globalization;
using System.Text.Json;

namespace EfaAgent.Tests.Support;

/// <summary>
/// A real Prometheus server (Debian package <c>prometheus</c>) on 127.0.0.1 with a config file and
/// rule files given by the test, storing into a temporary directory; queried over its HTTP API.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly ChildProcess _child;

    private PrometheusServer(ChildProcess child, int port)
    {
        _child = child;
        Port = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>The port it serves on.</summary>
    public int Port { get; }

    /// <summary>A client for its HTTP API.</summary>
    public HttpClient Http { get; }

    /// <summary>What it logged.</summary>
    public string Log => _child.Output;

    /// <summary>Starts Prometheus with <paramref name="configFile"/>, storing under <paramref name="dataDir"/>.</summary>
    public static async Task<PrometheusServer> StartAsync(string configFile, string dataDir)
    {
        var binary = ChildProcess.FindOnPath("prometheus") ?? throw new InvalidOperationException("prometheus not found on PATH: install the Debian package 'prometheus' (.ci/run does)");
        var port = AgentProcess.FreePort();
        var server = new PrometheusServer(ChildProcess.Start(binary,
        [
            "--config.file=" + configFile,
            "--storage.tsdb.path=" + dataDir,
            $"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]), port);
        var process = server._child.Process;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with {process.ExitCode}:\n{server.Log}");
            }

            try
            {
                using var r = await server.Http.GetAsync(new Uri("/-/ready", UriKind.Relative));
                if (r.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
                // starting
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"prometheus did not become ready:\n{server.Log}");
    }

    /// <summary>Runs an instant query; returns the result array, or throws with Prometheus' error.</summary>
    public async Task<JsonElement> QueryAsync(string promql)
    {
        var uri = new Uri("/api/v1/query?query=" + Uri.EscapeDataString(promql), UriKind.Relative);
        using var response = await Http.GetAsync(uri);
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            throw new PromQlException(promql, root.TryGetProperty("error", out var e) ? e.GetString() ?? body : body);
        }

        return root.GetProperty("data").GetProperty("result").Clone();
    }

    /// <summary>The alerts Prometheus holds now: (alert name, state, labels).</summary>
    public async Task<IReadOnlyList<(string Name, string State, Dictionary<string, string> Labels)>> AlertsAsync()
    {
        using var response = await Http.GetAsync(new Uri("/api/v1/alerts", UriKind.Relative));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var list = new List<(string, string, Dictionary<string, string>)>();
        foreach (var a in doc.RootElement.GetProperty("data").GetProperty("alerts").EnumerateArray())
        {
            var labels = a.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal);
            list.Add((labels["alertname"], a.GetProperty("state").GetString() ?? "", labels));
        }

        return list;
    }

    /// <summary>The rule groups' health as Prometheus reports it: (rule name, health, last error).</summary>
    public async Task<IReadOnlyList<(string Name, string Health, string Error)>> RulesAsync()
    {
        using var response = await Http.GetAsync(new Uri("/api/v1/rules", UriKind.Relative));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var list = new List<(string, string, string)>();
        foreach (var g in doc.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray())
        {
            foreach (var r in g.GetProperty("rules").EnumerateArray())
            {
                list.Add((r.GetProperty("name").GetString() ?? "", r.GetProperty("health").GetString() ?? "",
                    r.TryGetProperty("lastError", out var e) ? e.GetString() ?? "" : ""));
            }
        }

        return list;
    }

    /// <summary>Waits until every target has been scraped successfully at least <paramref name="scrapes"/> times worth of time.</summary>
    public async Task WaitForTargetsUpAsync(int targets, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var up = await QueryAsync("count(up == 1)");
            if (up.GetArrayLength() == 1 && int.Parse(up[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture) >= targets)
            {
                return;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"fewer than {targets} targets up:\n{Log}");
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Http.Dispose();
        _child.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A query Prometheus rejected.</summary>
public sealed class PromQlException(string query, string error) : Exception($"{error}\nquery: {query}");
