using System.Globalization;
using EfaAgent.Agent.Sampling;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Agent.Hosting;

/// <summary>
/// The systemd watchdog: when the unit sets <c>WatchdogSec=</c>, systemd passes <c>WATCHDOG_USEC</c>
/// and expects <c>WATCHDOG=1</c> at least that often. The hosting package does not ping; this service
/// pings at half the interval, and only while the sampling loop is healthy, so a hung loop gets the
/// agent restarted instead of a live process that serves stale numbers.
/// </summary>
public sealed partial class WatchdogService : BackgroundService
{
    private static readonly ServiceState Watchdog = new("WATCHDOG=1");

    private readonly ISystemdNotifier _notifier;
    private readonly Func<bool> _healthy;
    private readonly TimeSpan? _period;
    private readonly ILogger<WatchdogService> _logger;
    private readonly Task _started;

    /// <summary>Creates the service; it does nothing unless systemd asked for a watchdog.</summary>
    public WatchdogService(ISystemdNotifier notifier, SamplingService sampling, ILogger<WatchdogService> logger)
        : this(notifier, () => sampling.IsHealthy, Interval(Environment.GetEnvironmentVariable), logger, sampling.FirstTick)
    {
    }

    /// <summary>Creates the service with an explicit health check and watchdog interval.</summary>
    /// <param name="notifier">Where pings go.</param>
    /// <param name="healthy">Whether sampling is healthy now.</param>
    /// <param name="watchdogInterval">systemd's watchdog interval; null for none.</param>
    /// <param name="logger">The log.</param>
    /// <param name="started">Completes when sampling has started (the first tick): before it, "not healthy" is no news.</param>
    public WatchdogService(ISystemdNotifier notifier, Func<bool> healthy, TimeSpan? watchdogInterval, ILogger<WatchdogService> logger, Task? started = null)
    {
        _started = started ?? Task.CompletedTask;
        _notifier = notifier;
        _healthy = healthy;
        _period = watchdogInterval is { } w ? w / 2 : null;
        _logger = logger;
    }

    /// <summary>The watchdog interval systemd asked for, from <c>WATCHDOG_USEC</c> (and <c>WATCHDOG_PID</c>, when set, naming this process).</summary>
    public static TimeSpan? Interval(Func<string, string?> environment)
    {
        var pid = environment("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid) && pid != Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
        {
            return null;
        }

        return long.TryParse(environment("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) && usec > 0
            ? TimeSpan.FromMicroseconds(usec)
            : null;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_period is not { } period || !_notifier.IsEnabled)
        {
            return;
        }

        LogEnabled(period.TotalSeconds);

        // The first tick takes a discovery; until it is published the loop is starting, not unhealthy.
        // systemd's watchdog does not run before READY=1 either way, and start-up has its own timeout.
        await _started.WaitAsync(stoppingToken).ConfigureAwait(false);
        var wasHealthy = true;
        using var timer = new PeriodicTimer(period);
        do
        {
            var healthy = _healthy();
            if (healthy)
            {
                _notifier.Notify(Watchdog);
            }

            if (healthy != wasHealthy)
            {
                if (healthy)
                {
                    LogResumed();
                }
                else
                {
                    LogWithheld();
                }

                wasHealthy = healthy;
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "systemd watchdog on: pinging every {Seconds} s while sampling is healthy")]
    private partial void LogEnabled(double seconds);

    [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "sampling is not healthy: withholding the watchdog ping, systemd will restart the agent if it does not recover")]
    private partial void LogWithheld();

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "sampling healthy again: watchdog pings resumed")]
    private partial void LogResumed();
}
