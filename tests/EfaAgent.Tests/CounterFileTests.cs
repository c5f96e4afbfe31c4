using EfaAgent.Collectors.Parsing;
using EfaAgent.Collectors.Sysfs;
using EfaAgent.Tests.Support;
using Libc = EfaAgent.Collectors.Interop.Interop.Libc;

namespace EfaAgent.Tests;

/// <summary>
/// The sampler's read of a lane: real files on disk read through the raw pread system call, each
/// with its status, and a value written between two ticks seen by the next one.
/// </summary>
public sealed class CounterFileTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<CounterFile> _open = [];

    [Fact]
    public void Each_file_gets_its_value_or_what_is_wrong_with_it_and_the_next_read_sees_a_new_value()
    {
        var counter = Open("tx_bytes", "123456789\n");
        var missing = Open("rx_bytes", "N/A (no PMA)\n");
        var tooLong = Open("odd", new string('7', CounterFile.BufferSize) + "\n");
        var empty = Open("empty", "");
        int[] descriptors = [counter.Descriptor, missing.Descriptor, -1, tooLong.Descriptor, empty.Descriptor];
        var statuses = new CounterStatus[descriptors.Length];
        var values = new ulong[descriptors.Length];
        var buffer = new byte[CounterFile.BufferSize];

        CounterFile.ReadAll(descriptors, buffer, statuses, values);

        Assert.Equal([CounterStatus.Ok, CounterStatus.NotAvailable, CounterStatus.ReadError, CounterStatus.Malformed, CounterStatus.Empty], statuses);
        Assert.Equal(123456789UL, values[0]);

        File.WriteAllText(_dir.Combine("tx_bytes"), "18446744073709551615\n");
        CounterFile.ReadAll(descriptors, buffer, statuses, values);
        Assert.Equal(CounterStatus.Ok, statuses[0]);
        Assert.Equal(ulong.MaxValue, values[0]);
    }

    [Fact]
    public void A_read_the_kernel_refuses_is_its_negated_errno()
    {
        Directory.CreateDirectory(_dir.Combine("dir"));
        var fd = Libc.Open(_dir.Combine("dir"), Libc.ORdOnly | Libc.OCloExec);
        Assert.True(fd >= 0);
        try
        {
            Assert.Equal(-21, RegularFile.ReadAtStart(fd, new byte[CounterFile.BufferSize])); // EISDIR

            var statuses = new CounterStatus[1];
            CounterFile.ReadAll([fd], new byte[CounterFile.BufferSize], statuses, new ulong[1]);
            Assert.Equal(CounterStatus.ReadError, statuses[0]);
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    [Fact]
    public void A_read_returns_the_bytes_from_the_start_every_time()
    {
        var file = Open("rate", "400 Gb/sec (4X NDR)\n");
        var buffer = new byte[CounterFile.BufferSize];
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(20, RegularFile.ReadAtStart(file.Descriptor, buffer));
            Assert.Equal("400 Gb/sec (4X NDR)\n", System.Text.Encoding.ASCII.GetString(buffer, 0, 20));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in _open)
        {
            f.Dispose();
        }

        _dir.Dispose();
    }

    private CounterFile Open(string name, string content)
    {
        var path = _dir.Combine(name);
        File.WriteAllText(path, content);
        Assert.True(CounterFile.TryOpen(path, out var file, out var error), error);
        _open.Add(file!);
        return file!;
    }
}
