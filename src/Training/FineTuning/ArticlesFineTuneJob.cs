using System.Globalization;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tasks;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;
using StreamBert.Training.Modeling;
using StreamBert.Training.Native;
using StreamBert.Training.Onnx;

namespace StreamBert.Training.FineTuning;

/// <summary>What <see cref="ArticlesFineTuneJob.Run"/> produced: the bundle and each task's evaluation through the serving path.</summary>
public sealed record ArticlesFineTuneOutcome(BundleManifest Manifest, EvaluationReport Claims, EvaluationReport Ner, FineTuneResult Training);

/// <summary>
/// <c>streambert train --task articles --mode full</c>: fine-tunes one encoder for claims and NER together
/// (<see cref="ArticleFineTuner"/>) and writes it as the two-head <c>articles</c> bundle, so the processor keeps serving
/// both heads from one encoder pass per sentence with a fine-tuned encoder.
/// </summary>
/// <remarks>
/// Each task's rows are split exactly as its single-task job splits them (claims: <see cref="SequenceData.Split"/> with a
/// calibration part, then a validation part for early stopping; NER: <see cref="FineTuneJob.SplitNer"/>), so the joint
/// model's figures compare with the single-task ones row for row. The claims head gets a calibration and operating
/// point fitted on its calibration rows through the serving path, as heads-only training does; nothing is written
/// unless ONNX Runtime reproduces TorchSharp for both heads (<see cref="FineTunedBundle"/>).
/// </remarks>
public static class ArticlesFineTuneJob
{
    public const string DefaultBundle = "articles";

    public static async Task<ArticlesFineTuneOutcome> RunAsync(TrainRequest request, TextWriter log, CancellationToken cancellationToken)
        => await Task.Run(() => Run(request, log, cancellationToken), cancellationToken).ConfigureAwait(false);

