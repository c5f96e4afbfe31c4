using System.Globalization;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// The Xid codes the agent knows, with what each one asks an operator to do (after NVIDIA's Xid
/// catalogue, simplified to three actions). This is the one table: the <c>action</c> label of
/// <c>gpu_xid_errors_total</c>, the series started at 0 on every GPU, the README's table and the alert
/// rules (which select on the label, never on codes) all follow it; a test checks the README against it.
/// </summary>
public static class XidCatalog
{
    /// <summary>An application fault: restart the job; the GPU is fine.</summary>
    public const string RestartApplication = "restart_application";

    /// <summary>A hardware or firmware fault that a GPU reset clears.</summary>
    public const string ResetGpu = "reset_gpu";

    /// <summary>The GPU is gone or its firmware is wedged: only a node reboot (or stop/start) helps.</summary>
    public const string RebootNode = "reboot_node";

    /// <summary>A code not in the table.</summary>
    public const string Unknown = "unknown";

    /// <summary>The known codes, in rising order.</summary>
    public static readonly IReadOnlyList<XidClass> Known =
    [
        new(13, RestartApplication, "graphics engine exception"),
        new(31, RestartApplication, "GPU memory page fault"),
        new(43, RestartApplication, "GPU stopped processing"),
        new(45, RestartApplication, "preemptive cleanup after another fault"),
        new(48, ResetGpu, "double-bit ECC error"),
        new(62, ResetGpu, "internal micro-controller halt"),
        new(63, ResetGpu, "ECC page retirement or row remap recorded (applied at the next reset)"),
        new(64, ResetGpu, "ECC page retirement or row remap recording failure"),
        new(74, ResetGpu, "NVLink error"),
        new(79, RebootNode, "GPU has fallen off the bus"),
        new(94, RestartApplication, "contained ECC error"),
        new(95, ResetGpu, "uncontained ECC error"),
        new(119, RebootNode, "GSP RPC timeout"),
        new(120, RebootNode, "GSP error"),
        new(154, RebootNode, "GPU recovery action changed"),
    ];

    private static readonly Dictionary<ulong, XidClass> ByCode = Known.ToDictionary(x => x.Xid);
    private static readonly Dictionary<ulong, string> Labels = Known.ToDictionary(x => x.Xid, x => x.Xid.ToString(CultureInfo.InvariantCulture));

    /// <summary>What <paramref name="xid"/> asks for; <see cref="Unknown"/> for a code not in the table.</summary>
    public static string Action(ulong xid) => ByCode.TryGetValue(xid, out var c) ? c.Action : Unknown;

    /// <summary>The code as a label value (cached for known codes).</summary>
    public static string Label(ulong xid) => Labels.TryGetValue(xid, out var s) ? s : xid.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One Xid code and its class.</summary>
/// <param name="Xid">The code.</param>
/// <param name="Action">What it asks for: <see cref="XidCatalog.RestartApplication"/>, <see cref="XidCatalog.ResetGpu"/> or <see cref="XidCatalog.RebootNode"/>.</param>
/// <param name="Meaning">What happened, in a few words.</param>
public sealed record XidClass(ulong Xid, string Action, string Meaning);
