using System.Runtime.InteropServices;

namespace EfaAgent.Tests.Support;

/// <summary>
/// One private copy of the fake <c>libnvidia-ml.so.1</c> in its own directory, with its scenario file
/// next to it. A copy is a separate file, so the dynamic loader gives each test its own instance of the
/// fake (its own GPUs, init count and call counters) even when tests run in parallel.
/// </summary>
public sealed class FakeNvml : IDisposable
{
    /// <summary>The scenario file the fake reads when $FAKE_NVML_SCENARIO is not set.</summary>
    public const string ScenarioFileName = "fake_nvml.scenario";

    private readonly TempDir _dir = new();
    private readonly nint _handle;
    private int _writes;

    /// <summary>
    /// Copies the fake, writes <paramref name="scenario"/> next to it and loads it once itself, so that
    /// its call counters outlive the binding unloading it.
    /// </summary>
    public FakeNvml(FakeNvmlBuild build, string scenario = "", bool legacy = false)
    {
        LibraryPath = _dir.Combine("libnvidia-ml.so.1");
        File.Copy(legacy ? build.LegacyPath : build.ModernPath, LibraryPath);
        Scenario(scenario);
        _handle = NativeLibrary.Load(LibraryPath);
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate ulong CallsFunction([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    /// <summary>The library to hand to the binding.</summary>
    public string LibraryPath { get; }

    /// <summary>The directory holding the copy.</summary>
    public string Directory => _dir.Path;

    /// <summary>Replaces the scenario in one rename, so the fake never reads half a file.</summary>
    public void Scenario(string text)
    {
        var temp = _dir.Combine($"scenario.{++_writes}.tmp");
        File.WriteAllText(temp, text);
        File.Move(temp, _dir.Combine(ScenarioFileName), overwrite: true);
    }

    /// <summary>How many times the fake's entry point <paramref name="function"/> was called.</summary>
    public ulong Calls(string function)
    {
        var calls = Marshal.GetDelegateForFunctionPointer<CallsFunction>(NativeLibrary.GetExport(_handle, "fake_nvml_calls"));
        return calls(function);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        NativeLibrary.Free(_handle);
        _dir.Dispose();
    }
}
