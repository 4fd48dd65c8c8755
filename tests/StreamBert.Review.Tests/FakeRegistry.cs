using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Models;

namespace StreamBert.Review.Tests;

/// <summary>
/// A registry of manifests only, in a temporary folder: enough for the models page and for promote/rollback (which read
/// manifests and write CURRENT), not for serving. Deleted on dispose.
/// </summary>
internal sealed class FakeRegistry : IDisposable
{
    private const string Sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    public FakeRegistry()
    {
        Registry = new ModelRegistry(Directory.CreateTempSubdirectory("streambert-review-registry-").FullName);
    }

    public ModelRegistry Registry { get; }

    public string Root => Registry.Root;

    /// <summary>Writes <paramref name="bundle"/> <paramref name="version"/> with a spam head; <paramref name="trainedFromLabels"/> as the trainer writes.</summary>
    public void Add(string bundle, string version, string? parent, double f1, bool trainedFromLabels = false, double threshold = 0.5)
    {
        var directory = Registry.BundleDirectory(bundle, version);
        Directory.CreateDirectory(directory);
        var training = trainedFromLabels
            ? new Dictionary<string, string> { ["task"] = TaskNames.Spam, ["trainer"] = "labels", ["trainRows"] = "5874", ["evaluatedOn"] = "held-out labels (n 60)" }
            : new Dictionary<string, string> { ["task"] = TaskNames.Spam };
        var manifest = new BundleManifest
        {
            Name = bundle,
            Version = version,
            ParentVersion = parent,
            CreatedAt = new DateTimeOffset(2026, 12, 1, 10, int.Parse(version[1..], System.Globalization.CultureInfo.InvariantCulture), 0, TimeSpan.Zero),
            Encoder = new EncoderRef { Base = "all-MiniLM-L6-v2", Sha256 = Sha },
            Heads = new Dictionary<string, HeadSpec>
            {
                [TaskNames.Spam] = new()
                {
                    Kind = "sequence",
                    Labels = [LabelSets.Ham, LabelSets.Spam],
                    Layers = [6],
                    File = "spam.head",
                    OperatingPoint = new OperatingPoint
                    {
                        Target = new OperatingTarget { Metric = OperatingTarget.MaxFalsePositiveRate, Value = 0.005 },
                        Threshold = threshold,
                        TargetMet = true,
                        Precision = 0.97,
                        Recall = 0.81,
                        FalsePositiveRate = 0.004,
                        N = 500,
                        Positives = 70,
                        Curve = [],
                    },
                },
            },
            Files = new Dictionary<string, string> { ["spam.head"] = Sha, ["vocab.txt"] = Sha },
            Metrics = new Dictionary<string, IReadOnlyDictionary<string, double>> { [TaskNames.Spam] = new Dictionary<string, double> { ["f1"] = f1, ["accuracy"] = 0.95 } },
            Training = training,
        };
        File.WriteAllText(Path.Combine(directory, ModelRegistry.ManifestFile), JsonSerializer.Serialize(manifest, ModelRegistry.Json));
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
