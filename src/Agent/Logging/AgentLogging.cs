using EfaAgent.Agent.Options;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Compact;
using Serilog.Formatting.Display;

namespace EfaAgent.Agent.Logging;

/// <summary>Builds the agent's Serilog logger: console, text or JSON, with journald priorities under systemd.</summary>
public static class AgentLogging
{
    /// <summary>True when stdout/stderr go to the journal (systemd sets <c>JOURNAL_STREAM</c> for the service).</summary>
    public static bool UnderJournald(Func<string, string?> environment) =>
        !string.IsNullOrEmpty(environment("JOURNAL_STREAM"));

    /// <summary>Creates the logger; it writes to stdout, or to <paramref name="output"/> when given (the demo's full-screen view owns the terminal).</summary>
    public static Logger Create(LogFormat format, LogEventLevel level, bool journald, TextWriter? output = null)
    {
        ITextFormatter formatter = format == LogFormat.Json
            ? new RenderedCompactJsonFormatter()
            : new MessageTemplateTextFormatter(journald
                ? "{SourceContextShort}{Message:lj}{NewLine}{Exception}"
                : "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {SourceContextShort}{Message:lj}{NewLine}{Exception}");
        if (journald)
        {
            formatter = new JournaldPriorityFormatter(formatter);
        }

        var config = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .Enrich.With<ShortSourceContextEnricher>();
        return output is null
            ? config.WriteTo.Console(formatter, standardErrorFromLevel: null).CreateLogger()
            : config.WriteTo.Sink(new TextWriterSink(formatter, output)).CreateLogger();
    }

    /// <summary>The syslog priority journald reads from a <c>&lt;N&gt;</c> line prefix.</summary>
    public static int Priority(LogEventLevel level) => level switch
    {
        LogEventLevel.Fatal => 2,
        LogEventLevel.Error => 3,
        LogEventLevel.Warning => 4,
        LogEventLevel.Information => 6,
        _ => 7,
    };

    /// <summary>Writes each event through the formatter to a writer (which must be safe for concurrent use).</summary>
    private sealed class TextWriterSink(ITextFormatter formatter, TextWriter output) : ILogEventSink
    {
        public void Emit(LogEvent logEvent) => formatter.Format(logEvent, output);
    }

    /// <summary>Prefixes every line with <c>&lt;priority&gt;</c> so that journald files it at the right level.</summary>
    private sealed class JournaldPriorityFormatter(ITextFormatter inner) : ITextFormatter
    {
        public void Format(LogEvent logEvent, TextWriter output)
        {
            using var buffer = new StringWriter();
            inner.Format(logEvent, buffer);
            var prefix = $"<{Priority(logEvent.Level)}>";
            var text = buffer.ToString().TrimEnd('\n');
            foreach (var line in text.Split('\n'))
            {
                output.Write(prefix);
                output.Write(line);
                output.Write('\n');
            }
        }
    }

    /// <summary>Adds <c>SourceContextShort</c>: the class name of the logger and a colon, or nothing.</summary>
    private sealed class ShortSourceContextEnricher : ILogEventEnricher
    {
        public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
        {
            var text = "";
            if (logEvent.Properties.TryGetValue("SourceContext", out var value) && value is ScalarValue { Value: string s })
            {
                var dot = s.LastIndexOf('.');
                text = (dot < 0 ? s : s[(dot + 1)..]) + ": ";
            }

            logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("SourceContextShort", text));
        }
    }
}
