using System.Net;
using System.Net.Sockets;
using System.Text;
using EfaAgent.Agent.Scrape;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Scrape;

/// <summary>The scrape client against real loopback sockets: an agent, a closed port, a silent peer.</summary>
public class ScrapeClientTests
{
    private static readonly string[] Responses =
    [
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n<html>",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ];

    [Fact]
    public async Task Scrapes_a_running_agent_and_parses_its_metrics()
    {
        await using var agent = AgentProcess.Start(["--path.sysfs=" + Repo.Fixture("p4d-postsplit", "sys"), "--path.procfs=" + Repo.Fixture("p4d-postsplit", "proc"), "--no-collector.gpu"]);
        await agent.WaitHealthyAsync();
        using var client = new ScrapeClient(TimeSpan.FromSeconds(5));
        var result = await client.ScrapeAsync(new Uri($"http://127.0.0.1:{agent.Port}/metrics"), CancellationToken.None);
        Assert.Equal(ScrapeFailure.None, result.Failure);
        Assert.Equal(4, result.Metrics!.Value("efa_devices"));
        Assert.Equal("p4d.24xlarge", result.Metrics.Series("efa_node_info")[0].Label("instance_type"));
    }

    [Fact]
    public async Task A_closed_port_is_refused()
    {
        var port = AgentProcess.FreePort();
        using var client = new ScrapeClient(TimeSpan.FromSeconds(5));
        var result = await client.ScrapeAsync(new Uri($"http://127.0.0.1:{port}/metrics"), CancellationToken.None);
        Assert.Equal(ScrapeFailure.Refused, result.Failure);
        Assert.Null(result.Metrics);
    }

    [Fact]
    public async Task A_peer_that_accepts_and_never_answers_times_out_within_the_bound()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var client = new ScrapeClient(TimeSpan.FromMilliseconds(300));
        var results = await client.ScrapeAllAsync([new Uri($"http://127.0.0.1:{port}/metrics"), new Uri($"http://127.0.0.1:{port}/metrics")], CancellationToken.None);
        Assert.All(results, r => Assert.Equal(ScrapeFailure.TimedOut, r.Failure));
        Assert.All(results, r => Assert.Equal("no answer within 0.3 s", r.Error));
    }

    [Fact]
    public async Task A_body_that_is_not_an_exposition_and_an_HTTP_error_are_told_apart()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(async () =>
        {
            foreach (var response in Responses)
            {
                using var socket = await listener.AcceptSocketAsync();
                var buffer = new byte[4096];
                await socket.ReceiveAsync(buffer);
                await socket.SendAsync(Encoding.ASCII.GetBytes(response));
                socket.Shutdown(SocketShutdown.Both);
            }
        });
        using var client = new ScrapeClient(TimeSpan.FromSeconds(5));
        var url = new Uri($"http://127.0.0.1:{port}/metrics");
        var bad = await client.ScrapeAsync(url, CancellationToken.None);
        Assert.Equal((ScrapeFailure.BadBody, "line 1: bad metric name '<html>': <html>"), (bad.Failure, bad.Error));
        var status = await client.ScrapeAsync(url, CancellationToken.None);
        Assert.Equal((ScrapeFailure.HttpStatus, "HTTP 503 Service Unavailable"), (status.Failure, status.Error));
        await server;
    }
}
