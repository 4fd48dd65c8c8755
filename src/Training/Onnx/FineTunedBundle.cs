using System.Globalization;
using System.Text.Json;
using Onnx;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Modeling;

namespace StreamBert.Training.Onnx;

/// <summary>What a fine-tuned bundle holds: the trained encoder, its heads, and texts to prove the export on.</summary>
public sealed record FineTunedBundleRequest
{
    public required string Name { get; init; }
    public required BertEncoder Encoder { get; init; }
    public required IReadOnlyList<ExportedHead> Heads { get; init; }

    /// <summary>Real texts (≥ 20 recommended) on which ONNX Runtime must match TorchSharp before anything is written.</summary>
    public required IReadOnlyList<string> ParityTexts { get; init; }

    public int MaxSequenceLength { get; init; } = 128;
    public string? ParentVersion { get; init; }
    public double Tolerance { get; init; } = OnnxParity.DefaultTolerance;

    /// <summary>Vocabulary the encoder was trained with; defaults to the pretrained one.</summary>
    public string? VocabPath { get; init; }

    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Metrics { get; init; }
        = new Dictionary<string, IReadOnlyDictionary<string, double>>();

    public IReadOnlyDictionary<string, string> Training { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Calibration and operating point per task, fitted on the staged bundle (<c>HeadCalibration</c>); the manifest
    /// entry of that head takes them. The head's weights, labels and layers always come from <see cref="Heads"/>.
    /// </summary>
    public IReadOnlyDictionary<string, HeadSpec> HeadSpecs { get; init; } = new Dictionary<string, HeadSpec>();
}

/// <summary>
/// Writes a fine-tuned model as a bundle the serving path loads unchanged (<c>ModelSet.Load</c>): the encoder graph
/// written by <see cref="BertOnnxWriter"/> (manifest <c>encoder.file</c>), one linear <c>SBHEAD1</c> head file per task,
/// the vocabulary and the manifest. Nothing is written unless ONNX Runtime reproduces TorchSharp within the tolerance.
/// </summary>
public static class FineTunedBundle
{
    public const string EncoderFile = "encoder.onnx";

    /// <summary>Builds the graph and proves it (throws <see cref="OnnxParityException"/> beyond the tolerance).</summary>
    public static (ModelProto Model, ParityReport Parity) Prepare(FineTunedBundleRequest request)
    {
        var vocab = request.VocabPath ?? MiniLmResources.Ensure().VocabPath;
        var model = BertOnnxWriter.Build(request.Encoder, request.Heads);
        var parity = OnnxParity.Check(model, request.Encoder, request.Heads, WordPieceTokenizer.FromFile(vocab), request.ParityTexts,
            Math.Min(request.MaxSequenceLength, 64));
        OnnxParity.Require(parity, request.Tolerance);
        return (model, parity);
    }

    /// <summary>Writes a complete bundle with the given version into <paramref name="directory"/> (for staging and tests).</summary>
    public static BundleManifest Write(string directory, string version, FineTunedBundleRequest request)
    {
        var (model, parity) = Prepare(request);
        Directory.CreateDirectory(directory);
        WriteFiles(directory, model, request);
        var manifest = Manifest(request, version, ModelRegistry.HashFiles(directory), parity);
        File.WriteAllText(Path.Combine(directory, ModelRegistry.ManifestFile), JsonSerializer.Serialize(manifest, ModelRegistry.Json));
        return manifest;
    }

    /// <summary>Publishes the next version of the bundle in <paramref name="registry"/> (atomic, as every registry write).</summary>
    public static BundleManifest Publish(ModelRegistry registry, FineTunedBundleRequest request, bool makeCurrent = true)
    {
        var (model, parity) = Prepare(request);
        return registry.Publish(request.Name, dir => WriteFiles(dir, model, request),
            (version, files) => Manifest(request, version, files, parity), makeCurrent);
    }

    private static void WriteFiles(string directory, ModelProto model, FineTunedBundleRequest request)
    {
        BertOnnxWriter.Save(model, Path.Combine(directory, EncoderFile));
        File.Copy(request.VocabPath ?? MiniLmResources.Ensure().VocabPath, Path.Combine(directory, "vocab.txt"), overwrite: true);
        foreach (var head in request.Heads)
        {
            using var stream = File.Create(Path.Combine(directory, HeadFile(head.Task)));
            head.Head.ToDenseHead().Save(stream);
        }
    }

    private static string HeadFile(string task) => task + ".head";

    private static BundleManifest Manifest(FineTunedBundleRequest request, string version, IReadOnlyDictionary<string, string> files, ParityReport parity)
    {
        var training = new Dictionary<string, string>(request.Training)
        {
            ["mode"] = "fine-tuned",
            ["onnxParityMaxAbsDiff"] = parity.Max.ToString("E2", CultureInfo.InvariantCulture),
        };
        return new BundleManifest
        {
            Name = request.Name,
            Version = version,
            ParentVersion = request.ParentVersion,
            CreatedAt = DateTimeOffset.UtcNow,
            Encoder = new EncoderRef
            {
                Base = MiniLmResources.Name,
                Sha256 = files[EncoderFile],
                File = EncoderFile,
                TokenTypes = request.Encoder.Config.CaseTypes ? EncoderRef.CaseTokenTypes : null,
            },
            MaxSequenceLength = request.MaxSequenceLength,
            Heads = request.Heads.ToDictionary(h => h.Task, h => h.Head.ToSpec(h.Labels, HeadFile(h.Task)) is var spec && request.HeadSpecs.TryGetValue(h.Task, out var fitted)
                ? spec with { Calibration = fitted.Calibration, OperatingPoint = fitted.OperatingPoint }
                : spec),
            Files = files,
            Metrics = request.Metrics,
            Training = training,
        };
    }

}
