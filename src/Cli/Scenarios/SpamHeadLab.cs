using System.Security.Cryptography;
using System.Text;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Trainer;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;
using StreamBert.Training.FeatureExtraction;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Scenarios;

/// <summary>How reviewer labels are combined with the base data when the head is retrained.</summary>
/// <param name="Name">Short name for tables and --strategies.</param>
/// <param name="Description">What it does, for the table's legend.</param>
/// <param name="UseBase">Train on the base data (SMS) beside the labels, as the trainer does with <c>BaseData</c>.</param>
/// <param name="LabelWeight">Times each label repeats (<see cref="TrainerOptions.LabelWeight"/>); 0 = as many as make the labels weigh as much as the base data.</param>
/// <param name="CalibrateOnLabels">Fit calibration and threshold on the label rows kept from the head only, not on base rows too.</param>
internal sealed record LabelStrategy(string Name, string Description, bool UseBase, int LabelWeight, bool CalibrateOnLabels)
{
    public static IReadOnlyList<LabelStrategy> All { get; } =
    [
        new("labels", "reviewer labels only (no base data)", UseBase: false, LabelWeight: 1, CalibrateOnLabels: false),
        new("mixed", "labels + SMS base data, each label once", UseBase: true, LabelWeight: 1, CalibrateOnLabels: false),
        new("weighted", "labels ×4 + SMS base data (the trainer's LabelWeight 4)", UseBase: true, LabelWeight: 4, CalibrateOnLabels: false),
        new("balanced", "labels weighted to the base data's size (weight = base rows / label rows, 1..100) + SMS base data", UseBase: true, LabelWeight: 0, CalibrateOnLabels: false),
        new("weighted-labelcal", "labels ×4 + SMS base data; calibration and threshold fitted on label rows only", UseBase: true, LabelWeight: 4, CalibrateOnLabels: true),
    ];

    public static IReadOnlyList<LabelStrategy> Parse(string names) =>
        [.. names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n =>
            All.FirstOrDefault(s => s.Name == n) ?? throw new UsageException($"--strategies: unknown strategy '{n}' (known: {string.Join(", ", All.Select(s => s.Name))}).") )];
}

/// <summary>A spam head as served: its weights, its calibration and its threshold.</summary>
internal sealed record ServedHead(DenseHead Head, ScoreCalibrator Calibrator, double Threshold, bool TargetMet);

/// <summary>What one retraining produced, besides the head.</summary>
internal sealed record RetrainInfo(int TrainRows, int LabelTrainTexts, int CalibrationRows, int LabelWeight, double Seconds);

/// <summary>
/// Heads-only retraining of the spam head on cached encoder features, the trainer's way
/// (<see cref="LabelTrainingJob.ComposeBinary"/>, <see cref="LabelTrainingJob.HeadOptions"/>,
/// <see cref="LabelTrainingJob.FitBinaryHead"/>, <see cref="LabelTrainingJob.FitOperatingPoint"/>), scored as served:
/// the maximum margin over a text's windows through the same <see cref="DenseHead"/> code the processor runs, then the
/// calibration and the threshold. The encoder is frozen, so every text is encoded once (and kept on disk between runs);
/// each step then costs only head training.
/// </summary>
internal sealed class SpamHeadLab
{
    private readonly Dictionary<string, float[][]> _windows;
    private readonly OperatingTarget _target;
    private readonly TextWriter _log;

    private SpamHeadLab(HeadSpec spec, DenseHead baseHead, Dictionary<string, float[][]> windows, OperatingTarget target, TextWriter log)
    {
        Spec = spec;
        BaseHead = baseHead;
        _windows = windows;
        _target = target;
        _log = log;
    }

    public HeadSpec Spec { get; }

    public DenseHead BaseHead { get; }

    /// <summary>The starting model as its bundle serves it.</summary>
    public ServedHead Base => new(BaseHead, new ScoreCalibrator(Spec.Calibration), Spec.OperatingPoint?.Threshold ?? TaskHead.DefaultThreshold, Spec.OperatingPoint?.TargetMet ?? false);

