using System.Diagnostics.CodeAnalysis;

namespace EfaAgent.Collectors.Nvml;

/// <summary>
/// <c>nvmlReturn_t</c> as of API version 13. Newer drivers add codes: a value outside this list is a
/// valid <see cref="NvmlReturn"/> too (see <see cref="NvmlReturns.Reason"/>), never a crash.
/// </summary>
public enum NvmlReturn
{
    /// <summary>NVML_SUCCESS.</summary>
    Success = 0,

    /// <summary>NVML was not initialised.</summary>
    Uninitialized = 1,

    /// <summary>An argument is invalid.</summary>
    InvalidArgument = 2,

    /// <summary>The device does not support this.</summary>
    NotSupported = 3,

    /// <summary>The caller lacks the permission.</summary>
    NoPermission = 4,

    /// <summary>Deprecated: NVML was already initialised.</summary>
    AlreadyInitialized = 5,

    /// <summary>Nothing found (for samples: none newer than the timestamp).</summary>
    NotFound = 6,

    /// <summary>The buffer is too small.</summary>
    InsufficientSize = 7,

    /// <summary>The device's external power cables are not connected.</summary>
    InsufficientPower = 8,

    /// <summary>The NVIDIA driver is not loaded.</summary>
    DriverNotLoaded = 9,

    /// <summary>A wait timed out.</summary>
    Timeout = 10,

    /// <summary>An interrupt request problem.</summary>
    IrqIssue = 11,

    /// <summary>The NVML library was not found.</summary>
    LibraryNotFound = 12,

    /// <summary>The loaded library lacks the entry point.</summary>
    FunctionNotFound = 13,

    /// <summary>The infoROM is corrupted.</summary>
    CorruptedInforom = 14,

    /// <summary>The GPU has fallen off the bus or is otherwise inaccessible.</summary>
    GpuIsLost = 15,

    /// <summary>The GPU needs a reset.</summary>
    ResetRequired = 16,

    /// <summary>The operating system blocked the request.</summary>
    OperatingSystem = 17,

    /// <summary>The driver and library versions do not match.</summary>
    LibRmVersionMismatch = 18,

    /// <summary>Another client holds the resource.</summary>
    InUse = 19,

    /// <summary>Out of memory.</summary>
    Memory = 20,

    /// <summary>No data.</summary>
    NoData = 21,

    /// <summary>The vGPU does not support ECC.</summary>
    VgpuEccNotSupported = 22,

    /// <summary>Not enough resources.</summary>
    InsufficientResources = 23,

    /// <summary>The frequency is not supported.</summary>
    FreqNotSupported = 24,

    /// <summary>A versioned struct carries a version the library does not know.</summary>
    ArgumentVersionMismatch = 25,

    /// <summary>The API is deprecated.</summary>
    Deprecated = 26,

    /// <summary>Not ready yet.</summary>
    NotReady = 27,

    /// <summary>The GPU was not found.</summary>
    GpuNotFound = 28,

    /// <summary>Invalid state.</summary>
    InvalidState = 29,

    /// <summary>The reset type is not supported.</summary>
    ResetTypeNotSupported = 30,

    /// <summary>Any other error.</summary>
    Unknown = 999,
}

/// <summary><c>nvmlValueType_t</c>: how to read an 8-byte value union.</summary>
public enum NvmlValueType
{
    /// <summary>double.</summary>
    [SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "NVML's name for this member of the value union")]
    Double = 0,

    /// <summary>unsigned int.</summary>
    UnsignedInt = 1,

    /// <summary>unsigned long (8 bytes on Linux x86-64).</summary>
    UnsignedLong = 2,

    /// <summary>unsigned long long.</summary>
    UnsignedLongLong = 3,

    /// <summary>signed long long.</summary>
    SignedLongLong = 4,

    /// <summary>signed int.</summary>
    SignedInt = 5,

    /// <summary>unsigned short.</summary>
    UnsignedShort = 6,
}

/// <summary><c>nvmlTemperatureSensors_t</c>.</summary>
public enum NvmlTemperatureSensor
{
    /// <summary>The GPU die.</summary>
    Gpu = 0,
}

/// <summary><c>nvmlClockType_t</c>.</summary>
public enum NvmlClockType
{
    /// <summary>Graphics clock.</summary>
    Graphics = 0,

