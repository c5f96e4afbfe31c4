using System.Globalization;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// The NVIDIA driver branch (the major version of <c>nvmlSystemGetDriverVersion</c>), which decides what
/// some field ids mean (nvml.md): the clock-event times are 251-253 on R575-R589 and 269-271 from R590,
/// where the other three ids are power-smoothing settings; neither exists before R575.
/// </summary>
public static class DriverBranch
{
    /// <summary>The first branch with the clock-event time fields.</summary>
    public const int FirstWithThrottleTimes = 575;

    /// <summary>The branch whose header moved them to 269-271.</summary>
    public const int ThrottleTimesMoved = 590;

    /// <summary>The major version in <paramref name="driverVersion"/> (<c>580.95.05</c> gives 580); 0 when it has none.</summary>
    public static int Major(string driverVersion)
    {
        ArgumentNullException.ThrowIfNull(driverVersion);
        var span = driverVersion.AsSpan();
        var start = span.IndexOfAnyInRange('0', '9');
        if (start < 0)
        {
            return 0;
        }

        span = span[start..];
        var end = span.IndexOfAnyExceptInRange('0', '9');
        return int.TryParse(end < 0 ? span : span[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : 0;
    }

    /// <summary>A log line's worth on what the branch means for the throttle fields.</summary>
    public static string Describe(int major) => major switch
    {
        >= ThrottleTimesMoved => "clock-event times from fields 269/270/271",
        >= FirstWithThrottleTimes => "clock-event times from fields 251/252/253",
        _ => "no clock-event time fields before R575: gpu_throttle_seconds_total has only the perf-policy reasons",
    };
}
