using System.Globalization;
using Google.Protobuf;
using Onnx;

namespace StreamBert.Engine.Models;

/// <summary>An int8 encoder graph on disk: its sha256, and the fp32 graph and recipe it was quantised from.</summary>
/// <param name="Built">True when this call quantised it (a cache miss or a corrupt cached file), false on a cache hit.</param>
public sealed record Int8Encoder(string ModelPath, string Sha256, string SourceSha256, string Quantizer, bool Built);

/// <summary>
/// Quantised encoders, content-addressed by what they are a function of: <c>&lt;cache&gt;/encoders/int8/&lt;source
/// sha256&gt;.&lt;quantizer version&gt;/model.onnx</c>, with the sha256 of that file beside it in <c>model.onnx.sha256</c>.
/// </summary>
/// <remarks>
/// Quantising the 90 MB pretrained graph takes seconds and every heads-only bundle shares it, so it is done once per
/// machine and reused. A cached file is trusted only while its sha256 matches the one recorded when it was written; a
/// truncated or altered file (or a missing record: a crash between the two writes) is quantised again, never served.
/// Both files are written beside and renamed into place, so concurrent processes never read a half-written graph.
/// </remarks>
public static class Int8EncoderCache
{
    public const string ModelFile = "model.onnx";
    public const string HashFile = ModelFile + ".sha256";

    private static readonly Lock Gate = new();

    /// <summary>The folder holding the int8 graph of the fp32 graph with sha256 <paramref name="sourceSha256"/>.</summary>
    public static string FolderOf(string sourceSha256, string? cacheRoot = null)
    {
        if (sourceSha256.Length != 64 || !sourceSha256.All(char.IsAsciiHexDigitLower))
        {
            // The hash names a folder: anything but lowercase hex could lead outside the cache.
            throw new ArgumentException($"'{sourceSha256}' is not a lowercase hex sha256.", nameof(sourceSha256));
        }

        return Path.Combine(cacheRoot ?? MiniLmResources.CacheRoot, "encoders", "int8", $"{sourceSha256}.{Int8Quantizer.Version}");
    }

    /// <summary>The cached int8 graph of the pretrained encoder (extracted and verified first).</summary>
    public static Int8Encoder EnsurePretrained(string? cacheRoot = null)
    {
        var pretrained = MiniLmResources.Ensure(cacheRoot);
        return Ensure(pretrained.ModelPath, pretrained.ModelSha256, cacheRoot);
    }

    /// <summary>
    /// The int8 graph of the fp32 graph at <paramref name="sourcePath"/>: the cached one when its sha256 checks out,
    /// otherwise quantised now (the source's sha256 checked against <paramref name="sourceSha256"/> first) and cached.
    /// </summary>
    public static Int8Encoder Ensure(string sourcePath, string sourceSha256, string? cacheRoot = null)
    {
        var directory = FolderOf(sourceSha256, cacheRoot);
        var model = Path.Combine(directory, ModelFile);
        var hash = Path.Combine(directory, HashFile);
        lock (Gate)
        {
            if (CachedSha256(model, hash) is { } cached)
            {
                return new Int8Encoder(model, cached, sourceSha256, Int8Quantizer.Version, Built: false);
            }

            var source = File.ReadAllBytes(sourcePath);
            var actual = FileHash.Sha256(source);
            if (actual != sourceSha256)
            {
                throw new InvalidDataException($"{sourcePath} has sha256 {actual}, expected {sourceSha256}; not quantising it.");
            }

            var (quantized, count) = Int8Quantizer.Quantize(ModelProto.Parser.ParseFrom(source));
            if (count == 0)
            {
                throw new InvalidDataException($"{sourcePath} has no encoder MatMul to quantise (already int8, or not a BERT encoder).");
            }

            var bytes = quantized.ToByteArray();
            var sha = FileHash.Sha256(bytes);
            Directory.CreateDirectory(directory);
            WriteAtomically(model, bytes);
            WriteAtomically(hash, System.Text.Encoding.ASCII.GetBytes(sha + "\n"));
            return new Int8Encoder(model, sha, sourceSha256, Int8Quantizer.Version, Built: true);
        }
    }

    /// <summary>The recorded sha256 when the cached file has it, else null (absent, unrecorded or corrupt).</summary>
    private static string? CachedSha256(string model, string hash)
    {
        if (!File.Exists(model) || !File.Exists(hash) || new FileInfo(hash).Length > 128)
        {
            return null;
        }

        var recorded = File.ReadAllText(hash).Trim().ToLower(CultureInfo.InvariantCulture);
        return recorded.Length == 64 && FileHash.Sha256(model) == recorded ? recorded : null;
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
