using System.Diagnostics;

namespace EfaAgent.Tests.Support;

/// <summary>
/// Compiles tests/native/fake_nvml*.c into a modern and a legacy <c>libnvidia-ml.so.1</c> with the
/// machine's C compiler, once per test run (the class fixture instances share one build).
/// </summary>
public sealed class FakeNvmlBuild
{
    private static readonly Lazy<(string Modern, string Legacy)> Built = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Builds the fakes, or fails with the compiler's message (or the lack of a compiler).</summary>
    public FakeNvmlBuild() => (ModernPath, LegacyPath) = Built.Value;

    /// <summary>The fake with every versioned entry point.</summary>
    public string ModernPath { get; }

    /// <summary>The fake of an old driver: unversioned entry points only, no energy counter, no samples.</summary>
    public string LegacyPath { get; }

    private static (string, string) Build()
    {
        var sources = Sources(Repo.PathTo("tests", "native"));
        var dir = Directory.CreateTempSubdirectory("efa-agent-fake-nvml-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // best effort
            }
        };

        var compiler = FindCompiler();
        var modern = Path.Combine(dir, "modern", "libnvidia-ml.so.1");
        var legacy = Path.Combine(dir, "legacy", "libnvidia-ml.so.1");
        Compile(compiler, sources, modern);
        Compile(compiler, sources, legacy, "-DFAKE_NVML_LEGACY");
        return (modern, legacy);
    }

    private static string FindCompiler()
    {
        var fromEnv = Environment.GetEnvironmentVariable("CC");
        var names = string.IsNullOrWhiteSpace(fromEnv) ? new[] { "cc", "gcc", "clang" } : new[] { fromEnv };
        foreach (var name in names)
        {
            if (Path.IsPathRooted(name) && File.Exists(name))
            {
                return name;
            }

            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        throw new InvalidOperationException(
            "The NVML tests build a fake libnvidia-ml.so.1 from tests/native/fake_nvml*.c and need a C compiler, but none of "
            + string.Join(", ", names) + " is on PATH. Install one (e.g. apt-get install gcc) or point CC at it.");
    }

    /// <summary>The C files of the fake in <paramref name="directory"/> (<c>fake_nvml*.c</c>), in a fixed order.</summary>
    private static string[] Sources(string directory)
    {
        var sources = Directory.GetFiles(directory, "fake_nvml*.c");
        Array.Sort(sources, StringComparer.Ordinal);
        return sources;
    }

    private static void Compile(string compiler, string[] sources, string output, params string[] extra)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        var psi = new ProcessStartInfo(compiler)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-shared", "-fPIC", "-O2", "-Wall", "-o", output }.Concat(extra).Concat(sources).Append("-lpthread"))
        {
            psi.ArgumentList.Add(arg);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {compiler}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{compiler} {string.Join(' ', psi.ArgumentList)} failed with exit code {process.ExitCode}:\n{stdout}{stderr.Result}");
        }
    }
}
