using EfaAgent.Collectors.Model;
using System.Globalization;
using EfaAgent.Agent.Options;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Agent.Doctor.Checks;

/// <summary>
/// Check 3: libfabric with its EFA provider (the library under <c>/opt/amazon/efa</c>, and
/// <c>fi_info -p efa -t FI_EP_RDM</c> when that program exists), the aws-ofi-nccl plugin, and whether
/// the EFA devices can do GPUDirect RDMA. The locked-memory limit is <see cref="MemlockCheck"/>.
/// </summary>
public sealed class EfaSoftwareCheck : IDoctorCheck
{
    private const string InstallerRemedy =
        "install the EFA software: curl -O https://efa-installer.amazonaws.com/aws-efa-installer-latest.tar.gz, unpack it, sudo ./efa_installer.sh -y (the Deep Learning AMIs have it)";

    /// <summary>Where the EFA installer puts libfabric.</summary>
    private static readonly string[] LibfabricDirs = ["opt/amazon/efa/lib", "opt/amazon/efa/lib64"];

    /// <summary>Where the EFA installer (1.29+), older images and distribution packages put aws-ofi-nccl.</summary>
    private static readonly string[] OfiNcclDirs = ["opt/amazon/ofi-nccl/lib", "opt/amazon/ofi-nccl/lib64", "opt/aws-ofi-nccl/lib", "usr/lib/x86_64-linux-gnu", "usr/local/lib"];