    /// <summary>
    /// Loads the spam head of <paramref name="bundleDirectory"/> and the features of <paramref name="texts"/> (encoded once,
    /// kept under <paramref name="cacheDirectory"/>, default <c>&lt;STREAMBERT_CACHE&gt;/features</c>).
    /// </summary>
    public static SpamHeadLab Create(string bundleDirectory, IEnumerable<string> texts, OperatingTarget target, TextWriter log, CancellationToken ct, string? cacheDirectory = null)
    {
        var manifest = ModelRegistry.ReadManifest(bundleDirectory);
        var spec = manifest.Heads[TaskNames.Spam];
        DenseHead head;
        using (var stream = File.OpenRead(Path.Combine(bundleDirectory, spec.File)))
        {
            head = DenseHead.Load(stream);
        }

        if (manifest.Encoder.File is not null)
        {
            throw new UsageException($"{bundleDirectory} has its own (fine-tuned) encoder; the curve retrains heads on the frozen pretrained encoder.");
        }

        var distinct = texts.Distinct(StringComparer.Ordinal).ToList();
        var encoderPath = MiniLmResources.Ensure().ModelPath;
        var cacheFile = Path.Combine(cacheDirectory ?? Path.Combine(MiniLmResources.CacheRoot, "features"),
            Key($"{manifest.Encoder.Sha256}|{string.Join(",", spec.Layers)}|{spec.Pooling}|{manifest.MaxSequenceLength}|windows-32-16") + ".bin");
        var windows = FeatureFile.Read(cacheFile);
        var missing = distinct.Where(t => !windows.ContainsKey(Key(t))).ToList();
        log.WriteLine($"Features: {distinct.Count} texts, {distinct.Count - missing.Count} from the cache ({cacheFile}), {missing.Count} to encode");
        if (missing.Count > 0)
        {
            var tokenizer = WordPieceTokenizer.FromFile(Path.Combine(bundleDirectory, manifest.Encoder.Vocab));
            using var session = EncoderSession.FromFile(encoderPath, spec.Layers);
            var extractor = new FeatureExtractor(session, tokenizer, manifest.MaxSequenceLength);
            var next = 0.1;
            extractor.Progress = (done, total) =>
            {
                if (done >= next * total)
                {
                    log.WriteLine($"  encoded {done}/{total} windows");
                    next += 0.1;
                }
            };
            var computed = extractor.SequenceWindows(missing, spec.Layers, spec.Pooling ?? "mean", cancellationToken: ct);
            var added = new Dictionary<string, float[][]>(StringComparer.Ordinal);
            for (var i = 0; i < missing.Count; i++)
            {
                added[Key(missing[i])] = computed[i];
                windows[Key(missing[i])] = computed[i];
            }

            FeatureFile.Append(cacheFile, added);
        }

        var byText = distinct.ToDictionary(t => t, t => windows[Key(t)], StringComparer.Ordinal);
        return new SpamHeadLab(spec, head, byText, target, log);
    }

    /// <summary>Retrains the head on <paramref name="labels"/> (and the base rows, per <paramref name="strategy"/>) as the trainer does, and re-fits the operating point.</summary>
    public (ServedHead Head, RetrainInfo Info) Retrain(LabelStrategy strategy, IReadOnlyList<LabeledText> baseRows, IReadOnlyList<LabeledText> labels, int seed, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var noFixedTexts = new HashSet<string>(StringComparer.Ordinal);
        IReadOnlyList<LabeledText> usedBase = strategy.UseBase ? baseRows : [];
        var weight = strategy.LabelWeight;
        if (weight == 0)
        {
            var once = LabelTrainingJob.ComposeBinary(usedBase, labels, 1, noFixedTexts);
            var baseCount = once.Train.Count - once.LabelTrainTexts;
            weight = once.LabelTrainTexts == 0 ? 1 : Math.Clamp((int)Math.Round((double)baseCount / once.LabelTrainTexts), 1, 100);
        }

        var rows = LabelTrainingJob.ComposeBinary(usedBase, labels, weight, noFixedTexts);
        var gold = rows.Train.Select(r => r.Label == LabelSets.Spam ? 1 : 0).ToArray();
        if (!gold.Contains(1) || !gold.Contains(0))
        {
            // One class only (a handful of labels, no base data): no head can be trained; the served one stays.
            _log.WriteLine($"  {strategy.Name}: {rows.Train.Count} training rows hold one class; the starting model stays");
            return (Base, new RetrainInfo(rows.Train.Count, rows.LabelTrainTexts, 0, weight, clock.Elapsed.TotalSeconds));
        }

        var features = rows.Train.Select(r => _windows[r.Text][0]).ToArray();
        var head = LabelTrainingJob.FitBinaryHead(features, gold, LabelTrainingJob.HeadOptions(TaskNames.Spam, BaseHead, seed), ct);
        var calibrationRows = strategy.CalibrateOnLabels ? rows.LabelCalibration : rows.Calibration;
        var spec = LabelTrainingJob.FitOperatingPoint(TaskNames.Spam, Spec, calibrationRows, () => [.. calibrationRows.Select(r => Margin(head, r.Text))], _target, TextWriter.Null);
        var served = new ServedHead(head, new ScoreCalibrator(spec.Calibration), spec.OperatingPoint?.Threshold ?? TaskHead.DefaultThreshold, spec.OperatingPoint?.TargetMet ?? false);
        return (served, new RetrainInfo(rows.Train.Count, rows.LabelTrainTexts, calibrationRows.Count, weight, clock.Elapsed.TotalSeconds));
    }

