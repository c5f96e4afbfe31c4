using System.Globalization;
using EfaAgent.Collectors.Nvml;

namespace EfaAgent.Collectors.Gpu;

/// <summary>Where a driver answers the clock-event (throttle) times: the ids moved between driver builds.</summary>
public enum ClockEventIds
{
    /// <summary>Not asked yet, or the last probe did not settle it (the GPU failed the call).</summary>
    Unknown,

    /// <summary>Fields 251/252/253 (the 12.9 header and early R575/R580 drivers).</summary>
    Fields251,

    /// <summary>Fields 269/270/271 (the later 13.0 and 13.1 headers; driver 580.159.04 on an H200, R590+).</summary>
    Fields269,

    /// <summary>The driver answers neither as a time: no such series.</summary>
    None,
}

/// <summary>
/// The NVIDIA driver branch (the major version of <c>nvmlSystemGetDriverVersion</c>), and which field ids
/// hold the clock-event times. nvml.md has them at 251-253 on R575-R589 and 269-271 from R590, the other
/// three being power-smoothing settings; but an H200 on driver 580.159.04 answers 251-253 NOT_SUPPORTED
/// and 269-271 as nanosecond counters, and the CUDA 13.0 header installed beside it defines them so
/// (docs/nvml-hardware.md). So the branch does not settle it: the driver is asked for
/// both sets, and the set it answers as unsigned 64-bit counters is the one.
/// </summary>
public static class DriverBranch
{
    /// <summary>The branch whose header moved them to 269-271: the choice where a driver answers both as counters.</summary>
    public const int ThrottleTimesMoved = 590;

    /// <summary>
    /// The ids to probe, from the series table: first the ids the clock-event times had before they moved
    /// (251-253), then the ids they moved to (269-271), in the same order.
    /// </summary>
    public static readonly uint[] ClockEventProbe =
    [
        .. GpuMetrics.PerGpu.Where(s => s.MovedFrom != 0).Select(s => s.MovedFrom),
        .. GpuMetrics.PerGpu.Where(s => s.MovedFrom != 0).Select(s => s.FieldId),
    ];

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

    /// <summary>
    /// Which set holds the times, from one <c>nvmlDeviceGetFieldValues</c> of <see cref="ClockEventProbe"/>
    /// (<paramref name="call"/> its return, <paramref name="probe"/> its entries): the set with an entry
    /// answered as an unsigned 64-bit value (a power-smoothing setting is an unsigned int); both: the
    /// branch decides; neither, with every entry a definite answer: <see cref="ClockEventIds.None"/>;
    /// a failed call or entry: <see cref="ClockEventIds.Unknown"/>, to ask again.
    /// </summary>
    public static ClockEventIds ChooseClockEventIds(int major, NvmlReturn call, ReadOnlySpan<NvmlFieldValue> probe)
    {
        if (call == NvmlReturn.FunctionNotFound)
        {
            return ClockEventIds.None;
        }

        if (call != NvmlReturn.Success || probe.Length != ClockEventProbe.Length)
        {
            return ClockEventIds.Unknown;
        }

        var half = probe.Length / 2;
        var old = false;
        var moved = false;
        var definite = true;
        for (var i = 0; i < probe.Length; i++)
        {
            var f = probe[i];
            if (f.Result == NvmlReturn.Success && f.ValueType == NvmlValueType.UnsignedLongLong)
            {
                old |= i < half;
                moved |= i >= half;
            }

            definite &= f.Result is NvmlReturn.Success or NvmlReturn.NotSupported or NvmlReturn.InvalidArgument;
        }

        return (old, moved) switch
        {
            (true, true) => major >= ThrottleTimesMoved ? ClockEventIds.Fields269 : ClockEventIds.Fields251,
            (true, false) => ClockEventIds.Fields251,
            (false, true) => ClockEventIds.Fields269,
            _ => definite ? ClockEventIds.None : ClockEventIds.Unknown,
        };
    }

    /// <summary>A log line's worth on what the choice means.</summary>
    public static string Describe(ClockEventIds ids) => ids switch
    {
        ClockEventIds.Fields251 => "clock-event times from fields 251/252/253 (the driver answers them as nanosecond counters)",
        ClockEventIds.Fields269 => "clock-event times from fields 269/270/271 (the driver answers them as nanosecond counters)",
        ClockEventIds.None => "the driver answers neither fields 251-253 nor 269-271 as clock-event times: gpu_throttle_seconds_total has only the perf-policy reasons",
        _ => "clock-event time fields not probed yet",
    };
}
