using System.Buffers.Binary;
using System.Text;

namespace EfaAgent.Collectors.Ethtool;

/// <summary>What a driver says about itself (<c>struct ethtool_drvinfo</c>).</summary>
/// <param name="Driver">Driver name (<c>driver</c>): <c>ena</c>, <c>veth</c>, <c>mlx5_core</c>, ...</param>
/// <param name="Version">Driver version (<c>version</c>).</param>
/// <param name="FirmwareVersion">Firmware version (<c>fw_version</c>), often empty.</param>
/// <param name="BusInfo">Bus address (<c>bus_info</c>): the PCI address for a PCI device, empty for a virtual one.</param>
/// <param name="StatCount">Number of statistics the driver announces (<c>n_stats</c>).</param>
public sealed record EthtoolDriverInfo(string Driver, string Version, string FirmwareVersion, string BusInfo, uint StatCount);

/// <summary>Why an ethtool answer could not be used.</summary>
public enum EthtoolAnswer
{
    /// <summary>The answer is whole and matches what was asked.</summary>
    Ok,

    /// <summary>The buffer is shorter than the structure (a truncated answer).</summary>
    Truncated,

    /// <summary>The answer carries a different command or string set than asked.</summary>
    WrongCommand,

    /// <summary>The driver returned a different number of entries than it announced.</summary>
    CountMismatch,
}

/// <summary>
/// The <c>SIOCETHTOOL</c> request structures of <c>include/uapi/linux/ethtool.h</c>, written and read
/// over byte spans, little-endian (the kernel's byte order on x86-64 and arm64). Layouts, each field's offset:
/// <code>
/// struct ethtool_drvinfo   (196 bytes)   cmd 0, driver[32] 4, version[32] 36, fw_version[32] 68,
///                                        bus_info[32] 100, erom_version[32] 132, reserved2[12] 164,
///                                        n_priv_flags 176, n_stats 180, testinfo_len 184,
///                                        eedump_len 188, regdump_len 192
/// struct ethtool_sset_info (16 + 4n)     cmd 0, reserved 4, u64 sset_mask 8, u32 data[] 16
/// struct ethtool_gstrings  (12 + 32n)    cmd 0, string_set 4, len 8, u8 data[len * ETH_GSTRING_LEN] 12
/// struct ethtool_stats     (8 + 8n)      cmd 0, n_stats 4, u64 data[n_stats] 8
/// </code>
/// The kernel fills <c>len</c> and <c>n_stats</c> with the driver's count at the time of the call, not
/// with the caller's; a count that differs from the one announced is therefore an inconsistent answer.
/// </summary>
public static class EthtoolAbi
{
    /// <summary>The ioctl request number (<c>linux/sockios.h</c>).</summary>
    public const int SiocEthtool = 0x8946;

    /// <summary><c>ETHTOOL_GDRVINFO</c>.</summary>
    public const uint GetDriverInfo = 0x03;

    /// <summary><c>ETHTOOL_GSTRINGS</c>.</summary>
    public const uint GetStrings = 0x1b;

    /// <summary><c>ETHTOOL_GSTATS</c>.</summary>
    public const uint GetStats = 0x1d;

    /// <summary><c>ETHTOOL_GSSET_INFO</c>.</summary>
    public const uint GetStringSetInfo = 0x37;

    /// <summary><c>ETH_SS_STATS</c>: the string set of the statistics.</summary>
    public const uint StatsStringSet = 1;

    /// <summary><c>ETH_GSTRING_LEN</c>.</summary>
    public const int StringLength = 32;

    /// <summary><c>sizeof(struct ethtool_drvinfo)</c>.</summary>
    public const int DriverInfoSize = 196;

    /// <summary><c>offsetof(struct ethtool_sset_info, data)</c>.</summary>
    public const int StringSetInfoHeader = 16;

    /// <summary><c>offsetof(struct ethtool_gstrings, data)</c>.</summary>
    public const int StringsHeader = 12;