    public static ArticlesFineTuneOutcome Run(TrainRequest request, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        if (request.DataFiles.Count == 0 || request.NerDataFiles.Count == 0)
        {
            throw new ArgumentException("The articles model trains on claims files (DataFiles) and NER files (NerDataFiles); both are needed.", nameof(request));
        }

        TorchRuntime.EnsureLoaded(log);
        var pretrained = MiniLmResources.Ensure();
        var tokenizer = WordPieceTokenizer.FromFile(pretrained.VocabPath);
        var options = new FineTuneOptions
        {
            Mode = FineTuneMode.Full,
            Epochs = request.FineTuneEpochs,
            BatchSize = request.BatchSize,
            EncoderLearningRate = request.FineTuneLearningRate ?? 1e-4,
            HeadLearningRate = request.HeadLearningRate ?? 1e-3,
            Seed = request.Seed,
        };

        using var encoder = BertEncoder.FromOnnx(pretrained.ModelPath, caseTypes: request.CaseTypes);
        var layers = request.Layers ?? [encoder.Config.Layers];
        log.WriteLine($"Fine-tuning claims and NER on one encoder: layers {string.Join(",", layers)}, max length {request.MaxSequenceLength}, case types {(request.CaseTypes ? "on" : "off")}, " +
                      string.Create(CultureInfo.InvariantCulture, $"batch {options.BatchSize}, epochs {options.Epochs}, lr encoder {options.EncoderLearningRate:G3} head {options.HeadLearningRate:G3}, seed {options.Seed}"));

        // Claims: the single-task split (evaluation file or hash split, exclusions, calibration part, limit), then validation.
        var claimsRequest = request with { Task = TaskNames.Claims, NerDataFiles = [] };
        var (claimsTrain, calibration, claimsTest, claimsEvaluatedOn, excluded) = SequenceData.Split(claimsRequest, log, request.CalibrationPercent);
        var (claimsFit, claimsValidation) = DatasetSplit.Split(claimsTrain, r => "validation:" + r.Text, FineTuneJob.ValidationPercent);
        var nerRequest = request with { Task = TaskNames.Ner, DataFiles = request.NerDataFiles, EvalFile = request.NerEvalFile, Limit = request.NerLimit, ExcludeFiles = [] };
        var (nerTrain, nerValidation, nerTest) = FineTuneJob.SplitNer(nerRequest);
        log.WriteLine($"Claims: train {claimsFit.Count} ({claimsFit.Count(r => r.Label == LabelSets.Claim)} {LabelSets.Claim}), validate {claimsValidation.Count}, calibrate {calibration.Count}, evaluate on {claimsEvaluatedOn}");
        log.WriteLine($"NER: train {nerTrain.Count} sentences, validate {nerValidation.Count}, evaluate {nerTest.Count}");

        var tags = LabelSets.NerTags;
        var tagIndex = tags.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        SequenceExample Claim(LabeledText r) => SequenceExample.Create(tokenizer, r.Text, r.Label == LabelSets.Claim ? 1 : 0, request.MaxSequenceLength, request.CaseTypes);
        ArticleExample Sentence(NerSentence s) => ArticleExample.Of(TokenExample.Create(tokenizer, s, tagIndex, request.MaxSequenceLength));
        var claimExamples = claimsFit.Select(Claim).ToList();
        var fit = claimExamples.Select(ArticleExample.Of).Concat(nerTrain.Select(Sentence)).ToList();
        var validation = claimsValidation.Select(r => ArticleExample.Of(Claim(r))).Concat(nerValidation.Select(Sentence)).ToList();

        TorchSharp.torch.manual_seed(request.Seed); // the heads' initial weights
        using var heads = new ArticleHeads(
            new SequenceClassificationHead(encoder.Config.Hidden, LabelSets.ClaimLabels.Count, layers, encoder.Config.Layers, request.Pooling, dropout: 0.1),
            new TokenClassificationHead(encoder.Config.Hidden, tags.Count, layers, encoder.Config.Layers, request.WordShape, dropout: 0.1));
        var weights = SequenceFineTuner.BalancedWeights(claimExamples, LabelSets.ClaimLabels.Count);
        var tuner = new ArticleFineTuner(encoder, heads, tags, options, log, weights);
        var result = tuner.Train(fit, validation, cancellationToken);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained {result.Steps} steps in {result.Elapsed.TotalSeconds:F0} s ({result.ExamplesPerSecond:F1} examples/s); best validation (mean of claim and entity F1) {result.BestMetric:F4} at step {result.BestStep}{(result.StoppedEarly ? ", stopped early" : "")}"));

        var registry = new ModelRegistry(request.Registry);
        var bundle = request.Bundle ?? DefaultBundle;
        var claimTexts = claimsTest.Select(r => r.Text).ToList();
        var sentenceTexts = nerTest.Select(s => string.Join(' ', s.Tokens)).Where(t => t.Contains(' ', StringComparison.Ordinal)).ToList();
        var training = new Dictionary<string, string>
        {
            ["task"] = TrainRequest.Articles,
            ["trainer"] = "TorchSharp joint fine-tuning (claims + ner, one encoder, mixed batches)",
            ["fineTuneMode"] = TrainModes.Full,
            ["files"] = string.Join(";", request.DataFiles.Concat(request.NerDataFiles).Select(Path.GetFileName)),
            ["claimsTrainRows"] = claimsFit.Count.ToString(CultureInfo.InvariantCulture),
            ["nerTrainSentences"] = nerTrain.Count.ToString(CultureInfo.InvariantCulture),
            ["claimsEvaluatedOn"] = claimsEvaluatedOn,
            ["nerEvaluatedOn"] = request.NerEvalFile is { } nerEval ? Path.GetFileName(nerEval) : request.DevFile is { } dev ? Path.GetFileName(dev) : "validation split",
            ["caseTypes"] = request.CaseTypes ? "true" : "false",
            ["wordShape"] = request.WordShape ? "true" : "false",
        };
        FineTuneJob.RecordRun(training, request, options, result);
        excluded?.Record(training);
        var bundleRequest = new FineTunedBundleRequest
        {
            Name = bundle,
            Encoder = encoder,
            Heads =
            [
                new ExportedHead(TaskNames.Claims, heads.Claims, LabelSets.ClaimLabels),
                new ExportedHead(TaskNames.Ner, heads.Ner, tags),
            ],
            // Half claims, half sentences: the proof covers both heads on both kinds of input.
            ParityTexts = [.. FineTuneJob.Spread(claimTexts, FineTuneJob.ParityTextCount / 2), .. FineTuneJob.Spread(sentenceTexts, FineTuneJob.ParityTextCount / 2)],
            MaxSequenceLength = request.MaxSequenceLength,
            ParentVersion = registry.CurrentVersion(bundle),
            Training = training,
        };

        var staging = Path.Combine(Path.GetTempPath(), "streambert-articles-" + Guid.NewGuid().ToString("N"));
        try
        {
            FineTunedBundle.Write(staging, "staging", bundleRequest);
            var claimSpec = HeadTrainingJob.Calibrate(claimsRequest, staging, calibration, log, cancellationToken);
            var calibrated = claimSpec is null ? bundleRequest : bundleRequest with { HeadSpecs = new Dictionary<string, HeadSpec> { [TaskNames.Claims] = claimSpec } };
            if (claimSpec is not null)
            {
                RewriteHead(staging, TaskNames.Claims, claimSpec);
            }

            EvaluationReport claims, claimsAtHalf, ner;
            using (var models = ModelSet.Load([staging]))
            {
                claims = EvaluationJob.Binary(models, TaskNames.Claims, claimsTest, LabelSets.Claim, cancellationToken);
                claimsAtHalf = EvaluationJob.Binary(models, TaskNames.Claims, claimsTest, LabelSets.Claim, cancellationToken, threshold: 0.5);
                ner = EvaluationJob.Ner(models, nerTest, cancellationToken);
            }

            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Claims ({claimsEvaluatedOn}): n {claims.N}, precision {claims.Precision:F4}, recall {claims.Recall:F4}, F1 {claims.F1:F4} at the operating point (threshold {claims.Threshold:G4}); at 0.5: precision {claimsAtHalf.Precision:F4}, recall {claimsAtHalf.Recall:F4}, F1 {claimsAtHalf.F1:F4}; ECE {claims.Ece:F4}"));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"NER ({training["nerEvaluatedOn"]}): n {ner.N}, precision {ner.Precision:F4}, recall {ner.Recall:F4}, entity F1 {ner.F1:F4}"));
            var metrics = new Dictionary<string, IReadOnlyDictionary<string, double>> { [TaskNames.Claims] = claims.ToMetrics(), [TaskNames.Ner] = ner.ToMetrics() };
            var manifest = FineTunedBundle.Publish(registry, calibrated with { Metrics = metrics });
            log.WriteLine($"Wrote {manifest.Name} {manifest.Version} (ONNX parity max abs diff {manifest.Training["onnxParityMaxAbsDiff"]})");
            return new ArticlesFineTuneOutcome(manifest, claims, ner, result);
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    /// <summary>Replaces one head's spec in a staged bundle's manifest (the head file is unchanged, so its hash still holds).</summary>
    private static void RewriteHead(string directory, string task, HeadSpec spec)
    {
        var manifest = ModelRegistry.ReadManifest(directory);
        var heads = new Dictionary<string, HeadSpec>(manifest.Heads) { [task] = spec };
        File.WriteAllText(Path.Combine(directory, ModelRegistry.ManifestFile), JsonSerializer.Serialize(manifest with { Heads = heads }, ModelRegistry.Json));
    }
}
