using System.CommandLine;
using System.Globalization;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Training.FineTuning;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Commands;

internal static class TrainCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "spam | claims | ner | articles (claims and ner fine-tuned on one encoder: --mode full, --data claims files, --ner-data)", Required = true };
        task.AcceptOnlyFromAmong(TaskNames.Spam, TaskNames.Claims, TaskNames.Ner, TrainRequest.Articles);
        var data = new Option<string[]>("--data")
        {
            Description = "Training file(s); repeat for several (ner without it: CoNLL-2003 from STREAMBERT_DATA, else the shipped Wikigold with 15% of its documents held out)",
            AllowMultipleArgumentsPerToken = true,
        };
        var registry = new Option<string>("--registry")
        {
            Description = $"Model registry folder (default: Processor:Registry, else {ModelRegistry.DefaultRoot})",
            DefaultValueFactory = _ => Configured.Value("Processor:Registry") ?? ModelRegistry.DefaultRoot,
        };
        var bundle = new Option<string?>("--bundle") { Description = "Bundle to write (default: spam for spam, articles for claims and ner)" };
        var layers = new Option<string?>("--layers") { Description = "Encoder layers to concatenate, e.g. 6 or 3,4,5,6 (default per task)" };
        var hidden = new Option<int?>("--hidden") { Description = "Hidden units of the head (0 = linear)" };
        var epochs = new Option<int?>("--epochs") { Description = "Maximum epochs (early stopping decides)" };
        var evalFile = new Option<string?>("--eval") { Description = "Evaluate on this file instead of the held-out split" };
        var exclude = new Option<string[]>("--exclude")
        {
            Description = "Spam and claims: remove the texts of these files from training and calibration but keep the held-out split (a set you judge the model on later with eval, e.g. ClaimBuster groundtruth); recorded in the manifest",
            AllowMultipleArgumentsPerToken = true,
        };
        var limit = new Option<int?>("--limit") { Description = "Train on at most this many examples (a quick model)" };
        var devFile = new Option<string?>("--dev") { Description = "Development file for early stopping (ner: CoNLL valid)" };
        var mode = new Option<string>("--mode")
        {
            Description = "heads: frozen encoder (the feature-based head job unless a fine-tuning option is given); full: fine-tune encoder and head with TorchSharp",
            DefaultValueFactory = _ => TrainModes.Heads,
        };
        mode.AcceptOnlyFromAmong(TrainModes.Heads, TrainModes.Full);
        var lr = new Option<float?>("--lr") { Description = "Fine-tuning: encoder learning rate in full mode (default 5e-5; ner 1e-4), head learning rate in heads mode (default 1e-3)" };
        var headLr = new Option<float?>("--head-lr") { Description = "Fine-tuning, full mode: head learning rate (default 1e-3)" };
        var batchSize = new Option<int?>("--batch-size") { Description = "Fine-tuning: examples per step (default 32; ner in full mode 16)" };
        var maxLength = new Option<int?>("--max-length") { Description = "Fine-tuning: word pieces per example including [CLS] and [SEP] (default 128)" };
        var caseTypes = new Option<bool?>("--case-types") { Description = "Fine-tuning, ner: the encoder reads each word's case (none, initial, all capitals) as its token type (default: on for ner in full mode)" };
        var int8 = new Option<bool>("--int8") { Description = "Also record an int8 encoder in the new version (served with Processor:Precision=int8); fine-tuning also writes <bundle>-int8 and compares it with fp32" };
        var maxFpr = new Option<double?>("--max-fpr") { Description = "Spam and claims, heads mode: choose the served threshold for at most this false-positive rate on the calibration rows (default spam 0.01)" };
        var nerData = new Option<string[]>("--ner-data")
        {
            Description = "articles: NER training file(s) in CoNLL format, beside the claims files of --data (--dev is then the NER development file, --eval the claims evaluation file)",
            AllowMultipleArgumentsPerToken = true,
        };
        var nerEval = new Option<string?>("--ner-eval") { Description = "articles: evaluate NER on this CoNLL file (default: its validation sentences)" };
        var nerLimit = new Option<int?>("--ner-limit") { Description = "articles: train on at most this many NER sentences (--limit limits the claims rows)" };
        var minPrecision = new Option<double?>("--min-precision") { Description = "Spam and claims, heads mode: choose the served threshold for at least this precision on the calibration rows (default claims 0.8)" };
        var command = new Command("train", "Train a task head (or fine-tune the encoder with it) and write a new bundle version")
        {
            task, data, registry, bundle, layers, hidden, epochs, evalFile, exclude, devFile, limit, mode, lr, headLr, batchSize, maxLength, caseTypes, int8, maxFpr, minPrecision,
            nerData, nerEval, nerLimit,
        };
        // Bad values end at parsing, with one line naming the flag, instead of deep inside a training run.
        CommandChecks.Files(data, evalFile, devFile, exclude);
        CommandChecks.Files(nerData, nerEval);
        CommandChecks.AtLeast(nerLimit, 1);
        command.Validators.Add(r =>
        {
            // Raw tokens: GetValue throws for a task the option itself refuses, which reports its own error.
            static string? Given(System.CommandLine.Parsing.OptionResult? option) => option?.Tokens is [var first, ..] ? first.Value : null;
            var articles = Given(r.GetResult(task)) == TrainRequest.Articles;
            if (articles && (Given(r.GetResult(mode)) != TrainModes.Full || r.GetValue(nerData) is not { Length: > 0 }))
            {
                r.AddError("--task articles fine-tunes one encoder for claims and ner: give --mode full, --data (claims) and --ner-data (CoNLL).");
            }
            else if (!articles && (r.GetValue(nerData) is { Length: > 0 } || r.GetValue(nerEval) is not null || r.GetValue(nerLimit) is not null))
            {
                r.AddError("--ner-data, --ner-eval and --ner-limit are for --task articles.");
            }
        });
        CommandChecks.AtLeast(hidden, 0);
        CommandChecks.AtLeast(epochs, 1);
        CommandChecks.AtLeast(limit, 1);
        CommandChecks.AtLeast(batchSize, 1);
        CommandChecks.Between(maxLength, 8, 512);
        CommandChecks.Positive(lr);
        CommandChecks.Positive(headLr);
        command.Validators.Add(r =>
        {
            if (r.GetValue(data) is not { Length: > 0 } && r.GetValue(task) != TaskNames.Ner)
            {
                r.AddError("--data is required for spam and claims.");
            }
        });
        command.Validators.Add(r =>
        {
            if (r.GetValue(exclude) is { Length: > 0 } && r.GetValue(task) == TaskNames.Ner)
            {
                r.AddError("--exclude matches spam and claims rows by text; it does not apply to ner.");
            }
        });
        CommandChecks.Between(maxFpr, 0.0, 1.0);
        CommandChecks.Between(minPrecision, 0.0, 1.0);
        command.Validators.Add(r =>
        {
            if (r.GetValue(maxFpr) is not null && r.GetValue(minPrecision) is not null)
            {
                r.AddError("--max-fpr and --min-precision are two targets for one threshold: give one.");
            }
        });
        layers.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } l && !l.Split(',').All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1))
            {
                r.AddError($"--layers {l}: expected encoder layer numbers from 1, comma-separated, e.g. 6 or 3,4,5,6.");
            }
        });
        command.SetAction(async (result, ct) =>
        {
            if (result.GetValue(task) == TrainRequest.Articles)
            {
                var jointDefaults = FullModeDefaults.For(TrainRequest.Articles);
                var joint = TrainRequest.ForTask(TaskNames.Claims) with
                {
                    Task = TrainRequest.Articles,
                    Mode = TrainModes.Full,
                    DataFiles = result.GetValue(data) ?? [],
                    NerDataFiles = result.GetValue(nerData) ?? [],
                    Registry = result.GetValue(registry)!,
                    Bundle = result.GetValue(bundle),
                    EvalFile = result.GetValue(evalFile),
                    NerEvalFile = result.GetValue(nerEval),
                    ExcludeFiles = result.GetValue(exclude) ?? [],
                    DevFile = result.GetValue(devFile),
                    Limit = result.GetValue(limit),
                    NerLimit = result.GetValue(nerLimit),
                    Layers = result.GetValue(layers) is { } jointLayers ? [.. jointLayers.Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture))] : null,
                    FineTuneLearningRate = result.GetValue(lr) ?? (float)jointDefaults.EncoderLearningRate,
                    HeadLearningRate = result.GetValue(headLr),
                    CaseTypes = result.GetValue(caseTypes) ?? jointDefaults.CaseTypes,
                    BatchSize = result.GetValue(batchSize) ?? jointDefaults.BatchSize,
                    MaxSequenceLength = result.GetValue(maxLength) ?? 128,
                    FineTuneEpochs = result.GetValue(epochs) ?? jointDefaults.Epochs,
                    Target = result.GetValue(minPrecision) is { } jointPrecision ? new OperatingTarget { Metric = OperatingTarget.MinPrecision, Value = jointPrecision }
                        : result.GetValue(maxFpr) is { } jointFpr ? new OperatingTarget { Metric = OperatingTarget.MaxFalsePositiveRate, Value = jointFpr }
                        : null,
                };
                var articles = await ArticlesFineTuneJob.RunAsync(joint, Console.Out, ct);
                Console.WriteLine($"Wrote {articles.Manifest.Name} {articles.Manifest.Version} to {Path.Combine(joint.Registry, articles.Manifest.Name, articles.Manifest.Version)}: claims F1 {articles.Claims.F1:F4}, entity F1 {articles.Ner.F1:F4}");
                if (result.GetValue(int8))
                {
                    Console.WriteLine(ModelsCommand.QuantizeVersion(new ModelRegistry(joint.Registry), articles.Manifest.Name, articles.Manifest.Version));
                }

                return 0;
            }

            var request = TrainRequest.ForTask(result.GetValue(task)!) with
            {
                DataFiles = result.GetValue(data) ?? [],
                Registry = result.GetValue(registry)!,
                Bundle = result.GetValue(bundle),
                EvalFile = result.GetValue(evalFile),
                ExcludeFiles = result.GetValue(exclude) ?? [],
                DevFile = result.GetValue(devFile),
                Limit = result.GetValue(limit),
                Target = result.GetValue(maxFpr) is { } fpr ? new OperatingTarget { Metric = OperatingTarget.MaxFalsePositiveRate, Value = fpr }
                    : result.GetValue(minPrecision) is { } precision ? new OperatingTarget { Metric = OperatingTarget.MinPrecision, Value = precision }
                    : null,
            };
            if (request.DataFiles.Count == 0)
            {
                // Only ner gets here without --data (the validator above); name the data set, since F1 on Wikigold and on CoNLL differ.
                var ner = NerTrainingData.Find();
                if (ner is null)
                {
                    await Console.Error.WriteLineAsync("No NER data: neither CoNLL-2003 (STREAMBERT_DATA, default ../shared/data) nor data/ner/wikigold.conll.txt was found; pass --data.");
                    return 1;
                }

                Console.WriteLine($"NER data: {ner.Name}");
                request = request with
                {
                    DataFiles = [ner.Train],
                    DevFile = request.DevFile ?? ner.Dev,
                    EvalFile = request.EvalFile ?? ner.Eval,
                    NerHoldOutPercent = ner.HoldOutPercent,
                };
            }
            if (result.GetValue(layers) is { } l)
            {
                request = request with { Layers = [.. l.Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture))] };
            }

            if (result.GetValue(hidden) is { } h)
            {
                request = request with { Hidden = h };
            }

            if (result.GetValue(epochs) is { } e)
            {
                request = request with { Epochs = e };
            }

            // Heads mode keeps the feature-based job (and its defaults) unless an option only the TorchSharp loop reads is given.
            request = request with
            {
                Mode = result.GetValue(mode)!,
                FineTune = result.GetValue(lr) is not null || result.GetValue(headLr) is not null || result.GetValue(batchSize) is not null
                    || result.GetValue(maxLength) is not null || (result.GetValue(int8) && result.GetValue(mode) != TrainModes.Heads) || result.GetValue(caseTypes) is not null,
            };
            if (!request.UsesFineTuning)
            {
                var manifest = await HeadTrainingJob.RunAsync(request, Console.Out, ct);
                Console.WriteLine($"Wrote {manifest.Name} {manifest.Version} to {Path.Combine(request.Registry, manifest.Name, manifest.Version)}");
                if (result.GetValue(int8))
                {
                    Console.WriteLine(ModelsCommand.QuantizeVersion(new ModelRegistry(request.Registry), manifest.Name, manifest.Version));
                }

                return 0;
            }

            var full = request.Mode == TrainModes.Full;
            var defaults = full ? FullModeDefaults.For(request.Task) : null;
            request = request with
            {
                FineTuneLearningRate = result.GetValue(lr) ?? (float?)defaults?.EncoderLearningRate,
                HeadLearningRate = result.GetValue(headLr),
                QuantizeInt8 = result.GetValue(int8),
                CaseTypes = result.GetValue(caseTypes) ?? defaults?.CaseTypes ?? false,
                BatchSize = result.GetValue(batchSize) ?? defaults?.BatchSize ?? request.BatchSize,
                MaxSequenceLength = result.GetValue(maxLength) ?? request.MaxSequenceLength,
                FineTuneEpochs = result.GetValue(epochs) ?? defaults?.Epochs ?? request.FineTuneEpochs,
                // Without --layers each mode picks its own (full: the last layer); the per-task default is the frozen-feature choice.
                Layers = result.GetValue(layers) is null ? null : request.Layers,
            };
            var outcome = await FineTuneJob.RunAsync(request, Console.Out, ct);
            Console.WriteLine($"Wrote {outcome.Manifest.Name} {outcome.Manifest.Version} to {Path.Combine(request.Registry, outcome.Manifest.Name, outcome.Manifest.Version)}: F1 {outcome.Evaluation.F1:F4}");
            if (outcome.Quantized is { } q)
            {
                Console.WriteLine($"int8 {q.Manifest.Name} {q.Manifest.Version}: F1 {q.Quantized.F1:F4} (fp32 {q.Fp32.F1:F4}), throughput {q.QuantizedPerSecond:F1} vs {q.Fp32PerSecond:F1} texts/s = {q.SpeedUp:F2}x");
                // The fp32 version also records its int8 encoder, so Processor:Precision=int8 serves it without the sibling bundle.
                Console.WriteLine(ModelsCommand.QuantizeVersion(new ModelRegistry(request.Registry), outcome.Manifest.Name, outcome.Manifest.Version));
            }

            return 0;
        });
        return command;
    }
}
