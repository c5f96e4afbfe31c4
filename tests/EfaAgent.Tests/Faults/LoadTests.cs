using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Faults;

/// <summary>
/// A connection flood on loopback, bounded in count and time: 1,000 connections that send their
/// headers a byte at a time (slowloris), reopened when the agent cuts them off, while a scraper asks
/// for /metrics ten times a second. How fast is not judged here (bench/soak.sh measures); that the
/// sampler goes on and every scrape is answered is.
/// </summary>
public sealed partial class LoadTests
{
    private const int SlowConnections = 1000;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(8);

    [Fact]
    public async Task With_1000_slow_connections_the_sampler_keeps_ticking_and_the_scraper_is_answered()
    {
        await using var agent = EndToEndTests.StartOn("p4d-postsplit");
        await agent.WaitHealthyAsync();
        var ticksBefore = Ticks(await agent.ScrapeAsync());

        using var stop = new CancellationTokenSource(Duration);
        var slow = Enumerable.Range(0, SlowConnections).Select(i => SlowClientAsync(agent.Port, i, stop.Token)).ToArray();
        var scrapes = 0;
        var failures = new List<string>();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var response = await agent.Http.GetAsync(new Uri("/metrics", UriKind.Relative));
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    failures.Add($"status {(int)response.StatusCode}");
                }

                scrapes++;
            }
            catch (HttpRequestException e)
            {
                failures.Add(e.Message);
            }

            await Task.Delay(100);
        }

        var opened = (await Task.WhenAll(slow)).Sum();
        var ticksAfter = Ticks(await agent.ScrapeAsync());

        Assert.Empty(failures);
        Assert.True(scrapes > 0);
        Assert.True(opened >= SlowConnections, $"only {opened} slow connections were opened");
        Assert.True(ticksAfter > ticksBefore, $"the sampler stopped: {ticksBefore} -> {ticksAfter} ticks");
        Assert.False(agent.HasExited);
    }

    /// <summary>Opens a connection and trickles a header byte every second until stopped; reopens it when the agent closes it. Returns how many it opened.</summary>
    private static async Task<int> SlowClientAsync(int port, int index, CancellationToken stop)
    {
        await Task.Delay(index % 100 * 10, CancellationToken.None); // spread the connects over a second
        var opened = 0;
        while (!stop.IsCancellationRequested)
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port, stop);
                opened++;
                var stream = client.GetStream();
                await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"), stop);
                while (!stop.IsCancellationRequested)
                {
                    await Task.Delay(1000, stop);
                    await stream.WriteAsync("X"u8.ToArray(), stop);
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                // cut off by the agent's header timeout: open another
            }
        }

        return opened;
    }

    private static double Ticks(string exposition) =>
        double.Parse(TicksLine().Match(exposition).Groups[1].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^efa_agent_ticks_total (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TicksLine();
}
