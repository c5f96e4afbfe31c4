using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Interop;
using EfaAgent.Collectors.Nvml;

namespace EfaAgent.Agent.Doctor;

/// <summary>One GPU as the doctor sees it.</summary>
/// <param name="Index">The NVML index.</param>
/// <param name="Name">The product name.</param>
/// <param name="BusId">NVML's PCI bus id (<c>00000000:10:1C.0</c>); empty when unknown.</param>
/// <param name="Lost">Success, or the code that says the GPU is gone (<c>GPU_IS_LOST</c>, <c>RESET_REQUIRED</c>, ...).</param>
/// <param name="UncorrectedEcc">Uncorrected ECC errors since the driver loaded; null when not supported.</param>
/// <param name="RemapPending">Rows wait to be remapped at the next GPU reset (field 144); null when not supported.</param>
/// <param name="RemapFailed">A row remapping failed (field 145); null when not supported.</param>
/// <param name="RetiredPagesPending">Retired pages wait for a reset (field 31); null when not supported.</param>
/// <param name="Persistence">Persistence mode; null when NVML cannot tell.</param>
public sealed record GpuState(int Index, string Name, string BusId, NvmlReturn Lost, ulong? UncorrectedEcc, bool? RemapPending, bool? RemapFailed, bool? RetiredPagesPending, bool? Persistence);

/// <summary>What NVML said, or why it said nothing.</summary>
/// <param name="Error">Why there is no answer (library missing, init failed, hung); null when NVML answered.</param>
/// <param name="DriverMissing">The library or the kernel driver is absent (as opposed to present and failing).</param>
/// <param name="DriverVersion">The NVIDIA driver version.</param>
/// <param name="Gpus">The GPUs.</param>
public sealed record GpuReport(string? Error, bool DriverMissing, string DriverVersion, IReadOnlyList<GpuState> Gpus);

/// <summary>
/// Loads NVML through the agent's binding, reads what the GPU checks need and shuts it down. Runs on its
/// own thread bounded by a timeout, as nvmlInit has been seen to hang; a hung call is left behind.
/// </summary>
public static class NvmlProbe
{
    private const uint FieldRetiredPending = 31;
    private const uint FieldRemapPending = 144;
    private const uint FieldRemapFailure = 145;

    /// <summary>Reads the GPUs through the library at <paramref name="library"/>.</summary>
    public static async Task<GpuReport> ReadAsync(string library, TimeSpan timeout)
    {
        var work = Task.Factory.StartNew(() => Read(library), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            return await work.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return new GpuReport($"NVML did not answer within {Options.Durations.Format(timeout)} (a hung driver call)", false, "", []);
        }
    }

    private static GpuReport Read(string library)
    {
        if (!NvmlLibrary.TryLoad(library, out var nvml, out var loadError))
        {
            // The loader's message ends with dlerror's line ("libnvidia-ml.so.1: cannot open shared object file: ...").
            var reason = loadError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? loadError;
            return new GpuReport($"cannot load {reason}", true, "", []);
        }

        using (nvml)
        {
            var init = nvml.Init();
            if (init != NvmlReturn.Success)
            {
                return new GpuReport($"nvmlInit failed: {nvml.ErrorString(init)} ({(int)init})", init == NvmlReturn.DriverNotLoaded, "", []);
            }

            try
            {
                nvml.GetDriverVersion(out var driver);
                var rc = nvml.GetDeviceCount(out var count);
                if (rc != NvmlReturn.Success)
                {
                    return new GpuReport($"nvmlDeviceGetCount failed: {nvml.ErrorString(rc)} ({(int)rc})", false, driver, []);
                }

                var gpus = new List<GpuState>(count);
                for (var i = 0; i < count; i++)
                {
                    gpus.Add(ReadGpu(nvml, i));
                }

                return new GpuReport(null, false, driver, gpus);
            }
            finally
            {
                nvml.Shutdown();
            }
        }
    }

    private static GpuState ReadGpu(INvml nvml, int index)
    {
        var rc = nvml.GetDeviceByIndex(index, out var device);
        if (rc != NvmlReturn.Success || device is null)
        {
            return new GpuState(index, "", "", rc == NvmlReturn.Success ? NvmlReturn.Unknown : rc, null, null, null, null, null);
        }

        var lost = device.GetName(out var name);
        if (lost != NvmlReturn.Success)
        {
            return new GpuState(index, "", "", lost, null, null, null, null, null);
        }

        var bus = device.GetPciInfo(out var pci) == NvmlReturn.Success ? pci.BusId : "";
        ulong? ecc = device.GetTotalEccErrors(NvmlMemoryErrorType.Uncorrected, NvmlEccCounterType.Volatile, out var n) == NvmlReturn.Success ? n : null;
        Span<NvmlFieldValue> fields = [new(FieldRemapPending), new(FieldRemapFailure), new(FieldRetiredPending)];
        device.GetFieldValues(fields);
        bool? persistence = nvml.GetPersistenceMode(device, out var on) == NvmlReturn.Success ? on : null;
        return new GpuState(index, name, bus, NvmlReturn.Success, ecc, Flag(fields[0]), Flag(fields[1]), Flag(fields[2]), persistence);
    }

    private static bool? Flag(in NvmlFieldValue field) => field.Result == NvmlReturn.Success ? field.ToUInt64() != 0 : null;
}
