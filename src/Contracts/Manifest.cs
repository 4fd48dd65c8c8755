using System.Text.Json.Serialization;

namespace StreamBert.Contracts;

/// <summary>
/// <c>manifest.json</c> of a model bundle (<c>&lt;registry&gt;/&lt;bundle&gt;/&lt;version&gt;/</c>).
/// A bundle is immutable once written; <see cref="Files"/> pins the sha256 of every other file in it.
/// </summary>
public sealed record BundleManifest
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("version")] public required string Version { get; init; }
    [JsonPropertyName("parentVersion")] public string? ParentVersion { get; init; }
    [JsonPropertyName("createdAt")] public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>The pretrained encoder the heads sit on, with the sha256 of its ONNX file.</summary>
    [JsonPropertyName("encoder")] public required EncoderRef Encoder { get; init; }

    /// <summary>
    /// An int8 copy of <see cref="Encoder"/> written into the bundle (<c>streambert models quantize</c>, <c>train --int8</c>),
    /// served when a processor runs with <c>Precision=int8</c>; null in manifests written before it existed or never quantised.
    /// Kept out of <see cref="Files"/> so that adding it leaves the fp32 bundle, and every event announcing it, unchanged.
    /// </summary>
    [JsonPropertyName("int8Encoder")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Int8EncoderRef? Int8Encoder { get; init; }

    [JsonPropertyName("maxSequenceLength")] public int MaxSequenceLength { get; init; } = 128;

    /// <summary>Task heads in this bundle, keyed by task name (<see cref="TaskNames"/>).</summary>
    [JsonPropertyName("heads")] public required IReadOnlyDictionary<string, HeadSpec> Heads { get; init; }

    /// <summary>File name → lowercase hex sha256, for every file of the bundle except the manifest.</summary>
    [JsonPropertyName("files")] public required IReadOnlyDictionary<string, string> Files { get; init; }

    /// <summary>Evaluation metrics per task (for example <c>spam → {f1: 0.93}</c>).</summary>
    [JsonPropertyName("metrics")] public IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Metrics { get; init; }
        = new Dictionary<string, IReadOnlyDictionary<string, double>>();

    /// <summary>What the version was trained on (files, topics and offsets); free-form for people.</summary>
    [JsonPropertyName("training")] public IReadOnlyDictionary<string, string> Training { get; init; }
        = new Dictionary<string, string>();
}

/// <summary>The encoder graph a bundle runs: either the shared pretrained one or a file in the bundle.</summary>
public sealed record EncoderRef
{
    /// <summary>For example <c>all-MiniLM-L6-v2</c>.</summary>
    [JsonPropertyName("base")] public required string Base { get; init; }

    /// <summary>sha256 of the ONNX graph the heads were trained against.</summary>
    [JsonPropertyName("sha256")] public required string Sha256 { get; init; }

    /// <summary>File in the bundle that holds the encoder graph, or null to use the pretrained base from the cache.</summary>
    [JsonPropertyName("file")] public string? File { get; init; }

    /// <summary>Vocabulary file in the bundle.</summary>
    [JsonPropertyName("vocab")] public string Vocab { get; init; } = "vocab.txt";

    /// <summary>
    /// What <c>token_type_ids</c> carry: null = all 0 (one segment, as pretrained); <see cref="CaseTokenTypes"/> = the
    /// case of each piece's word, which an uncased vocabulary otherwise loses (fine-tuned NER encoders).
    /// </summary>
    [JsonPropertyName("tokenTypes")] public string? TokenTypes { get; init; }

    /// <summary>Value of <see cref="TokenTypes"/> for case types (0 no capital, 1 initial capital, 2 all capitals).</summary>
    public const string CaseTokenTypes = "case";
}

/// <summary>The int8 encoder file of a bundle and what it was made from.</summary>
public sealed record Int8EncoderRef
{
    /// <summary>File in the bundle holding the int8 graph.</summary>
    [JsonPropertyName("file")] public required string File { get; init; }

    /// <summary>sha256 of that file (it is not in the manifest's <c>files</c> map).</summary>
    [JsonPropertyName("sha256")] public required string Sha256 { get; init; }

    /// <summary>sha256 of the fp32 graph it was quantised from (the bundle's <see cref="EncoderRef.Sha256"/>).</summary>
    [JsonPropertyName("sourceSha256")] public required string SourceSha256 { get; init; }

    /// <summary>The quantisation recipe and its version, e.g. <c>dqmm-s8-percolumn-v1</c>.</summary>
    [JsonPropertyName("quantizer")] public required string Quantizer { get; init; }
}

/// <summary>One task head: its label set, the encoder features it reads and the file with its weights.</summary>
public sealed record HeadSpec
{
    /// <summary><c>sequence</c> (one label per text) or <c>token</c> (one tag per word).</summary>
    [JsonPropertyName("kind")] public required string Kind { get; init; }

    [JsonPropertyName("labels")] public required IReadOnlyList<string> Labels { get; init; }

    /// <summary>Encoder layers whose hidden states are concatenated (1..N; 0 = embeddings).</summary>
    [JsonPropertyName("layers")] public required IReadOnlyList<int> Layers { get; init; }