    /// <summary><c>offsetof(struct ethtool_stats, data)</c>.</summary>
    public const int StatsHeader = 8;

    /// <summary><c>IFNAMSIZ</c>: an interface name and its NUL.</summary>
    public const int InterfaceNameSize = 16;

    private const int DriverOffset = 4;
    private const int VersionOffset = 36;
    private const int FirmwareOffset = 68;
    private const int BusInfoOffset = 100;
    private const int NStatsOffset = 180;
    private const int TextLength = 32;

    /// <summary>The command number an answer or request starts with.</summary>
    public static uint Command(ReadOnlySpan<byte> buffer) => buffer.Length < 4 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(buffer);

    /// <summary>Writes a <c>ETHTOOL_GDRVINFO</c> request into the first <see cref="DriverInfoSize"/> bytes.</summary>
    public static void WriteDriverInfoRequest(Span<byte> buffer)
    {
        buffer[..DriverInfoSize].Clear();
        WriteU32(buffer, 0, GetDriverInfo);
    }

    /// <summary>Reads an <c>ETHTOOL_GDRVINFO</c> answer.</summary>
    public static EthtoolAnswer ParseDriverInfo(ReadOnlySpan<byte> buffer, out EthtoolDriverInfo? info)
    {
        info = null;
        if (buffer.Length < DriverInfoSize)
        {
            return EthtoolAnswer.Truncated;
        }

        if (Command(buffer) != GetDriverInfo)
        {
            return EthtoolAnswer.WrongCommand;
        }

        info = new EthtoolDriverInfo(
            Text(buffer.Slice(DriverOffset, TextLength)),
            Text(buffer.Slice(VersionOffset, TextLength)),
            Text(buffer.Slice(FirmwareOffset, TextLength)),
            Text(buffer.Slice(BusInfoOffset, TextLength)),
            ReadU32(buffer, NStatsOffset));
        return EthtoolAnswer.Ok;
    }