    /// <summary>SM clock.</summary>
    Sm = 1,

    /// <summary>Memory clock.</summary>
    Memory = 2,

    /// <summary>Video clock.</summary>
    Video = 3,
}

/// <summary>Which PCIe link value <see cref="INvmlDevice.GetPcieLink"/> reads.</summary>
public enum NvmlPcieLink
{
    /// <summary>The generation the link runs at now.</summary>
    CurrentGeneration = 0,

    /// <summary>The highest generation the GPU and the system allow.</summary>
    MaxGeneration = 1,

    /// <summary>The lanes the link runs with now.</summary>
    CurrentWidth = 2,

    /// <summary>The most lanes the GPU and the system allow.</summary>
    MaxWidth = 3,
}

/// <summary><c>nvmlMemoryErrorType_t</c>.</summary>
public enum NvmlMemoryErrorType
{
    /// <summary>Corrected (single bit) errors.</summary>
    Corrected = 0,

    /// <summary>Uncorrected (double bit) errors.</summary>
    Uncorrected = 1,
}

/// <summary><c>nvmlEccCounterType_t</c>.</summary>
public enum NvmlEccCounterType
{
    /// <summary>Since the driver loaded.</summary>
    Volatile = 0,

    /// <summary>For the lifetime of the GPU.</summary>
    Aggregate = 1,
}

/// <summary>Event type bits (<c>nvmlEventType*</c>).</summary>
[Flags]
public enum NvmlEventType : ulong
{
    /// <summary>No event.</summary>
    None = 0,

    /// <summary>A single-bit ECC error.</summary>
    SingleBitEccError = 0x1,

    /// <summary>A double-bit ECC error.</summary>
    DoubleBitEccError = 0x2,

    /// <summary>A performance state change.</summary>
    PState = 0x4,

    /// <summary>A critical Xid error; the event data is the Xid.</summary>
    XidCriticalError = 0x8,

    /// <summary>A clock change.</summary>
    Clock = 0x10,

    /// <summary>The GPU became unavailable.</summary>
    GpuUnavailableError = 0x4000,

    /// <summary>The driver asks for a recovery action.</summary>
    GpuRecoveryAction = 0x8000,
}

/// <summary>Clock event (throttle) reason bits of <see cref="INvmlDevice.GetClocksEventReasons"/>.</summary>
[Flags]
public enum NvmlClocksEventReasons : ulong
{
    /// <summary>No reason.</summary>
    None = 0,

    /// <summary>Nothing is running.</summary>
    GpuIdle = 0x1,

    /// <summary>Application clocks are set.</summary>
    ApplicationsClocksSetting = 0x2,

    /// <summary>Software power cap.</summary>
    SwPowerCap = 0x4,

    /// <summary>Hardware slowdown (thermal or power brake).</summary>
    HwSlowdown = 0x8,

    /// <summary>Sync boost with other GPUs.</summary>
    SyncBoost = 0x10,

    /// <summary>Software thermal slowdown.</summary>
    SwThermalSlowdown = 0x20,

    /// <summary>Hardware thermal slowdown.</summary>
    HwThermalSlowdown = 0x40,

    /// <summary>External power brake.</summary>
    HwPowerBrakeSlowdown = 0x80,
}

/// <summary>PCI identity of a GPU (<c>nvmlPciInfo_t</c>).</summary>
/// <param name="BusId">The bus id as NVML writes it, <c>00000000:53:00.0</c>.</param>
/// <param name="Domain">PCI domain.</param>
/// <param name="Bus">PCI bus.</param>
/// <param name="Device">PCI device.</param>
/// <param name="PciDeviceId">Device and vendor id.</param>
/// <param name="PciSubSystemId">Subsystem id.</param>
public sealed record NvmlPciInfo(string BusId, uint Domain, uint Bus, uint Device, uint PciDeviceId, uint PciSubSystemId);

/// <summary><c>nvmlUtilization_t</c>, percent.</summary>
/// <param name="Gpu">Percent of time one or more kernels ran.</param>
/// <param name="Memory">Percent of time device memory was read or written.</param>
public readonly record struct NvmlUtilization(uint Gpu, uint Memory);

