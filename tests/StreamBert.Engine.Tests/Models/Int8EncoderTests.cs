using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;

namespace StreamBert.Engine.Tests.Models;

/// <summary>The pretrained encoder extracted once into a temporary cache the int8 tests quantise from.</summary>
public sealed class PretrainedCacheFixture : IDisposable
{
    public PretrainedCacheFixture()
    {
        Pretrained = MiniLmResources.Ensure(Root);
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "streambert-int8-cache-" + Guid.NewGuid().ToString("N"));

    public PretrainedEncoder Pretrained { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>
/// The int8 encoder cache, the manifest's int8 record and <see cref="BundleQuantizer"/>, on the real pretrained encoder
/// (each quantisation takes a few seconds, so every test quantises at most twice).
/// </summary>
public sealed class Int8EncoderTests(PretrainedCacheFixture fixture) : IClassFixture<PretrainedCacheFixture>, IDisposable
{
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "streambert-int8-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_scratch))
        {
            Directory.Delete(_scratch, recursive: true);
        }
    }

    [Fact]
    public void Ensure_EmptyCacheThenAgain_QuantizesOnceThenReusesTheFileUntouched()
    {
        var cache = Path.Combine(_scratch, "cache");

        var miss = Int8EncoderCache.Ensure(fixture.Pretrained.ModelPath, MiniLmResources.ModelSha256, cache);
        var written = File.GetLastWriteTimeUtc(miss.ModelPath);
        var hit = Int8EncoderCache.Ensure(fixture.Pretrained.ModelPath, MiniLmResources.ModelSha256, cache);

        Assert.True(miss.Built);
        Assert.False(hit.Built);
        Assert.Equal(miss.Sha256, hit.Sha256);
        Assert.Equal(miss.ModelPath, hit.ModelPath);
        Assert.Equal(written, File.GetLastWriteTimeUtc(hit.ModelPath));
        Assert.Equal(FileHash.Sha256(hit.ModelPath), hit.Sha256);
        // Content-addressed: the folder is named by the source's sha256 and the recipe's version.
        Assert.Equal($"{MiniLmResources.ModelSha256}.{Int8Quantizer.Version}", Path.GetFileName(Path.GetDirectoryName(hit.ModelPath)));
        var graph = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(hit.ModelPath));
        Assert.Equal(36, graph.Graph.Node.Count(n => n.OpType == "DynamicQuantizeMatMul"));
    }

    [Fact]
    public void Ensure_CachedFileCorrupted_DetectedByHashAndRebuiltIdentical()
    {
        var cache = Path.Combine(_scratch, "cache");
        var first = Int8EncoderCache.Ensure(fixture.Pretrained.ModelPath, MiniLmResources.ModelSha256, cache);
        using (var stream = File.OpenWrite(first.ModelPath))
        {
            stream.Position = stream.Length / 2;
            stream.WriteByte(0x5a);
        }

        var rebuilt = Int8EncoderCache.Ensure(fixture.Pretrained.ModelPath, MiniLmResources.ModelSha256, cache);

        Assert.True(rebuilt.Built);
        Assert.Equal(first.Sha256, rebuilt.Sha256);
        Assert.Equal(first.Sha256, FileHash.Sha256(rebuilt.ModelPath));
    }