    /// <summary>Writes an <c>ETHTOOL_GSSET_INFO</c> request for the statistics string set (room for one count).</summary>
    public static void WriteStringSetInfoRequest(Span<byte> buffer)
    {
        buffer[..(StringSetInfoHeader + 4)].Clear();
        WriteU32(buffer, 0, GetStringSetInfo);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[8..], 1UL << (int)StatsStringSet);
    }

    /// <summary>
    /// Reads an <c>ETHTOOL_GSSET_INFO</c> answer: the kernel clears the bit of a set the driver does not
    /// have and packs one count per remaining bit, lowest first. <paramref name="count"/> is null when
    /// the driver has no statistics.
    /// </summary>
    public static EthtoolAnswer ParseStringSetInfo(ReadOnlySpan<byte> buffer, out uint? count)
    {
        count = null;
        if (buffer.Length < StringSetInfoHeader)
        {
            return EthtoolAnswer.Truncated;
        }

        if (Command(buffer) != GetStringSetInfo)
        {
            return EthtoolAnswer.WrongCommand;
        }

        var mask = BinaryPrimitives.ReadUInt64LittleEndian(buffer[8..]);
        if ((mask & (1UL << (int)StatsStringSet)) == 0)
        {
            return EthtoolAnswer.Ok;
        }

        // The statistics count's position among the returned counts: the bits set below it.
        var index = System.Numerics.BitOperations.PopCount(mask & ((1UL << (int)StatsStringSet) - 1));
        var at = StringSetInfoHeader + (4 * index);
        if (buffer.Length < at + 4)
        {
            return EthtoolAnswer.Truncated;
        }

        count = ReadU32(buffer, at);
        return EthtoolAnswer.Ok;
    }

    /// <summary>The buffer size of an <c>ETHTOOL_GSTRINGS</c> request for <paramref name="count"/> strings.</summary>
    public static int StringsSize(int count) => StringsHeader + (count * StringLength);

    /// <summary>Writes an <c>ETHTOOL_GSTRINGS</c> request for the statistics names.</summary>
    public static void WriteStringsRequest(Span<byte> buffer, uint count)
    {
        buffer[..StringsHeader].Clear();
        WriteU32(buffer, 0, GetStrings);
        WriteU32(buffer, 4, StatsStringSet);
        WriteU32(buffer, 8, count);
    }

    /// <summary>Reads an <c>ETHTOOL_GSTRINGS</c> answer that should carry <paramref name="expected"/> names.</summary>
    public static EthtoolAnswer ParseStrings(ReadOnlySpan<byte> buffer, uint expected, out string[] names)
    {
        names = [];
        if (buffer.Length < StringsHeader)
        {
            return EthtoolAnswer.Truncated;
        }

        if (Command(buffer) != GetStrings || ReadU32(buffer, 4) != StatsStringSet)
        {
            return EthtoolAnswer.WrongCommand;
        }

        var len = ReadU32(buffer, 8);
        if (len != expected)
        {
            return EthtoolAnswer.CountMismatch;
        }

        if ((ulong)buffer.Length < StringsHeader + ((ulong)len * StringLength))
        {
            return EthtoolAnswer.Truncated;
        }

        names = new string[len];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = Text(buffer.Slice(StringsHeader + (i * StringLength), StringLength));
        }

        return EthtoolAnswer.Ok;
    }

    /// <summary>The buffer size of an <c>ETHTOOL_GSTATS</c> request for <paramref name="count"/> values.</summary>
    public static int StatsSize(int count) => StatsHeader + (count * 8);

    /// <summary>Writes an <c>ETHTOOL_GSTATS</c> request.</summary>
    public static void WriteStatsRequest(Span<byte> buffer, uint count)
    {
        WriteU32(buffer, 0, GetStats);
        WriteU32(buffer, 4, count);
    }

    /// <summary>
    /// Reads an <c>ETHTOOL_GSTATS</c> answer into <paramref name="values"/>, whose length is the count
    /// announced. Allocation-free.
    /// </summary>
    public static EthtoolAnswer ParseStats(ReadOnlySpan<byte> buffer, Span<ulong> values)
    {
        if (buffer.Length < StatsHeader)
        {
            return EthtoolAnswer.Truncated;
        }

        if (Command(buffer) != GetStats)
        {
            return EthtoolAnswer.WrongCommand;
        }

        if (ReadU32(buffer, 4) != (uint)values.Length)
        {
            return EthtoolAnswer.CountMismatch;
        }

        if (buffer.Length < StatsSize(values.Length))
        {
            return EthtoolAnswer.Truncated;
        }

        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadUInt64LittleEndian(buffer[(StatsHeader + (8 * i))..]);
        }

        return EthtoolAnswer.Ok;
    }

    /// <summary>A NUL-terminated text field; bytes past the first NUL are ignored.</summary>
    public static string Text(ReadOnlySpan<byte> field)
    {
        var nul = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? field : field[..nul]);
    }

    /// <summary>Writes <paramref name="text"/> into a fixed field, NUL-padded (for fakes and tests).</summary>
    public static void WriteText(Span<byte> field, string text)
    {
        field.Clear();
        Encoding.UTF8.GetBytes(text.AsSpan(), field[..^1]);
    }

    /// <summary>Writes a 32-bit field.</summary>
    public static void WriteU32(Span<byte> buffer, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(buffer[offset..], value);

    /// <summary>Reads a 32-bit field.</summary>
    public static uint ReadU32(ReadOnlySpan<byte> buffer, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(buffer[offset..]);

    /// <summary>The offsets of <c>driver</c>, <c>version</c>, <c>fw_version</c>, <c>bus_info</c> and <c>n_stats</c>, for fakes that answer like a driver.</summary>
    public static (int Driver, int Version, int Firmware, int BusInfo, int NStats) DriverInfoOffsets =>
        (DriverOffset, VersionOffset, FirmwareOffset, BusInfoOffset, NStatsOffset);
}