/// <summary>Framebuffer memory, bytes.</summary>
/// <param name="Total">Total.</param>
/// <param name="Free">Free.</param>
/// <param name="Used">Used.</param>
public readonly record struct NvmlMemory(ulong Total, ulong Free, ulong Used);

/// <summary>One running compute process.</summary>
/// <param name="Pid">Process id.</param>
/// <param name="UsedGpuMemory">Bytes of GPU memory it uses, or <see cref="NvmlValues.NotAvailable"/>.</param>
public readonly record struct NvmlProcessInfo(uint Pid, ulong UsedGpuMemory);

/// <summary>One event from <see cref="INvmlEventSet.Wait"/>.</summary>
/// <param name="Device">The GPU it came from (null when the library gave a handle it never handed out).</param>
/// <param name="EventType">The event type bit.</param>
/// <param name="EventData">For an Xid event, the Xid.</param>
public readonly record struct NvmlEvent(INvmlDevice? Device, NvmlEventType EventType, ulong EventData);

/// <summary>
/// One entry of a <see cref="INvmlDevice.GetFieldValues"/> batch: the field and scope asked for, and
/// what came back.
/// </summary>
public struct NvmlFieldValue
{
    /// <summary>The most entries one batch may hold.</summary>
    public const int MaxBatch = 64;

    /// <summary>The scope that asks for the sum over all links.</summary>
    public const uint AllLinks = 0xFFFFFFFF;

    /// <summary>An entry asking for <paramref name="fieldId"/> in <paramref name="scopeId"/>.</summary>
    public NvmlFieldValue(uint fieldId, uint scopeId = 0)
    {
        FieldId = fieldId;
        ScopeId = scopeId;
    }

    /// <summary>The field id (<c>NVML_FI_*</c>).</summary>
    public uint FieldId { get; set; }

    /// <summary>The scope: a link index, or <see cref="AllLinks"/>.</summary>
    public uint ScopeId { get; set; }

    /// <summary>This field's own result.</summary>
    public NvmlReturn Result { get; set; }

    /// <summary>How to read <see cref="RawValue"/>.</summary>
    public NvmlValueType ValueType { get; set; }

    /// <summary>The value union's bytes.</summary>
    public ulong RawValue { get; set; }

    /// <summary>The value as a double.</summary>
    public readonly double ToDouble() => NvmlValues.ToDouble(ValueType, RawValue);

    /// <summary>The value as an unsigned integer (a negative or fractional value is truncated).</summary>
    public readonly ulong ToUInt64() => NvmlValues.ToUInt64(ValueType, RawValue);
}

/// <summary>Reading NVML's 8-byte value union.</summary>
public static class NvmlValues
{
    /// <summary><c>NVML_VALUE_NOT_AVAILABLE</c> as an unsigned long long: a blank, never a value.</summary>
    public const ulong NotAvailable = ulong.MaxValue;

    /// <summary>The union read as <paramref name="type"/>, widened to a double.</summary>
    public static double ToDouble(NvmlValueType type, ulong raw) => type switch
    {
        NvmlValueType.Double => BitConverter.Int64BitsToDouble((long)raw),
        NvmlValueType.UnsignedInt => (uint)raw,
        NvmlValueType.SignedLongLong => (long)raw,
        NvmlValueType.SignedInt => (int)(uint)raw,
        NvmlValueType.UnsignedShort => (ushort)raw,
        _ => raw,
    };

    /// <summary>The union read as <paramref name="type"/>, as an unsigned integer.</summary>
    public static ulong ToUInt64(NvmlValueType type, ulong raw) => type switch
    {
        NvmlValueType.Double => BitConverter.Int64BitsToDouble((long)raw) is var d && d > 0 ? (ulong)d : 0,
        NvmlValueType.UnsignedInt => (uint)raw,
        NvmlValueType.SignedLongLong => (long)raw > 0 ? raw : 0,
        NvmlValueType.SignedInt => (int)(uint)raw > 0 ? (uint)raw : 0,
        NvmlValueType.UnsignedShort => (ushort)raw,
        _ => raw,
    };

    /// <summary>Whether values of <paramref name="type"/> are 32 bits wide (and so wrap at 2^32).</summary>
    public static bool Is32Bit(NvmlValueType type) => type is NvmlValueType.UnsignedInt or NvmlValueType.SignedInt;
}