    /// <inheritdoc />
    public async Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, CancellationToken cancellationToken)
    {
        if (context.Node.EfaDevices.Count == 0)
        {
            return [CheckResult.Skip("efa.software", "no EFA device: libfabric, aws-ofi-nccl and GPUDirect RDMA not checked")];
        }

        var settings = context.Settings;
        var libfabric = FindFile(settings, LibfabricDirs, "libfabric.so");
        var gpus = await context.GpusAsync().ConfigureAwait(false);
        return
        [
            libfabric is null
                ? new CheckResult("efa.libfabric", CheckStatus.Fail, "no libfabric under /opt/amazon/efa: NCCL cannot use EFA", InstallerRemedy)
                : CheckResult.Ok("efa.libfabric", $"{libfabric}"),
            await FiInfoAsync(context, cancellationToken).ConfigureAwait(false),
            OfiNccl(settings, gpus),
            GpuDirect(context, gpus),
        ];
    }

    private static string? FindFile(DoctorSettings settings, string[] dirs, string prefix) =>
        dirs.Select(d => settings.UnderRoot(d))
            .SelectMany(d => FilesIn(d).Where(f => f.StartsWith(prefix, StringComparison.Ordinal)).Select(f => "/" + Path.GetRelativePath(settings.RootFs, Path.Combine(d, f))))
            .FirstOrDefault();

    // A library directory that cannot be listed has no library the job could load either.
    private static IEnumerable<string> FilesIn(string directory)
    {
        try
        {
            return SysfsText.ListNames(directory).Where(n => File.Exists(Path.Combine(directory, n)));
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static async Task<CheckResult> FiInfoAsync(DoctorContext context, CancellationToken cancellationToken)
    {
        const string name = "efa.fi_info";
        var settings = context.Settings;
        var fiInfo = ExternalProgram.Find(settings, "fi_info", "opt/amazon/efa/bin");
        if (fiInfo is null)
        {
            return CheckResult.Skip(name, "fi_info not found (/opt/amazon/efa/bin, PATH): the EFA provider was not tried");
        }

        var run = await ExternalProgram.RunAsync(fiInfo, ["-p", "efa", "-t", "FI_EP_RDM"], settings.Timeout, cancellationToken).ConfigureAwait(false);
        if (run.StartError is not null)
        {
            return new CheckResult(name, CheckStatus.Warn, $"fi_info could not start: {run.StartError}");
        }

        if (run.TimedOut)
        {
            return new CheckResult(name, CheckStatus.Warn, $"fi_info -p efa -t FI_EP_RDM did not finish within {Durations.Format(settings.Timeout)} and was stopped",
                "run it by hand; a hang usually means a device stuck in the driver (check dmesg for efa errors)");
        }

        var domains = run.Output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("domain:", StringComparison.Ordinal)).Select(l => l["domain:".Length..].Trim()).Order(NaturalOrder.Instance).ToArray();
        if (run.ExitCode != 0 || domains.Length == 0)
        {
            var said = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "no output";
            return new CheckResult(name, CheckStatus.Fail,
                string.Create(CultureInfo.InvariantCulture, $"fi_info -p efa -t FI_EP_RDM finds no EFA endpoint (exit {run.ExitCode}: {said}): libfabric cannot open the EFA devices"),
                "in a container, pass the devices (--device=/dev/infiniband/uverbs0 ... or --privileged); on the host, check that the efa module is loaded (lsmod | grep efa) and reinstall the EFA software");
        }

        var devices = context.Node.EfaDevices.Count;
        var detail = string.Create(CultureInfo.InvariantCulture, $"EFA provider answers with {domains.Length} RDM domain{(domains.Length == 1 ? "" : "s")} ({string.Join(" ", domains.Take(4))}{(domains.Length > 4 ? " .." : "")})");
        return domains.Length < devices
            ? new CheckResult(name, CheckStatus.Warn, string.Create(CultureInfo.InvariantCulture, $"{detail}, but sysfs shows {devices} EFA devices"), "in a container, pass every /dev/infiniband/uverbs* device")
            : CheckResult.Ok(name, detail);
    }

    private static CheckResult OfiNccl(DoctorSettings settings, GpuReport gpus)
    {
        const string name = "efa.ofi-nccl";
        if (gpus.Gpus.Count == 0)
        {
            return CheckResult.Skip(name, "no NVIDIA GPU: NCCL's EFA plugin not needed");
        }

        var plugin = FindFile(settings, OfiNcclDirs, "libnccl-net");
        return plugin is null
            ? new CheckResult(name, CheckStatus.Fail, "no aws-ofi-nccl plugin (libnccl-net*.so): NCCL silently falls back to TCP sockets between nodes",
                InstallerRemedy + "; in a container, use an image with aws-ofi-nccl or mount /opt/amazon/ofi-nccl and add its lib to LD_LIBRARY_PATH")
            : CheckResult.Ok(name, $"aws-ofi-nccl plugin {plugin}");
    }

    private static CheckResult GpuDirect(DoctorContext context, GpuReport gpus)
    {
        const string name = "efa.gpudirect";
        if (gpus.Gpus.Count == 0)
        {
            return CheckResult.Skip(name, "no NVIDIA GPU: GPUDirect RDMA does not apply");
        }

        // The EFA driver does not publish its capabilities in sysfs; the PCI device id tells the generation:
        // 0xefa0 (first generation) has no RDMA read, 0xefa1 (p4d) has it, 0xefa2/0xefa3 (p5, p5en) add RDMA write.
        var ids = context.Node.EfaDevices
            .Select(d => SysfsText.TryRead(Path.Combine(context.Sysfs, "class", "infiniband", d.Name, "device", "device")) ?? "?")
            .Distinct(StringComparer.Ordinal).ToArray();
        var idText = string.Join(", ", ids);
        if (ids.Any(id => id is "0xefa0" or "?"))
        {
            return new CheckResult(name, CheckStatus.Warn, $"EFA device id {idText}: a first-generation EFA (or an unknown one) has no RDMA read, so NCCL copies GPU data through host memory",
                "use p4d/p5/p5en (EFA with RDMA read) for GPUDirect RDMA");
        }

        return CheckResult.Ok(name, $"EFA device id {idText} reads remote memory (RDMA read): GPUDirect RDMA possible (FI_EFA_USE_DEVICE_RDMA=1 on older aws-ofi-nccl)");
    }
}