    /// <summary>Calibrated spam scores of <paramref name="texts"/> as served.</summary>
    public double[] Scores(ServedHead head, IReadOnlyList<string> texts) => [.. texts.Select(t => head.Calibrator.Probability(Margin(head.Head, t)))];

    /// <summary>Precision, recall, F1 and FPR at the head's threshold on <paramref name="rows"/>.</summary>
    public BinaryMetrics Evaluate(ServedHead head, IReadOnlyList<LabeledText> rows) =>
        ScoreMetrics.AtThreshold(Scores(head, [.. rows.Select(r => r.Text)]), [.. rows.Select(r => r.Label == LabelSets.Spam)], head.Threshold);

    /// <summary>The positive-minus-negative logit, maximum over the text's windows: what the processor thresholds after calibration.</summary>
    public float Margin(DenseHead head, string text)
    {
        var logits = new float[2];
        var best = float.NegativeInfinity;
        foreach (var window in _windows[text])
        {
            head.Forward(window, logits);
            best = Math.Max(best, logits[1] - logits[0]);
        }

        return best;
    }

    private static string Key(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}

/// <summary>
/// The on-disk feature cache: records of (key, window count, width, floats), appended as new texts are encoded. A torn
/// last record (a run killed while writing) is cut off on read, so the next append starts on a record boundary.
/// Not safe for two processes appending at once; the scenarios run one at a time.
/// </summary>
internal static class FeatureFile
{
    public static Dictionary<string, float[][]> Read(string path)
    {
        var result = new Dictionary<string, float[][]>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return result;
        }

        long whole;
        using (var reader = new BinaryReader(File.OpenRead(path)))
        {
            whole = ReadRecords(reader, result);
        }

        if (whole < new FileInfo(path).Length)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
            file.SetLength(whole);
        }

        return result;
    }

    /// <summary>Reads whole records into <paramref name="result"/>; returns the offset after the last whole one.</summary>
    private static long ReadRecords(BinaryReader reader, Dictionary<string, float[][]> result)
    {
        long whole = 0;
        try
        {
            while (reader.BaseStream.Position < reader.BaseStream.Length)
            {
                var key = reader.ReadString();
                var count = reader.ReadInt32();
                var width = reader.ReadInt32();
                var windows = new float[count][];
                for (var w = 0; w < count; w++)
                {
                    var bytes = reader.ReadBytes(width * sizeof(float));
                    if (bytes.Length != width * sizeof(float))
                    {
                        return whole;
                    }

                    windows[w] = new float[width];
                    Buffer.BlockCopy(bytes, 0, windows[w], 0, bytes.Length);
                }

                result[key] = windows;
                whole = reader.BaseStream.Position;
            }
        }
        catch (EndOfStreamException)
        {
            // A torn last record: everything before it is whole.
        }

        return whole;
    }

    public static void Append(string path, IReadOnlyDictionary<string, float[][]> entries)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var writer = new BinaryWriter(new FileStream(path, FileMode.Append, FileAccess.Write));
        foreach (var (key, windows) in entries)
        {
            writer.Write(key);
            writer.Write(windows.Length);
            writer.Write(windows.Length == 0 ? 0 : windows[0].Length);
            foreach (var window in windows)
            {
                var bytes = new byte[window.Length * sizeof(float)];
                Buffer.BlockCopy(window, 0, bytes, 0, bytes.Length);
                writer.Write(bytes);
            }
        }
    }
}
