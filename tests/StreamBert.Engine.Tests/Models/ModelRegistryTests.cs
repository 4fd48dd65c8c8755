using StreamBert.Contracts;
using StreamBert.Engine.Models;

namespace StreamBert.Engine.Tests.Models;

public sealed class ModelRegistryTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "streambert-registry-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_root, recursive: true);

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
}
