using System.Text.Json;
using EfaAgent.Agent.Doctor;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Doctor;

/// <summary>Runs <c>efa-agent doctor</c> in this process (the same entry point as the executable) and reads its output.</summary>
internal static class DoctorRun
{
    /// <summary>What one run produced.</summary>
    public sealed record Outcome(int ExitCode, string Output, string Error)
    {
        /// <summary>The <c>--json</c> output's checks by name.</summary>
        public IReadOnlyDictionary<string, (string Status, string Detail, string? Remedy)> Checks()
        {
            using var doc = JsonDocument.Parse(Output);
            return doc.RootElement.GetProperty("checks").EnumerateArray().ToDictionary(
                c => c.GetProperty("name").GetString()!,
                c => (c.GetProperty("status").GetString()!, c.GetProperty("detail").GetString()!, c.GetProperty("remedy").GetString()));
        }
    }

    /// <summary>Runs the doctor with <paramref name="args"/> and no EFA_AGENT_* variables, output not a terminal.</summary>
    public static async Task<Outcome> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await DoctorCommand.RunAsync(args, stdout, stderr, _ => null, stdoutIsTerminal: false);
        return new Outcome(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The roots of fixture <paramref name="name"/> (sysfs, procfs and the rest of its root) and an NVML library.</summary>
    public static string[] Fixture(string name, string nvmlLibrary) =>
    [
        $"--path.sysfs={Repo.Fixture(name, "sys")}",
        $"--path.procfs={Repo.Fixture(name, "proc")}",
        $"--path.rootfs={Repo.Fixture(name)}",
        $"--nvml.library={nvmlLibrary}",
    ];

    /// <summary>A copy of the fake NVML playing the GPUs of fixture <paramref name="name"/> (its nvml.scenario).</summary>
    public static FakeNvml Gpus(FakeNvmlBuild build, string name, string extra = "") =>
        new(build, File.ReadAllText(Repo.Fixture(name, "nvml.scenario")) + extra);
}
