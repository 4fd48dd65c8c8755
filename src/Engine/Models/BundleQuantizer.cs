using System.Text.Json;
using StreamBert.Contracts;

namespace StreamBert.Engine.Models;

/// <summary>
/// Gives an existing bundle version an int8 encoder (<c>streambert models quantize</c>, <c>train --int8</c>): the
/// bundle's own encoder quantised when it has one (fine-tuned), else the cached int8 pretrained encoder; the file is
/// copied into the bundle and recorded in the manifest's <c>int8Encoder</c>.
/// </summary>
/// <remarks>
/// The only change to a published version the registry allows: the <c>files</c> map, the fp32 encoder and every head stay
/// as they are, so fp32 serving and the <c>ModelPublished</c> events already sent for the version are unaffected. The
/// manifest is replaced by rename, so a reader sees the old or the new one, never a mix.
/// </remarks>
public static class BundleQuantizer
{
    public const string Int8EncoderFile = "encoder.int8.onnx";

    /// <summary>Quantises <paramref name="bundleDirectory"/>; returns its new manifest (unchanged when it already had a valid int8 encoder of this recipe).</summary>
    public static BundleManifest Quantize(string bundleDirectory, string? cacheRoot = null)
    {
        if (ModelRegistry.Verify(bundleDirectory) is { } problem)
        {
            throw new InvalidDataException($"Bundle {bundleDirectory} failed verification: {problem}.");
        }

        var manifest = ModelRegistry.ReadManifest(bundleDirectory);
        if (manifest.Int8Encoder is { Quantizer: Int8Quantizer.Version } existing && ModelRegistry.VerifyInt8(bundleDirectory, manifest) is null)
        {
            return manifest with { Int8Encoder = existing };
        }

        var int8 = Int8EncoderCache.Ensure(Fp32EncoderPath(bundleDirectory, manifest, cacheRoot), manifest.Encoder.Sha256, cacheRoot);
        var target = Path.Combine(bundleDirectory, Int8EncoderFile);
        var temp = $"{target}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.Copy(int8.ModelPath, temp);
        if (FileHash.Sha256(temp) is var copied && copied != int8.Sha256)
        {
            File.Delete(temp);
            throw new IOException($"Copying {int8.ModelPath} gave sha256 {copied}, expected {int8.Sha256}.");
        }

        File.Move(temp, target, overwrite: true);
        var updated = manifest with
        {
            Int8Encoder = new Int8EncoderRef { File = Int8EncoderFile, Sha256 = int8.Sha256, SourceSha256 = manifest.Encoder.Sha256, Quantizer = int8.Quantizer },
        };
        var manifestPath = Path.Combine(bundleDirectory, ModelRegistry.ManifestFile);
        var manifestTemp = $"{manifestPath}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllText(manifestTemp, JsonSerializer.Serialize(updated, ModelRegistry.Json));
        File.Move(manifestTemp, manifestPath, overwrite: true);
        return updated;
    }

    /// <summary>
    /// The fp32 graph a bundle's heads read: its own file, or the shipped pretrained encoder when the manifest names it
    /// (by base and sha256); throws when the bundle needs a pretrained encoder this build does not ship.
    /// </summary>
    public static string Fp32EncoderPath(string bundleDirectory, BundleManifest manifest, string? cacheRoot = null)
    {
        if (manifest.Encoder.File is { } file)
        {
            return Path.Combine(bundleDirectory, file);
        }

        if (manifest.Encoder.Base != MiniLmResources.Name || manifest.Encoder.Sha256 != MiniLmResources.ModelSha256)
        {
            throw new InvalidDataException(
                $"Bundle {manifest.Name} {manifest.Version} needs encoder {manifest.Encoder.Base} ({manifest.Encoder.Sha256}), which is not shipped.");
        }

        return MiniLmResources.Ensure(cacheRoot).ModelPath;
    }
}