    [Fact]
    public void Ensure_SourceDiffersFromItsSha256_ThrowsAndCachesNothing()
    {
        var cache = Path.Combine(_scratch, "cache");
        Directory.CreateDirectory(_scratch);
        var other = Path.Combine(_scratch, "other.onnx");
        File.WriteAllBytes(other, [1, 2, 3]);

        var error = Assert.Throws<InvalidDataException>(() => Int8EncoderCache.Ensure(other, MiniLmResources.ModelSha256, cache));

        Assert.Contains("expected " + MiniLmResources.ModelSha256, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Int8EncoderCache.FolderOf(MiniLmResources.ModelSha256, cache), Int8EncoderCache.ModelFile)));
    }

    [Fact]
    public void Quantize_HeadsOnlyBundle_RecordsInt8FileLeavesFp32FilesAndReusesCache()
    {
        var cache = Path.Combine(_scratch, "cache");
        var registry = new ModelRegistry(Path.Combine(_scratch, "registry"));
        var published = registry.Publish(
            "spam",
            dir => File.Copy(fixture.Pretrained.VocabPath, Path.Combine(dir, "vocab.txt")),
            (version, files) => new BundleManifest
            {
                Name = "spam",
                Version = version,
                CreatedAt = DateTimeOffset.UnixEpoch,
                Encoder = new EncoderRef { Base = MiniLmResources.Name, Sha256 = MiniLmResources.ModelSha256 },
                Heads = new Dictionary<string, HeadSpec>(),
                Files = files,
            });
        var directory = registry.BundleDirectory("spam", published.Version);

        var quantized = BundleQuantizer.Quantize(directory, cache);
        var again = BundleQuantizer.Quantize(directory, cache);
        var read = ModelRegistry.ReadManifest(directory);

        Assert.NotNull(read.Int8Encoder);
        Assert.Equal(quantized.Int8Encoder, read.Int8Encoder);
        Assert.Equal(again.Int8Encoder, read.Int8Encoder);
        Assert.Equal(BundleQuantizer.Int8EncoderFile, read.Int8Encoder.File);
        Assert.Equal(MiniLmResources.ModelSha256, read.Int8Encoder.SourceSha256);
        Assert.Equal(Int8Quantizer.Version, read.Int8Encoder.Quantizer);
        Assert.Equal(Int8EncoderCache.Ensure(fixture.Pretrained.ModelPath, MiniLmResources.ModelSha256, cache).Sha256, read.Int8Encoder.Sha256);
        // The fp32 bundle is untouched: same files map (so events already announcing it stay valid), still verifies.
        Assert.Equal(published.Files, read.Files);
        Assert.Null(read.Encoder.File);
        Assert.Null(ModelRegistry.Verify(directory));
        Assert.Null(ModelRegistry.VerifyInt8(directory, read));

        File.AppendAllText(Path.Combine(directory, BundleQuantizer.Int8EncoderFile), "x");
        Assert.Contains("manifest says", ModelRegistry.VerifyInt8(directory, read), StringComparison.Ordinal);
        Assert.Null(ModelRegistry.Verify(directory));
    }

    [Fact]
    public void Manifest_Int8EncoderRecord_RoundTripsAndOldManifestsReadWithoutIt()
    {
        var manifest = new BundleManifest
        {
            Name = "spam",
            Version = "v1",
            CreatedAt = DateTimeOffset.UnixEpoch,
            Encoder = new EncoderRef { Base = MiniLmResources.Name, Sha256 = MiniLmResources.ModelSha256 },
            Int8Encoder = new Int8EncoderRef { File = "encoder.int8.onnx", Sha256 = new string('a', 64), SourceSha256 = MiniLmResources.ModelSha256, Quantizer = Int8Quantizer.Version },
            Heads = new Dictionary<string, HeadSpec>(),
            Files = new Dictionary<string, string>(),
        };

        var json = JsonSerializer.Serialize(manifest, ModelRegistry.Json);
        var back = JsonSerializer.Deserialize<BundleManifest>(json, ModelRegistry.Json)!;
        var old = JsonSerializer.Deserialize<BundleManifest>(JsonSerializer.Serialize(manifest with { Int8Encoder = null }, ModelRegistry.Json), ModelRegistry.Json)!;

        Assert.Contains("\"int8Encoder\"", json, StringComparison.Ordinal);
        Assert.Equal(manifest.Int8Encoder, back.Int8Encoder);
        Assert.Null(old.Int8Encoder);
        Assert.DoesNotContain("int8Encoder", JsonSerializer.Serialize(old, ModelRegistry.Json), StringComparison.Ordinal);
    }

    [Fact]
    public void ReadManifest_Int8FileOutsideTheBundle_Refused()
    {
        var directory = Path.Combine(_scratch, "bundle");
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ModelRegistry.ManifestFile), JsonSerializer.Serialize(new BundleManifest
        {
            Name = "spam",
            Version = "v1",
            CreatedAt = DateTimeOffset.UnixEpoch,
            Encoder = new EncoderRef { Base = MiniLmResources.Name, Sha256 = MiniLmResources.ModelSha256 },
            Int8Encoder = new Int8EncoderRef { File = "../../elsewhere.onnx", Sha256 = new string('a', 64), SourceSha256 = MiniLmResources.ModelSha256, Quantizer = Int8Quantizer.Version },
            Heads = new Dictionary<string, HeadSpec>(),
            Files = new Dictionary<string, string>(),
        }, ModelRegistry.Json));

        var error = Assert.Throws<InvalidDataException>(() => ModelRegistry.ReadManifest(directory));

        Assert.Contains("int8 encoder file", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fp32", EncoderPrecision.Fp32)]
    [InlineData("int8", EncoderPrecision.Int8)]
    [InlineData(" INT8 ", EncoderPrecision.Int8)]
    public void Parse_KnownPrecision_Parsed(string value, EncoderPrecision expected) =>
        Assert.Equal(expected, EncoderPrecisions.Parse(value));

    [Theory]
    [InlineData("int4")]
    [InlineData("")]
    [InlineData(null)]
    public void Parse_UnknownPrecision_ErrorNamesTheSettingAndTheAcceptedValues(string? value)
    {
        var error = Assert.Throws<ArgumentException>(() => EncoderPrecisions.Parse(value, "Processor:Precision"));

        Assert.StartsWith($"Processor:Precision '{value}' is not a precision; use fp32 or int8.", error.Message, StringComparison.Ordinal);
    }
}