    /// <summary><c>mean</c> or <c>cls</c> for sequence heads; ignored for token heads.</summary>
    [JsonPropertyName("pooling")] public string Pooling { get; init; } = "mean";

    /// <summary>
    /// Token heads only: append the word's shape (capitalisation, digits; see WordShape) to each token's
    /// features. The uncased encoder cannot see case, which is the strongest single cue for names.
    /// </summary>
    [JsonPropertyName("wordShape")] public bool WordShape { get; init; }

    /// <summary>File in the bundle holding the head weights.</summary>
    [JsonPropertyName("file")] public required string File { get; init; }

    /// <summary>
    /// Sequence heads: the map from the head's logit margin to the served score, fitted on held-out data so the score
    /// reads as a probability. Null (manifests written before calibration existed) = the plain softmax.
    /// </summary>
    [JsonPropertyName("calibration")] public ScoreCalibration? Calibration { get; init; }

    /// <summary>Sequence heads: the served threshold and how it was chosen. Null = 0.5, as before operating points existed.</summary>
    [JsonPropertyName("operatingPoint")] public OperatingPoint? OperatingPoint { get; init; }
}

/// <summary>
/// A monotone map from a binary head's logit margin (positive logit minus negative logit) to a probability.
/// Monotone, so calibrating each window of a long text and taking the maximum equals calibrating the maximum.
/// </summary>
public sealed record ScoreCalibration
{
    /// <summary><see cref="TemperatureMethod"/> or <see cref="IsotonicMethod"/>.</summary>
    [JsonPropertyName("method")] public required string Method { get; init; }

    /// <summary>Temperature scaling: score = sigmoid(margin / temperature).</summary>
    [JsonPropertyName("temperature")] public double? Temperature { get; init; }

    /// <summary>
    /// Isotonic: knots (margin, probability), margins increasing and probabilities non-decreasing; the score is
    /// linear between knots and constant beyond the ends.
    /// </summary>
    [JsonPropertyName("knots")] public IReadOnlyList<CalibrationKnot>? Knots { get; init; }

    /// <summary>Expected calibration error (10 equal-width bins) of the chosen map on data it was not fitted on.</summary>
    [JsonPropertyName("heldOutEce")] public double? HeldOutEce { get; init; }

    /// <summary>What the map was fitted on, for people.</summary>
    [JsonPropertyName("fittedOn")] public string? FittedOn { get; init; }

    public const string TemperatureMethod = "temperature";
    public const string IsotonicMethod = "isotonic";
}

/// <summary>One knot of an isotonic calibration map.</summary>
public sealed record CalibrationKnot(
    [property: JsonPropertyName("margin")] double Margin,
    [property: JsonPropertyName("probability")] double Probability);

/// <summary>What a threshold is chosen for: a ceiling on the false-positive rate, or a floor on precision.</summary>
public sealed record OperatingTarget
{
    /// <summary><see cref="MaxFalsePositiveRate"/> or <see cref="MinPrecision"/>.</summary>
    [JsonPropertyName("metric")] public required string Metric { get; init; }

    [JsonPropertyName("value")] public required double Value { get; init; }

    /// <summary>At most this share of negatives (ham) is flagged; recall is maximised under it.</summary>
    public const string MaxFalsePositiveRate = "maxFpr";

    /// <summary>At least this share of flagged items is positive; recall is maximised under it.</summary>
    public const string MinPrecision = "minPrecision";
}

/// <summary>A served threshold on the calibrated score, the target it was chosen for and the curve it was chosen from.</summary>
public sealed record OperatingPoint
{
    [JsonPropertyName("target")] public required OperatingTarget Target { get; init; }

    /// <summary>A score at or above this is the positive label.</summary>
    [JsonPropertyName("threshold")] public required double Threshold { get; init; }

    /// <summary>Whether some threshold met the target on the fitting data (if not: the highest-precision one was taken).</summary>
    [JsonPropertyName("targetMet")] public required bool TargetMet { get; init; }

    /// <summary>Precision, recall and false-positive rate at <see cref="Threshold"/> on the fitting data.</summary>
    [JsonPropertyName("precision")] public required double Precision { get; init; }
    [JsonPropertyName("recall")] public required double Recall { get; init; }
    [JsonPropertyName("fpr")] public required double FalsePositiveRate { get; init; }

    /// <summary>Rows (positives) of the fitting data.</summary>
    [JsonPropertyName("n")] public required int N { get; init; }
    [JsonPropertyName("positives")] public required int Positives { get; init; }

    [JsonPropertyName("fittedOn")] public string? FittedOn { get; init; }

    /// <summary>A compact precision/recall/FPR curve over thresholds on the fitting data (the chosen one included).</summary>
    [JsonPropertyName("curve")] public required IReadOnlyList<CurvePoint> Curve { get; init; }
}

/// <summary>One point of an operating curve.</summary>
public sealed record CurvePoint(
    [property: JsonPropertyName("threshold")] double Threshold,
    [property: JsonPropertyName("precision")] double Precision,
    [property: JsonPropertyName("recall")] double Recall,
    [property: JsonPropertyName("fpr")] double FalsePositiveRate);
