using System.Net.Sockets;
using System.Text;
using EfaAgent.Agent.Hosting;
using EfaAgent.Tests.Support;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EfaAgent.Tests;

/// <summary>Type=notify and the watchdog, against a real notify socket like systemd's.</summary>
public class SystemdNotifyTests
{
    [Fact]
    public async Task Agent_under_systemd_says_READY_pings_the_watchdog_and_says_STOPPING_on_SIGTERM()
    {
        using var dir = new TempDir();
        var path = dir.Combine("notify");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        socket.ReceiveTimeout = 15_000;

        var agent = AgentProcess.Start(
            ["--path.sysfs=" + Repo.Fixture("p4d-postsplit", "sys"), "--no-collector.gpu", "--sample.interval=100ms"],
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = path, ["WATCHDOG_USEC"] = "400000" });
        await using (agent)
        {
            var messages = new List<string>();
            var buffer = new byte[512];
            while (messages.Count(m => m == "WATCHDOG=1") < 3)
            {
                var n = socket.Receive(buffer);
                messages.Add(Encoding.ASCII.GetString(buffer, 0, n).Trim());
            }

            agent.Signal(15);
            while (!messages.Contains("STOPPING=1"))
            {
                var n = socket.Receive(buffer);
                messages.Add(Encoding.ASCII.GetString(buffer, 0, n).Trim());
            }

            Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(10)));
            Assert.Equal(0, agent.ExitCode);
            Assert.Contains("READY=1", messages);
            Assert.True(messages.IndexOf("READY=1") < messages.LastIndexOf("WATCHDOG=1"), string.Join(", ", messages));
        }
    }

    [Fact]
    public async Task Watchdog_pings_only_while_sampling_is_healthy()
    {
        var notifier = new RecordingNotifier();
        var healthy = true;
        using var service = new WatchdogService(notifier, () => Volatile.Read(ref healthy), TimeSpan.FromMilliseconds(100), NullLogger<WatchdogService>.Instance);
        await service.StartAsync(CancellationToken.None);

        await notifier.WaitForAsync(3);
        Volatile.Write(ref healthy, false);
        await Task.Delay(150);
        var whileUnhealthyStart = notifier.Count;
        await Task.Delay(400);
        var whileUnhealthyEnd = notifier.Count;
        Volatile.Write(ref healthy, true);
        await notifier.WaitForAsync(whileUnhealthyEnd + 2);
        await service.StopAsync(CancellationToken.None);

        Assert.Equal(whileUnhealthyStart, whileUnhealthyEnd);
    }

    [Fact]
    public async Task Watchdog_says_nothing_about_health_before_the_first_tick()
    {
        var notifier = new RecordingNotifier();
        var log = new ListLogger();
        var started = new TaskCompletionSource();
        var healthy = false;
        using var service = new WatchdogService(notifier, () => Volatile.Read(ref healthy), TimeSpan.FromMilliseconds(100), new TypedLogger(log), started.Task);
        await service.StartAsync(CancellationToken.None);
        await Task.Delay(400);

        Assert.Equal(0, notifier.Count);
        Assert.Equal(0, log.Count("not healthy"));

        Volatile.Write(ref healthy, true);
        started.SetResult();
        await notifier.WaitForAsync(2);
        await service.StopAsync(CancellationToken.None);
        Assert.Equal(0, log.Count("not healthy"));
    }

    [Theory]
    [InlineData("30000000", null, 30.0)]
    [InlineData("abc", null, null)]
    [InlineData(null, null, null)]
    [InlineData("1000000", "1", null)]
    public void Watchdog_interval_comes_from_WATCHDOG_USEC_for_this_process(string? usec, string? pid, double? seconds)
    {
        var env = new Dictionary<string, string?> { ["WATCHDOG_USEC"] = usec, ["WATCHDOG_PID"] = pid };
        Assert.Equal(seconds, WatchdogService.Interval(k => env.GetValueOrDefault(k))?.TotalSeconds);
    }

    private sealed class RecordingNotifier : ISystemdNotifier
    {
        private int _count;

        public bool IsEnabled => true;

        public int Count => Volatile.Read(ref _count);

        public void Notify(ServiceState state)
        {
            Assert.Equal("WATCHDOG=1", state.ToString());
            Interlocked.Increment(ref _count);
        }

        public async Task WaitForAsync(int count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (Count < count && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            Assert.True(Count >= count, $"only {Count} pings");
        }
    }
}

/// <summary>A <see cref="ListLogger"/> as the typed logger a service takes.</summary>
internal sealed class TypedLogger(ListLogger inner) : ILogger<WatchdogService>
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        inner.Log(logLevel, eventId, state, exception, formatter);
}
