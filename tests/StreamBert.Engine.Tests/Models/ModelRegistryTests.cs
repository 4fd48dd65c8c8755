using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Models;

namespace StreamBert.Engine.Tests.Models;

public sealed class ModelRegistryTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "streambert-registry-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static BundleManifest Manifest(string version, IReadOnlyDictionary<string, string> files, string? parent) => new()
    {
        Name = "spam",
        Version = version,
        ParentVersion = parent,
        CreatedAt = DateTimeOffset.UnixEpoch,
        Encoder = new EncoderRef { Base = MiniLmResources.Name, Sha256 = MiniLmResources.ModelSha256 },
        Heads = new Dictionary<string, HeadSpec>(),
        Files = files,
    };

    private BundleManifest Publish(ModelRegistry registry, string content)
    {
        var parent = registry.CurrentVersion("spam");
        return registry.Publish("spam", dir => File.WriteAllText(Path.Combine(dir, "head.bin"), content), (v, files) => Manifest(v, files, parent));
    }

    [Fact]
    public void Publish_ThreeVersions_NumberedInOrderAndLastIsCurrent()
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "a");
        Publish(registry, "b");
        var third = Publish(registry, "c");

        Assert.Equal(["v1", "v2", "v3"], registry.Versions("spam"));
        Assert.Equal("v3", registry.CurrentVersion("spam"));
        Assert.Equal("v2", third.ParentVersion);
        Assert.Equal(FileHash.Sha256("c"u8), third.Files["head.bin"]);
        Assert.Null(ModelRegistry.Verify(registry.BundleDirectory("spam", "v3")));
    }

    [Fact]
    public void Rollback_FromV3_ServesV2ThenV1ThenThrows()
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "a");
        Publish(registry, "b");
        Publish(registry, "c");

        Assert.Equal("v2", registry.Rollback("spam"));
        Assert.Equal("v2", registry.CurrentVersion("spam"));
        Assert.Equal("v1", registry.Rollback("spam"));
        Assert.Throws<InvalidOperationException>(() => registry.Rollback("spam"));
        Assert.Equal("v1", registry.CurrentVersion("spam"));
    }

    [Fact]
    public void SetCurrent_UnknownVersion_ThrowsAndKeepsCurrent()
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "a");

        Assert.Throws<InvalidOperationException>(() => registry.SetCurrent("spam", "v9"));
        Assert.Equal("v1", registry.CurrentVersion("spam"));
    }

    [Fact]
    public void Verify_TruncatedFile_ReportsShaMismatch()
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "abcdef");
        var dir = registry.BundleDirectory("spam", "v1");
        File.WriteAllText(Path.Combine(dir, "head.bin"), "abc");

        var problem = ModelRegistry.Verify(dir);

        Assert.NotNull(problem);
        Assert.Contains("head.bin has sha256", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void EventFor_Version_CarriesManifestHashesAndReason()
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "a");
        var second = Publish(registry, "b");

        var published = registry.EventFor("spam", "v2", "promote");

        Assert.Equal("spam", published.Name);
        Assert.Equal("v2", published.Version);
        Assert.Equal("v1", published.ParentVersion);
        Assert.Equal("promote", published.Reason);
        Assert.Equal(second.Files, published.Sha256);
        Assert.Equal(registry.BundleDirectory("spam", "v2"), published.Path);
    }

    /// <summary>Rewrites the manifest of spam v1 as <paramref name="edit"/> says, bypassing every check (as a tampered file would).</summary>
    private string Tamper(ModelRegistry registry, Func<BundleManifest, BundleManifest> edit)
    {
        Publish(registry, "a");
        var dir = registry.BundleDirectory("spam", "v1");
        var path = Path.Combine(dir, ModelRegistry.ManifestFile);
        var manifest = JsonSerializer.Deserialize<BundleManifest>(File.ReadAllText(path))!;
        File.WriteAllText(path, JsonSerializer.Serialize(edit(manifest), ModelRegistry.Json));
        return dir;
    }

    private static HeadSpec Head(string file) => new() { Kind = "sequence", Labels = ["ham", "spam"], Layers = [6], File = file };

    private static readonly string[] EscapingNames = ["../v2/head.bin", "../../outside.bin", "/etc/passwd", "sub/head.bin", "..", "."];

    public static TheoryData<string> EscapingFileNames() => new(EscapingNames);

    [Theory]
    [MemberData(nameof(EscapingFileNames))]
    public void ReadManifest_FilesEntryOutsideTheBundle_ThrowsInvalidData(string name)
    {
        var registry = new ModelRegistry(_root);
        var dir = Tamper(registry, m => m with { Files = new Dictionary<string, string>(m.Files) { [name] = new string('0', 64) } });

        var ex = Assert.Throws<InvalidDataException>(() => ModelRegistry.ReadManifest(dir));

        Assert.Contains("not a plain file name", ex.Message, StringComparison.Ordinal);
        Assert.Contains("manifest unreadable", ModelRegistry.Verify(dir), StringComparison.Ordinal);
    }

    public static TheoryData<string, string> EscapingReferences()
    {
        var data = new TheoryData<string, string>();
        foreach (var part in new[] { "head", "encoder", "vocab" })
        {
            foreach (var name in EscapingNames)
            {
                data.Add(part, name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EscapingReferences))]
    public void ReadManifest_HeadEncoderOrVocabOutsideTheBundle_ThrowsInvalidData(string part, string name)
    {
        var registry = new ModelRegistry(_root);
        var dir = Tamper(registry, m => part switch
        {
            "head" => m with { Heads = new Dictionary<string, HeadSpec> { ["spam"] = Head(name) } },
            "encoder" => m with { Encoder = m.Encoder with { File = name } },
            _ => m with { Encoder = m.Encoder with { Vocab = name } },
        });

        var ex = Assert.Throws<InvalidDataException>(() => ModelRegistry.ReadManifest(dir));

        Assert.Contains("not a plain file name", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_HeadFileWithoutSha256_ReportsIt()
    {
        var registry = new ModelRegistry(_root);
        var dir = Tamper(registry, m => m with { Heads = new Dictionary<string, HeadSpec> { ["spam"] = Head("other.bin") } });
        File.WriteAllText(Path.Combine(dir, "other.bin"), "unpinned");

        Assert.Equal("other.bin is loaded but has no sha256 in the manifest", ModelRegistry.Verify(dir));
    }

    [Theory]
    [InlineData("../../../tmp")]
    [InlineData("/tmp")]
    [InlineData("latest")]
    public void CurrentVersion_CurrentFileNamesNoVersion_Null(string content)
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "a");
        File.WriteAllText(Path.Combine(_root, "spam", "CURRENT"), content + "\n");

        Assert.Null(registry.CurrentVersion("spam"));
        Assert.Null(registry.CurrentDirectory("spam"));
    }

    [Theory]
    [InlineData("..", "v1")]
    [InlineData("spam/../..", "v1")]
    [InlineData("spam", "../v1")]
    [InlineData("spam", "/tmp")]
    public void BundleDirectory_NameOrVersionWithAPath_ThrowsArgument(string bundle, string version)
    {
        var registry = new ModelRegistry(_root);

        Assert.ThrowsAny<ArgumentException>(() => registry.BundleDirectory(bundle, version));
        Assert.ThrowsAny<ArgumentException>(() => registry.SetCurrent(bundle, version));
    }

    [Fact]
    public void ResolveBundle_VersionFolderLinkedOutsideTheRoot_PathFault()
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "a");
        var outside = Path.Combine(Path.GetTempPath(), "streambert-outside-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(outside);
        try
        {
            Directory.CreateSymbolicLink(Path.Combine(_root, "spam", "v2"), outside);

            var problem = registry.ResolveBundle("spam", "v2", out _);

            Assert.Equal(BundleFault.Path, problem?.Fault);
            Assert.Null(registry.ResolveBundle("spam", "v1", out var inside));
            Assert.Equal(registry.BundleDirectory("spam", "v1"), inside);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void ResolveBundle_RootItselfReachedThroughALink_Resolves()
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "a");
        var link = _root + "-link";
        Directory.CreateSymbolicLink(link, _root);
        try
        {
            Assert.Null(new ModelRegistry(link).ResolveBundle("spam", "v1", out _));
        }
        finally
        {
            File.Delete(link);
        }
    }

    [Fact]
    public void CheckAnnounced_EventAndFiles_FaultForEachMismatch()
    {
        var registry = new ModelRegistry(_root);
        Publish(registry, "a");
        var good = registry.EventFor("spam", "v1", "trained");

        Assert.Null(registry.CheckAnnounced(good, out _, out var manifest));
        Assert.Equal("v1", manifest?.Version);
        Assert.Equal(BundleFault.Missing, registry.CheckAnnounced(good with { Version = "v9" }, out _, out _)?.Fault);
        Assert.Equal(BundleFault.Hash, registry.CheckAnnounced(good with { Sha256 = new Dictionary<string, string> { ["head.bin"] = new string('0', 64) } }, out _, out _)?.Fault);
        File.WriteAllText(Path.Combine(registry.BundleDirectory("spam", "v1"), "head.bin"), "changed");
        Assert.Equal(BundleFault.Hash, registry.CheckAnnounced(good, out _, out _)?.Fault);
    }

    [Fact]
    public void PreviousVersion_FromV10_IsV9AndCurrentStays()
    {
        var registry = new ModelRegistry(_root);
        for (var i = 0; i < 10; i++)
        {
            Publish(registry, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal("v9", registry.PreviousVersion("spam"));
        Assert.Equal("v10", registry.CurrentVersion("spam"));
    }
}
