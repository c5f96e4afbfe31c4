using System.Diagnostics;
using EfaAgent.Collectors.Derive;

namespace EfaAgent.Tests;

/// <summary>
/// The peak gauges: the highest per-tick rate over the trailing window, checked against the
/// definition (a scan of every sample in the window) on the shapes traffic takes.
/// </summary>
public class PeakWindowTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);
    private static readonly long Tick = (long)(Interval.TotalSeconds * Stopwatch.Frequency);

    public static TheoryData<string> Shapes => new() { "random", "rising", "falling", "bursts", "idle" };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Peak_is_the_highest_rate_of_the_samples_still_in_the_window(string shape)
    {
        var window = new PeakWindow(Window, Interval);
        var random = new Random(42);
        var samples = new List<(long Time, double Rate)>();
        var t = 1_000_000L;
        window.Add(t, 0);
        for (var i = 0; i < 500; i++)
        {
            t += Tick;
            ulong delta = shape switch
            {
                "random" => (ulong)random.Next(0, 1_000_000),
                "rising" => (ulong)i * 1000,
                "falling" => (ulong)(500 - i) * 1000,
                "bursts" => i % 37 < 3 ? 5_000_000UL : (ulong)random.Next(0, 1000),
                _ => 0,
            };
            var added = window.Add(t, delta);
            samples.Add((t, delta * (double)Stopwatch.Frequency / Tick));

            var oldest = t - (long)(Window.TotalSeconds * Stopwatch.Frequency);
            var expected = samples.Where(s => s.Time >= oldest).Select(s => s.Rate).DefaultIfEmpty(0).Max();
            Assert.Equal(expected, added);
            Assert.Equal(expected, window.Peak(t));
        }
    }

    [Fact]
    public void A_burst_shows_for_the_whole_window_and_then_goes()
    {
        var window = new PeakWindow(Window, Interval);
        var t = 0L;
        window.Add(t, 0);
        window.Add(t += Tick, 1000);
        var burst = window.Peak(t);
        for (var i = 0; i < 19; i++)
        {
            window.Add(t += Tick, 10);
            Assert.Equal(burst, window.Peak(t));
        }

        window.Add(t += Tick, 10);
        window.Add(t += Tick, 10);
        Assert.Equal(10 * (double)Stopwatch.Frequency / Tick, window.Peak(t));
        Assert.Equal(0, window.Peak(t + (2 * (long)(Window.TotalSeconds * Stopwatch.Frequency))));
    }

    [Fact]
    public void An_empty_window_reads_0() => Assert.Equal(0, new PeakWindow(Window, Interval).Peak(123));
}
