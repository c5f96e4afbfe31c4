using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Spectre.Console;

namespace EfaAgent.Agent.Top;

/// <summary>
/// The full-screen view: Spectre.Console's alternate screen, cursor and colour support (it honours
/// NO_COLOR and TERM), keys read on their own thread, a redraw on every refresh, key and resize
/// (SIGWINCH). The terminal is restored on q, Ctrl+C and SIGTERM.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public static class TopTerminal
{
    /// <summary>Whether this terminal can show the full-screen view (ANSI, alternate screen, keys on stdin).</summary>
    public static bool Supported() =>
        !Console.IsInputRedirected && AnsiConsole.Profile.Capabilities.Ansi && AnsiConsole.Profile.Capabilities.AlternateBuffer;

    /// <summary>Runs the view until q or <paramref name="stop"/>; returns the exit code.</summary>
    public static Task<int> RunAsync(TopSession session, TimeSpan interval, CancellationToken stop)
    {
        var console = AnsiConsole.Console;
        console.AlternateScreen(() =>
        {
            console.Cursor.Hide();
            try
            {
                Loop(session, interval, console.Profile.Capabilities.ColorSystem, stop);
            }
            finally
            {
                console.Cursor.Show();
            }
        });
        return Task.FromResult(0);
    }

    private static void Loop(TopSession session, TimeSpan interval, ColorSystem colors, CancellationToken stop)
    {
        using var wake = new AutoResetEvent(false);
        using var stopped = stop.Register(() => wake.Set());
        var keys = new ConcurrentQueue<ConsoleKeyInfo>();
        var resized = 0;
        using var winch = PosixSignalRegistration.Create(PosixSignal.SIGWINCH, c =>
        {
            c.Cancel = true;
            Interlocked.Exchange(ref resized, 1);
            wake.Set();
        });
        var reader = new Thread(() => ReadKeys(keys, wake)) { IsBackground = true, Name = "top-keys" };
        reader.Start();

        var state = new TopViewState();
        using var painter = new Painter(colors);
        Task? refresh = null;
        var next = DateTime.UtcNow;
        var dirty = true;
        while (!stop.IsCancellationRequested && !state.Quit)
        {
            if (refresh is null && DateTime.UtcNow >= next)
            {
                next = DateTime.UtcNow + interval;
                refresh = session.RefreshAsync(stop);
                refresh.ContinueWith(_ => wake.Set(), TaskScheduler.Default);
            }

            if (refresh is { IsCompleted: true })
            {
                if (refresh.IsFaulted)
                {
                    throw refresh.Exception!.GetBaseException();
                }

                refresh = null;
                dirty = true;
            }

            while (keys.TryDequeue(out var key))
            {
                state.Key(key, session.Job.Nodes.Count);
                dirty = true;
            }

            if (Interlocked.Exchange(ref resized, 0) == 1)
            {
                painter.Invalidate();
                dirty = true;
            }

            if (dirty && !state.Quit)
            {
                Console.Out.Write(painter.Frame(state, session.Job, interval, Console.WindowWidth, Console.WindowHeight));
                Console.Out.Flush();
                dirty = false;
            }

            var wait = next - DateTime.UtcNow;
            wake.WaitOne(refresh is not null || wait <= TimeSpan.Zero ? TimeSpan.FromMilliseconds(250) : wait);
        }
    }

    private static void ReadKeys(ConcurrentQueue<ConsoleKeyInfo> keys, AutoResetEvent wake)
    {
        try
        {
            while (true)
            {
                keys.Enqueue(Console.ReadKey(intercept: true));
                wake.Set();
            }
        }
        catch (InvalidOperationException)
        {
            // stdin closed or not a terminal: no keys
        }
    }

    /// <summary>Turns lines into one terminal frame: styles through Spectre.Console, every row rewritten in full.</summary>
    private sealed class Painter : IDisposable
    {
        private readonly StringWriter _buffer = new();
        private readonly IAnsiConsole _styled;
        private bool _clear = true;

        public Painter(ColorSystem colors)
        {
            _styled = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.Yes,
                ColorSystem = colors switch
                {
                    ColorSystem.NoColors => ColorSystemSupport.NoColors,
                    ColorSystem.Legacy => ColorSystemSupport.Legacy,
                    ColorSystem.Standard => ColorSystemSupport.Standard,
                    ColorSystem.EightBit => ColorSystemSupport.EightBit,
                    _ => ColorSystemSupport.TrueColor,
                },
                Interactive = InteractionSupport.No,
                Out = new AnsiConsoleOutput(_buffer),
            });
        }

        public void Invalidate() => _clear = true;

        public void Dispose() => _buffer.Dispose();

        public string Frame(TopViewState state, JobView job, TimeSpan interval, int width, int height)
        {
            width = Math.Max(20, width);
            height = Math.Max(3, height);
            var lines = state.Lines(job, width);
            var room = height - 1;
            state.ClampScroll(lines.Count, room);
            var visible = lines.Skip(state.Scroll).Take(room).ToList();
            if (lines.Count - state.Scroll > room)
            {
                visible[^1] = Line.Of($"… {lines.Count - state.Scroll - room + 1} more lines (↓/j scrolls)", Tone.Dim);
            }

            while (visible.Count < room)
            {
                visible.Add(Line.Empty);
            }

            visible.Add(state.Footer(job, interval));
            _buffer.GetStringBuilder().Clear();
            if (_clear)
            {
                _styled.Clear(home: true);
                _clear = false;
            }

            var frame = new StringBuilder();
            for (var row = 0; row < visible.Count; row++)
            {
                _styled.Cursor.SetPosition(0, row + 1);
                var line = visible[row].Fit(width);
                var used = 0;
                foreach (var span in line.Spans)
                {
                    _styled.Write(span.Text, StyleOf(span.Tone));
                    used += span.Text.Length;
                }

                _styled.Write(new string(' ', width - used));
            }

            frame.Append(_buffer.GetStringBuilder());
            return frame.ToString();
        }

        private static Style StyleOf(Tone tone) => tone switch
        {
            Tone.Dim => new Style(decoration: Decoration.Dim),
            Tone.Header => new Style(decoration: Decoration.Bold),
            Tone.Good => new Style(Color.Green),
            Tone.Info => new Style(Color.Blue),
            Tone.Warn => new Style(Color.Yellow, decoration: Decoration.Bold),
            Tone.Bad => new Style(Color.Red, decoration: Decoration.Bold),
            Tone.Selected => new Style(decoration: Decoration.Invert),
            _ => Style.Plain,
        };
    }
}
