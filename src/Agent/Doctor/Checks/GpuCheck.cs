using System.Globalization;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Nvml;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Agent.Doctor.Checks;

/// <summary>
/// Check 2: NVML loads and the driver answers, the GPU count against the instance type, lost GPUs,
/// uncorrected ECC errors and pending or failed row remapping, persistence mode, and PCIe links that
/// run narrower than their maximum (read from sysfs under <c>--path.sysfs</c>).
/// </summary>
public sealed class GpuCheck : IDoctorCheck
{
    private const string ReplaceRemedy = "stop and start the instance (it moves to other hardware); if it comes back, report the instance to AWS";

    /// <inheritdoc />
    public async Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, CancellationToken cancellationToken)
    {
        var type = context.Node.InstanceType;
        var expectsNvidia = type is { Gpus: > 0 };
        var report = await context.GpusAsync().ConfigureAwait(false);
        if (report.Error is { } error)
        {
            if (report.DriverMissing && !expectsNvidia)
            {
                var why = type is null ? "the instance type does not say this node has NVIDIA GPUs" : $"a {type.Name} has none ({type.Accelerator})";
                return [CheckResult.Skip("gpu", $"no NVIDIA driver ({error}); {why}")];
            }

            return [new CheckResult("gpu", CheckStatus.Fail, $"NVML does not answer: {error}",
                report.DriverMissing
                    ? "install the NVIDIA driver (the Deep Learning AMI has it), or point --nvml.library at libnvidia-ml.so.1"
                    : "run nvidia-smi; a driver/library mismatch (after an upgrade) needs a reboot, a hung driver a stop and start of the instance")];
        }

        var gpus = report.Gpus;
        var names = string.Join(", ", gpus.Where(g => g.Name.Length > 0).GroupBy(g => g.Name, StringComparer.Ordinal).Select(g => g.Key));
        return
        [
            CheckResult.Ok("gpu.driver", $"NVIDIA driver {report.DriverVersion}, NVML answers"),
            Count(context.Node, gpus, names),
            Health(gpus),
            Persistence(gpus),
            Pcie(context.Sysfs, gpus),
        ];
    }

    private static CheckResult Count(NodeFacts node, IReadOnlyList<GpuState> gpus, string names)
    {
        const string name = "gpu.count";
        var expected = node.InstanceType?.Gpus;
        if (expected is { } want && gpus.Count < want)
        {
            return new CheckResult(name, CheckStatus.Fail,
                string.Create(CultureInfo.InvariantCulture, $"{gpus.Count} of {want} GPUs of a {node.InstanceTypeName} ({names}): a GPU is missing from the driver"),
                "look for Xid 79 (fallen off the bus) in `sudo dmesg | grep -i xid`; " + ReplaceRemedy);
        }

        var count = expected is { } w ? string.Create(CultureInfo.InvariantCulture, $"{gpus.Count} of {w} GPUs") : string.Create(CultureInfo.InvariantCulture, $"{gpus.Count} GPU{(gpus.Count == 1 ? "" : "s")}");
        return CheckResult.Ok(name, $"{count}: {names}");
    }

    private static CheckResult Health(IReadOnlyList<GpuState> gpus)
    {
        const string name = "gpu.health";
        var lost = gpus.Where(g => g.Lost != NvmlReturn.Success).ToArray();
        if (lost.Length > 0)
        {
            var which = string.Join(", ", lost.Select(g => string.Create(CultureInfo.InvariantCulture, $"GPU {g.Index} ({LostText(g.Lost)})")));
            return new CheckResult(name, CheckStatus.Fail, $"{which}: the driver cannot reach it, a job using it hangs or dies",
                "a GPU that fell off the bus (Xid 79) does not come back by itself: " + ReplaceRemedy);
        }

        var problems = new List<string>();
        AddIndexes(problems, gpus.Where(g => g.RemapFailed == true), "row remapping failed");
        AddIndexes(problems, gpus.Where(g => g.UncorrectedEcc > 0), "uncorrected ECC errors since the driver loaded");
        AddIndexes(problems, gpus.Where(g => g.RemapPending == true || g.RetiredPagesPending == true), "a memory row remap waits for a GPU reset");
        if (problems.Count > 0)
        {
            var failed = gpus.Any(g => g.RemapFailed == true);
            return new CheckResult(name, CheckStatus.Fail, string.Join("; ", problems),
                failed ? "the GPU's memory cannot be repaired: " + ReplaceRemedy
                       : "with no job running, reset the GPUs (sudo nvidia-smi -r) or reboot, so the remap takes effect");
        }

        var unknown = gpus.Count(g => g.UncorrectedEcc is null && g.RemapPending is null);
        return CheckResult.Ok(name, unknown == gpus.Count
            ? "no GPU lost (ECC and row remapping not reported by these GPUs)"
            : "no GPU lost, no uncorrected ECC error, no row remapping pending or failed");
    }

    private static void AddIndexes(List<string> problems, IEnumerable<GpuState> gpus, string what)
    {
        var indexes = gpus.Select(g => g.Index.ToString(CultureInfo.InvariantCulture)).ToArray();
        if (indexes.Length > 0)
        {
            problems.Add($"GPU {string.Join(",", indexes)}: {what}");
        }
    }

    private static string LostText(NvmlReturn code) => code switch
    {
        NvmlReturn.GpuIsLost => "GPU_IS_LOST",
        NvmlReturn.ResetRequired => "RESET_REQUIRED",
        _ => string.Create(CultureInfo.InvariantCulture, $"NVML error {(int)code}"),
    };

    private static CheckResult Persistence(IReadOnlyList<GpuState> gpus)
    {
        const string name = "gpu.persistence";
        var known = gpus.Where(g => g.Persistence is not null).ToArray();
        if (known.Length == 0)
        {
            return CheckResult.Skip(name, "NVML does not report persistence mode here");
        }

        var off = known.Where(g => g.Persistence == false).Select(g => g.Index.ToString(CultureInfo.InvariantCulture)).ToArray();
        return off.Length == 0
            ? CheckResult.Ok(name, "persistence mode on for every GPU")
            : new CheckResult(name, CheckStatus.Warn,
                $"persistence mode off on {(off.Length == gpus.Count ? "every GPU" : "GPU " + string.Join(",", off))}: the driver tears the GPU down between processes, so every job start and every nvidia-smi pays its initialisation",
                "sudo systemctl enable --now nvidia-persistenced (or sudo nvidia-smi -pm 1)");
    }

    private static CheckResult Pcie(string sysfs, IReadOnlyList<GpuState> gpus)
    {
        const string name = "gpu.pcie";
        var narrow = new List<string>();
        var slow = new List<(int Index, string Speeds)>();
        var read = 0;
        foreach (var g in gpus)
        {
            if (GpuPci.SysfsAddress(g.BusId) is not { } address)
            {
                continue;
            }

            var dir = Path.Combine(sysfs, "bus", "pci", "devices", address);
            var width = Number(SysfsText.TryRead(Path.Combine(dir, "current_link_width")));
            var maxWidth = Number(SysfsText.TryRead(Path.Combine(dir, "max_link_width")));
            var speed = SysfsText.TryRead(Path.Combine(dir, "current_link_speed"));
            var maxSpeed = SysfsText.TryRead(Path.Combine(dir, "max_link_speed"));
            if (width is null || maxWidth is null)
            {
                continue;
            }

            read++;
            if (width < maxWidth)
            {
                narrow.Add(string.Create(CultureInfo.InvariantCulture, $"GPU {g.Index} ({address}) x{width} of x{maxWidth}"));
            }

            if (Number(speed) < Number(maxSpeed))
            {
                slow.Add((g.Index, $"{SpeedText(speed)} of {SpeedText(maxSpeed)}"));
            }
        }

        if (read == 0)
        {
            return CheckResult.Skip(name, "no PCIe link attributes (bus/pci/devices/<gpu>/current_link_width) under --path.sysfs");
        }

        var idle = slow.Count == 0 ? "" : "; link speed below maximum on " +
            string.Join(", ", slow.GroupBy(s => s.Speeds, StringComparer.Ordinal).Select(g => $"GPU {string.Join(",", g.Select(s => s.Index.ToString(CultureInfo.InvariantCulture)))} ({g.Key})")) +
            ": normal for an idle GPU, which lowers it to save power (a narrower width is the real fault)";
        if (narrow.Count > 0)
        {
            return new CheckResult(name, CheckStatus.Warn, $"PCIe link narrower than it can be: {string.Join(", ", narrow)}{idle}",
                "a lost PCIe lane does not come back by itself and slows host-GPU copies and GPUDirect: " + ReplaceRemedy);
        }

        return CheckResult.Ok(name, string.Create(CultureInfo.InvariantCulture, $"{read} GPU link{(read == 1 ? "" : "s")} at full width{idle}"));
    }

    /// <summary>The leading number of <c>16</c> or <c>16.0 GT/s PCIe</c>; null when there is none.</summary>
    private static double? Number(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        var end = text.IndexOf(' ', StringComparison.Ordinal);
        return double.TryParse(end < 0 ? text : text[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
    }

    private static string SpeedText(string? speed) => speed?.Replace(" PCIe", "", StringComparison.Ordinal) ?? "?";
}
