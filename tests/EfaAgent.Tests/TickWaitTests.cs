using System.Diagnostics;
using EfaAgent.Agent.Sampling;

namespace EfaAgent.Tests;

/// <summary>The sampler's wait between ticks: a real eventfd and ppoll, woken by the stop.</summary>
public sealed class TickWaitTests
{
    [Fact]
    public async Task A_stop_ends_a_long_wait_at_once()
    {
        using var stop = new CancellationTokenSource();
        using var wait = new TickWait(stop.Token);
        Assert.True(wait.UsesEventFd);

        var waiting = Task.Run(() => wait.Until(Stopwatch.GetTimestamp() + (600 * Stopwatch.Frequency)));
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        await stop.CancelAsync();

        // Ten minutes were asked for: anything short of that is the stop's doing.
        var finished = await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.Same(waiting, finished);
        Assert.True(await waiting);
    }

    [Fact]
    public void Without_a_stop_the_wait_lasts_until_the_time_asked_for()
    {
        using var stop = new CancellationTokenSource();
        using var wait = new TickWait(stop.Token);
        for (var i = 0; i < 5; i++)
        {
            var until = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 50);
            Assert.False(wait.Until(until));
            Assert.True(Stopwatch.GetTimestamp() >= until, "returned before its time");
        }
    }

    [Fact]
    public void A_stop_that_came_before_the_wait_returns_at_once_and_a_time_already_past_does_not_wait()
    {
        using var stop = new CancellationTokenSource();
        using var wait = new TickWait(stop.Token);
        Assert.False(wait.Until(Stopwatch.GetTimestamp() - Stopwatch.Frequency));

        stop.Cancel();
        Assert.True(wait.Until(Stopwatch.GetTimestamp() + (600 * Stopwatch.Frequency)));
    }
}
