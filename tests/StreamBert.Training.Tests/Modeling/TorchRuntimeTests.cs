using StreamBert.Training.Native;
using TorchSharp;

namespace StreamBert.Training.Tests.Modeling;

public sealed class TorchRuntimeTests
{
    private static readonly string ShippedLibrary = Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages", "torchsharp", "0.107.0",
        "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [Fact]
    public void EnsureLoaded_ThenLinearForward_ComputesTheProduct()
    {
        TorchRuntime.EnsureLoaded(Console.Out);
        using var scope = torch.NewDisposeScope();
        using var linear = torch.nn.Linear(3, 2);
        using (torch.no_grad())
        {
            linear.weight!.copy_(torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]));
            linear.bias!.copy_(torch.tensor(new float[] { 0.5f, -1 }, [2]));
        }

        var y = linear.forward(torch.tensor(new float[] { 1, 1, 1 }, [1, 3]));

        Assert.Equal([6.5f, 14f], y.data<float>().ToArray());
    }

    [Fact]
    public void MarkWeak_OnShippedLibrary_ChangesOnlyTheFlagsFieldAndIsIdempotent()
    {
        var path = File.Exists(ShippedLibrary)
            ? ShippedLibrary
            : Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var original = File.ReadAllBytes(path);
        var entry = ElfVersionNeeds.Read(original).Single(e => e.Version == TorchRuntime.MissingCxxVersion);
        Assert.Equal("libstdc++.so.6", entry.Library);

        var once = (byte[])original.Clone();
        var twice = (byte[])original.Clone();
        var changedOnce = ElfVersionNeeds.MarkWeak(once, TorchRuntime.MissingCxxVersion);
        ElfVersionNeeds.MarkWeak(twice, TorchRuntime.MissingCxxVersion);
        var changedAgain = ElfVersionNeeds.MarkWeak(twice, TorchRuntime.MissingCxxVersion);

        Assert.Equal(entry.IsWeak ? 0 : 1, changedOnce);
        Assert.Equal(0, changedAgain);
        Assert.Equal(once, twice);
        var differing = Enumerable.Range(0, original.Length).Where(i => original[i] != once[i]).ToList();
        Assert.InRange(differing.Count, entry.IsWeak ? 0 : 1, 2);
        Assert.All(differing, i => Assert.InRange(i, entry.FlagsOffset, entry.FlagsOffset + 1));
        var patched = ElfVersionNeeds.Read(once);
        Assert.True(patched.Single(e => e.Version == TorchRuntime.MissingCxxVersion).IsWeak);
        Assert.Equal(
            ElfVersionNeeds.Read(original).Where(e => e.Version != TorchRuntime.MissingCxxVersion),
            patched.Where(e => e.Version != TorchRuntime.MissingCxxVersion));
    }

    [Fact]
    public void PatchFile_OnACopy_WritesOnceThenReportsNothingToDo()
    {
        var source = File.Exists(ShippedLibrary)
            ? ShippedLibrary
            : Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var copy = Path.Combine(Path.GetTempPath(), $"libLibTorchSharp-{Guid.NewGuid():N}.so");
        File.Copy(source, copy);
        try
        {
            var wasWeak = ElfVersionNeeds.Read(File.ReadAllBytes(copy)).Single(e => e.Version == TorchRuntime.MissingCxxVersion).IsWeak;
            Assert.Equal(!wasWeak, TorchRuntime.PatchFile(copy, TorchRuntime.MissingCxxVersion));
            var first = File.ReadAllBytes(copy);
            Assert.False(TorchRuntime.PatchFile(copy, TorchRuntime.MissingCxxVersion));
            Assert.Equal(first, File.ReadAllBytes(copy));
            Assert.Empty(Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(copy) + ".*.tmp"));
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void MarkWeak_OnANonElfFile_Throws()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkWeak(new byte[128], TorchRuntime.MissingCxxVersion));
    }
}
