using EfaAgent.Agent.Exposition;
using EfaAgent.Agent.Logging;
using EfaAgent.Agent.Options;
using EfaAgent.Agent.Sampling;
using EfaAgent.Agent.Web;
using EfaAgent.Collectors;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Prometheus;
using Serilog;
using Serilog.Extensions.Logging;
using ICollector = EfaAgent.Collectors.ICollector;

namespace EfaAgent.Agent.Hosting;

/// <summary>
/// Builds and runs the agent: the Generic Host with the sampling loop and the <see cref="HttpServer"/>
/// serving <c>/metrics</c> from the <see cref="ExpositionCache"/> as hosted services, systemd
/// integration, and Serilog.
/// </summary>
public static class AgentHost
{
    /// <summary>Exit code for a start that cannot work as configured (a bad setting, an address that cannot be bound), as in node_exporter.</summary>
    public const int UsageError = 2;

    /// <summary>Runs until SIGTERM/SIGINT or <paramref name="stop"/>; returns the process exit code.</summary>
    /// <param name="options">Validated settings.</param>
    /// <param name="stop">Stops the agent (the demo uses it); the host also stops on SIGTERM/SIGINT.</param>
    /// <param name="collectors">Collectors to run instead of those <paramref name="options"/> enables (the demo's simulated GPUs).</param>
    /// <param name="scenario">The demo scenario, shown in the self-metrics.</param>
    /// <param name="logTo">Where the log goes instead of stdout (the demo while it shows <c>top</c>).</param>
    public static async Task<int> RunAsync(AgentOptions options, Func<ILoggerFactory, IReadOnlyList<ICollector>>? collectors = null, string? scenario = null, TextWriter? logTo = null, CancellationToken stop = default)
    {
        var journald = logTo is null && AgentLogging.UnderJournald(Environment.GetEnvironmentVariable);
        await using var serilog = AgentLogging.Create(options.LogFormat, options.LogLevel, journald, logTo);
        using var loggerFactory = new SerilogLoggerFactory(serilog);
        var log = loggerFactory.CreateLogger("efa-agent");
        var listener = WebServer.Bind(options.ListenAddress, out var bindError);
        if (listener is null)
        {
            log.LogCritical("cannot serve /metrics on {Listen}: {Reason}", options.ListenAddress, bindError);
            return UsageError;
        }

        log.LogInformation("efa-agent {Version} starting: /metrics on {Listen}, sysfs {Sysfs}, procfs {Procfs}{Simulated}",
            SelfMetrics.Version, options.ListenAddress, options.SysfsRoot, options.ProcfsRoot,
            options.SimulatedShape is null ? "" : $" (SIMULATED {options.SimulatedShape} node)");

        ProcessSetup.RaiseFileLimit(log);
        using var hangup = ProcessSetup.IgnoreHangup(log);

        WebConfigWatcher? web;
        try
        {
            web = options.WebConfigFile is { } webConfig ? new WebConfigWatcher(webConfig, log) : null;
        }
        catch (WebConfigException e)
        {
            // Checked with the other settings; this is a file that changed in the moment since.
            listener.Dispose();
            log.LogCritical("invalid --web.config.file \"{Path}\": {Reason}", options.WebConfigFile, e.Message);
            return UsageError;
        }

        using var webToDispose = web;
        var list = collectors?.Invoke(loggerFactory) ?? CollectorFactory.Create(options, loggerFactory);
        try
        {
            using var host = Build(options, list, serilog, scenario, listener, web);
            await host.RunAsync(stop).ConfigureAwait(false);
            return 0;
        }
        finally
        {
            foreach (var c in list)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>Builds the host (not started): the sampler, the watchdog and the HTTP server on <paramref name="listener"/>.</summary>
    public static IHost Build(AgentOptions options, IReadOnlyList<ICollector> collectors, Serilog.ILogger serilog, string? scenario, Socket listener, WebConfigWatcher? web = null)
    {
        // The default metrics of prometheus-net fail `promtool check metrics`; the agent has its own.
        Metrics.SuppressDefaultMetrics();
        // The empty builder: the agent reads no configuration source (its settings are its flags) and
        // logs through Serilog, so the host's configuration providers and file watcher would only be
        // code and memory. See docs/performance.md, "Memory".
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = AppContext.BaseDirectory,
        });
        AddSystemd(builder.Services);
        builder.Services.AddSerilog(serilog, dispose: false);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        builder.Services.AddEfaAgent(options, collectors, scenario);
        builder.Services.AddHostedService(sp =>
        {
            var sampling = sp.GetRequiredService<SamplingService>();
            var exposition = sp.GetRequiredService<ExpositionCache>();
            _ = sp.GetRequiredService<PrometheusBridge>();
            ValueTask<HttpResponse> Route(HttpRequestHead request, CancellationToken cancel) => WebServer.PathOf(request.Path) switch
            {
                "/metrics" => exposition.ServeAsync(request, cancel),
                "/" => new(HttpResponse.Text(200, LandingPage.Render(options, collectors, sampling), "text/html; charset=utf-8")),
                "/healthz" => new(sampling.IsHealthy ? HttpResponse.Text(200, "ok\n") : HttpResponse.Text(503, "not sampling\n")),
                _ => new(HttpResponse.Text(404, "not found: /metrics has the metrics\n")),
            };

            var tls = web is { TlsEnabled: true } ? web.ServerOptions : (Func<SslServerAuthenticationOptions>?)null;
            return new HttpServer(listener, WebServer.Guarded(options, web, Route), tls, sp.GetRequiredService<ILoggerFactory>().CreateLogger("efa-agent.http"))
            {
                Ready = sampling.FirstTick,
            };
        });
        return builder.Build();
    }

    /// <summary>Registers the sampling loop, the snapshot store and the exposition bridge.</summary>
    public static IServiceCollection AddEfaAgent(this IServiceCollection services, AgentOptions options, IReadOnlyList<ICollector> collectors, string? scenario)
    {
        var store = new SnapshotStore(collectors.Count + 1);
        var registry = Metrics.NewCustomRegistry();
        services.AddSingleton(options);
        services.AddSingleton(collectors);
        services.AddSingleton(store);
        services.AddSingleton(registry);
        services.AddSingleton(new SelfMetrics(collectors.Select(c => c.Name).ToArray(), options.SampleInterval, options.SimulatedShape, scenario));
        services.AddSingleton(sp => new PrometheusBridge(store, registry));
        services.AddSingleton(sp => new ExpositionCache(store, registry));
        services.AddSingleton<SamplingService>();
        services.AddHostedService(sp => sp.GetRequiredService<SamplingService>());
        services.AddHostedService<WatchdogService>();
        return services;
    }

    /// <summary>
    /// Type=notify support: READY=1 once started, STOPPING=1 on shutdown. The hosting package's own
    /// detection (<c>UseSystemd</c>) asks whether the parent process is systemd by reading /proc, which
    /// fails under ProtectProc=invisible with a non-root User=; systemd's NOTIFY_SOCKET is the sure sign.
    /// </summary>
    private static void AddSystemd(IServiceCollection services)
    {
        services.AddSingleton<ISystemdNotifier, SystemdNotifier>();
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NOTIFY_SOCKET")) || SystemdHelpers.IsSystemdService())
        {
            services.AddSingleton<IHostLifetime, SystemdLifetime>();
        }
    }
}
