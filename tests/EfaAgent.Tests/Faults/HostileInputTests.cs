using System.Diagnostics;
using EfaAgent.Agent.Options;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Faults;

/// <summary>
/// Bad input outside sysfs: a /proc/net/dev that is not one, an interface name the kernel could not
/// have made, and settings that used to crash or pass silently.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private const string Header =
        "Inter-|   Receive                                                |  Transmit\n" +
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    private const string Fields = " 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n";

    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void Proc_net_dev_pointing_at_dev_zero_is_refused_at_once_not_read_forever()
    {
        Directory.CreateDirectory(_tmp.Combine("proc", "net"));
        File.CreateSymbolicLink(_tmp.Combine("proc", "net", "dev"), "/dev/zero");
        using var collector = TestCollectors.NetDev(_tmp.Combine("proc"));

        var error = Assert.Throws<IOException>(collector.Discover);
        Assert.Contains("not a regular file (a character device)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_proc_net_dev_larger_than_any_real_one_is_an_error_not_a_growing_buffer()
    {
        Directory.CreateDirectory(_tmp.Combine("proc", "net"));
        var path = _tmp.Combine("proc", "net", "dev");
        using (var f = File.Create(path))
        {
            f.SetLength(Collectors.NetDev.NetDevCollector.MaxFileBytes + 1);
        }

        using var collector = TestCollectors.NetDev(_tmp.Combine("proc"));
        collector.Discover();
        var error = Assert.Throws<IOException>(() => collector.Sample(Stopwatch.GetTimestamp()));
        Assert.Contains("larger than", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_interface_name_longer_than_the_kernel_allows_is_skipped_once_with_its_reason()
    {
        Directory.CreateDirectory(_tmp.Combine("proc", "net"));
        var path = _tmp.Combine("proc", "net", "dev");
        var name = new string('n', 16);
        File.WriteAllText(path, Header + "    lo:" + Fields + $"{name}:" + Fields);
        using var collector = TestCollectors.NetDev(_tmp.Combine("proc"));
        collector.Discover();
        var t = Stopwatch.GetTimestamp();
        collector.Sample(t);
        var layout = collector.Frame.Layout;

        for (var i = 1; i <= 3; i++)
        {
            collector.Sample(t + (i * Stopwatch.Frequency / 4));
            Assert.Same(layout, collector.Frame.Layout); // no relayout on every tick
        }

        var lines = FrameText.Lines(collector.Frame);
        Assert.Contains($"efa_agent_unavailable{{collector=\"netdev\",device=\"{name}\",port=\"\",counter=\"*\",reason=\"name_too_long\"}} 1", lines);
        Assert.Contains("netdev_receive_bytes_total{device=\"lo\"} 100", lines);
    }

    [Theory]
    [InlineData("--sample.interval=300000000h", "invalid --sample.interval \"300000000h\": expected a duration")]
    [InlineData("--burst.window=99999999999999h", "invalid --burst.window \"99999999999999h\": expected a duration")]
    [InlineData("--sample.interval=30s", "invalid --discovery.interval \"5s\": it must be at least --sample.interval \"30s\"")]
    [InlineData("--web.max-requests=-1", "invalid --web.max-requests \"-1\": expected a whole number")]
    public void Settings_that_used_to_crash_or_mislead_give_one_line_naming_them(string flag, string message)
    {
        var result = OptionsLoader.Load([flag], _ => null);

        Assert.Null(result.Options);
        Assert.StartsWith(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_file_that_is_dev_zero_is_refused_at_once()
    {
        var result = OptionsLoader.Load(["--config.file=/dev/zero"], _ => null);

        Assert.Null(result.Options);
        Assert.Contains("not a regular file (a character device)", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_file_larger_than_any_settings_file_is_refused()
    {
        var path = _tmp.Combine("big.json");
        File.WriteAllText(path, "{\"sample.interval\": \"250ms\"" + new string(' ', OptionsLoader.MaxConfigFileBytes) + "}");
        var result = OptionsLoader.Load(["--config.file=" + path], _ => null);

        Assert.Null(result.Options);
        Assert.Contains("larger than", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_setting_given_twice_in_the_config_file_is_refused()
    {
        var path = _tmp.Combine("config.json");
        File.WriteAllText(path, "{\"sample.interval\": \"250ms\", \"sample.interval\": \"1s\"}");
        var result = OptionsLoader.Load(["--config.file=" + path], _ => null);

        Assert.Null(result.Options);
        Assert.Contains("setting \"sample.interval\" is given twice", result.Error, StringComparison.Ordinal);
    }
}
