using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Native = EfaAgent.Collectors.Interop.Interop.Nvml;

namespace EfaAgent.Tests.Gpu;

/// <summary>The blittable structs match the x86-64 layouts of nvml.h (API version 13), field by field.</summary>
public class NvmlStructLayoutTests
{
    public static TheoryData<Type, int> Sizes => new()
    {
        { typeof(Native.PciInfo), 68 },
        { typeof(Native.Utilization), 8 },
        { typeof(Native.MemoryV2), 40 },
        { typeof(Native.MemoryV1), 24 },
        { typeof(Native.ProcessInfo), 24 },
        { typeof(Native.FieldValue), 40 },
        { typeof(Native.EventData), 32 },
    };

    public static TheoryData<Type, string, int> Offsets => new()
    {
        { typeof(Native.PciInfo), nameof(Native.PciInfo.BusIdLegacy), 0 },
        { typeof(Native.PciInfo), nameof(Native.PciInfo.Domain), 16 },
        { typeof(Native.PciInfo), nameof(Native.PciInfo.Bus), 20 },
        { typeof(Native.PciInfo), nameof(Native.PciInfo.Device), 24 },
        { typeof(Native.PciInfo), nameof(Native.PciInfo.PciDeviceId), 28 },
        { typeof(Native.PciInfo), nameof(Native.PciInfo.PciSubSystemId), 32 },
        { typeof(Native.PciInfo), nameof(Native.PciInfo.BusId), 36 },
        { typeof(Native.Utilization), nameof(Native.Utilization.Gpu), 0 },
        { typeof(Native.Utilization), nameof(Native.Utilization.Memory), 4 },
        { typeof(Native.MemoryV2), nameof(Native.MemoryV2.Version), 0 },
        { typeof(Native.MemoryV2), nameof(Native.MemoryV2.Total), 8 },
        { typeof(Native.MemoryV2), nameof(Native.MemoryV2.Reserved), 16 },
        { typeof(Native.MemoryV2), nameof(Native.MemoryV2.Free), 24 },
        { typeof(Native.MemoryV2), nameof(Native.MemoryV2.Used), 32 },
        { typeof(Native.ProcessInfo), nameof(Native.ProcessInfo.Pid), 0 },
        { typeof(Native.ProcessInfo), nameof(Native.ProcessInfo.UsedGpuMemory), 8 },
        { typeof(Native.ProcessInfo), nameof(Native.ProcessInfo.GpuInstanceId), 16 },
        { typeof(Native.ProcessInfo), nameof(Native.ProcessInfo.ComputeInstanceId), 20 },
        { typeof(Native.FieldValue), nameof(Native.FieldValue.FieldId), 0 },
        { typeof(Native.FieldValue), nameof(Native.FieldValue.ScopeId), 4 },
        { typeof(Native.FieldValue), nameof(Native.FieldValue.Timestamp), 8 },
        { typeof(Native.FieldValue), nameof(Native.FieldValue.LatencyUsec), 16 },
        { typeof(Native.FieldValue), nameof(Native.FieldValue.ValueType), 24 },
        { typeof(Native.FieldValue), nameof(Native.FieldValue.NvmlReturn), 28 },
        { typeof(Native.FieldValue), nameof(Native.FieldValue.Value), 32 },
        { typeof(Native.EventData), nameof(Native.EventData.Device), 0 },
        { typeof(Native.EventData), nameof(Native.EventData.EventType), 8 },
        { typeof(Native.EventData), nameof(Native.EventData.Data), 16 },
        { typeof(Native.EventData), nameof(Native.EventData.GpuInstanceId), 24 },
        { typeof(Native.EventData), nameof(Native.EventData.ComputeInstanceId), 28 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Struct_has_the_documented_size(Type type, int size)
    {
        Assert.Equal(size, Marshal.SizeOf(type));
        var unsafeSize = (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;
        Assert.Equal(size, unsafeSize);
    }

    [Theory]
    [MemberData(nameof(Offsets))]
    public void Field_sits_at_the_documented_offset(Type type, string field, int offset)
    {
        Assert.Equal(offset, (int)Marshal.OffsetOf(type, field));
    }

    [Fact]
    public void Memory_v2_version_is_the_size_with_version_2_in_the_top_byte()
    {
        Assert.Equal(0x02000028u, Native.MemoryV2Version);
    }

    [Fact]
    public unsafe void Unmanaged_offsets_agree_with_the_marshaller()
    {
        // Marshal.OffsetOf describes the marshalled layout; these are the addresses the native call sees.
        var pci = default(Native.PciInfo);
        Assert.Equal(36, (int)((byte*)pci.BusId - (byte*)&pci));
        var field = default(Native.FieldValue);
        Assert.Equal(32, (int)((byte*)&field.Value - (byte*)&field));
        var evt = default(Native.EventData);
        Assert.Equal(16, (int)((byte*)&evt.Data - (byte*)&evt));
    }
}
