namespace StreamBert.Training.Jobs;

/// <summary>What <c>streambert train</c> asks for.</summary>
public sealed record TrainRequest
{
    public required string Task { get; init; }
    public required IReadOnlyList<string> DataFiles { get; init; }
    public required string Registry { get; init; }

    /// <summary>Bundle to write (defaults: spam → spam; claims, ner → articles).</summary>
    public string? Bundle { get; init; }

    /// <summary>Encoder layers whose hidden states the head reads (concatenated).</summary>
    public IReadOnlyList<int>? Layers { get; init; }

    public string Pooling { get; init; } = "mean";
    public int Hidden { get; init; }
    public int Epochs { get; init; } = 40;
    public int BatchSize { get; init; } = 32;
    public float LearningRate { get; init; } = 2e-3f;
    public int MaxSequenceLength { get; init; } = 128;
    public int Seed { get; init; } = 17;

    /// <summary>Train on at most this many examples (sentences for NER): a quick model, e.g. for the demo.</summary>
    public int? Limit { get; init; }

    /// <summary>
    /// Spam and claims: what the served threshold is chosen for on the calibration rows; null = the task's default
    /// (<see cref="Calibration.OperatingPointFinder.DefaultTarget"/>: spam FPR ≤ 0.01, claims precision ≥ 0.8).
    /// </summary>
    public Contracts.OperatingTarget? Target { get; init; }

    /// <summary>Spam and claims: share (percent) of the training rows held out to fit calibration and threshold; 0 = none.</summary>
    public int CalibrationPercent { get; init; } = Calibration.HeadCalibration.DefaultPercent;

    /// <summary>NER: append word-shape features (capitalisation, digits) to the token features.</summary>
    public bool WordShape { get; init; } = true;

    /// <summary>Optional separate file to evaluate on (e.g. ClaimBuster ground truth); otherwise the held-out split.</summary>
    public string? EvalFile { get; init; }

    /// <summary>
    /// Spam and claims: files whose texts are removed from the training and calibration rows (not from the held-out
    /// split), so a model evaluated in-domain on the held-out split can also be judged on another set it never saw
    /// (ClaimBuster groundtruth shares texts with crowdsourced). <see cref="EvalFile"/> does this for its own file but
    /// gives up the held-out split. The manifest records the files and how many rows they removed.
    /// </summary>
    public IReadOnlyList<string> ExcludeFiles { get; init; } = [];

    /// <summary>
    /// NER without <see cref="EvalFile"/>: hold out this share (percent) of the data files' documents for evaluation,
    /// by <see cref="Data.ConllReader.SplitByDocument"/>. For corpora with no official split (Wikigold); null keeps
    /// every sentence for training, as for CoNLL-2003 whose test file is separate.
    /// </summary>
    public int? NerHoldOutPercent { get; init; }

    /// <summary>
    /// <see cref="Articles"/>: NER training files (CoNLL format) beside the claims files in <see cref="DataFiles"/>;
    /// <see cref="DevFile"/> is then the NER development file and <see cref="EvalFile"/> the claims evaluation file.
    /// </summary>
    public IReadOnlyList<string> NerDataFiles { get; init; } = [];

    /// <summary><see cref="Articles"/>: train on at most this many NER sentences (<see cref="Limit"/> limits the claims rows).</summary>
    public int? NerLimit { get; init; }

    /// <summary><see cref="Articles"/>: the NER evaluation file (e.g. CoNLL test); otherwise NER is judged on its validation sentences.</summary>
    public string? NerEvalFile { get; init; }

    /// <summary>Optional development file for early stopping and feature comparison (e.g. CoNLL valid).</summary>
    public string? DevFile { get; init; }

    /// <summary>
    /// <c>heads</c> (encoder frozen) or <c>full</c> (encoder and head fine-tuned with TorchSharp,
    /// <see cref="FineTuning.FineTuneJob"/>). Heads mode runs the feature-based <see cref="HeadTrainingJob"/> unless
    /// <see cref="FineTune"/> asks for the TorchSharp loop.
    /// </summary>
    public string Mode { get; init; } = TrainModes.Heads;

    /// <summary>Run the TorchSharp fine-tuning loop even in heads mode (for a like-for-like comparison with full mode).</summary>
    public bool FineTune { get; init; }

    /// <summary>Whether this request is for <see cref="FineTuning.FineTuneJob"/> rather than <see cref="HeadTrainingJob"/>.</summary>
    public bool UsesFineTuning => Mode == TrainModes.Full || FineTune;

    /// <summary>Fine-tuning: the encoder's learning rate in full mode, the head's in heads mode (null: 5e-5 / 1e-3).</summary>
    public float? FineTuneLearningRate { get; init; }

    /// <summary>Fine-tuning, full mode: the head's learning rate (null: 1e-3).</summary>
    public float? HeadLearningRate { get; init; }

    /// <summary>Fine-tuning: maximum epochs (validation keeps the best weights).</summary>
    public int FineTuneEpochs { get; init; } = 3;

    /// <summary>
    /// Fine-tuning, NER: give the encoder case token types (<see cref="Modeling.BertConfig.CaseTypes"/>) so it sees
    /// capitals the uncased vocabulary drops; the bundle's manifest says so and serving fills them the same way.
    /// </summary>
    public bool CaseTypes { get; init; }

    /// <summary>Fine-tuning: also write an int8-quantised copy as the sibling bundle <c>&lt;bundle&gt;-int8</c>.</summary>
    public bool QuantizeInt8 { get; init; }

    /// <summary>
    /// The task of <c>train --task articles --mode full</c>: claims and NER fine-tuned together on one encoder, written as
    /// the two-head <c>articles</c> bundle (<see cref="FineTuning.ArticlesFineTuneJob"/>).
    /// </summary>
    public const string Articles = "articles";

    /// <summary>
    /// Defaults per task, chosen on held-out data (README, "Feature choices"): every head reads the
    /// concatenation of the last four layers (mean-pooled for sequence tasks, per first piece for NER)
    /// through one hidden layer; the last layer alone gave SMS spam F1 0.884 against 0.967.
    /// </summary>
    public static TrainRequest ForTask(string task) => task switch
    {
        Contracts.TaskNames.Spam => new TrainRequest { Task = task, DataFiles = [], Registry = "", Layers = [3, 4, 5, 6], Pooling = "mean", Hidden = 256, MaxSequenceLength = 128 },
        Contracts.TaskNames.Claims => new TrainRequest { Task = task, DataFiles = [], Registry = "", Layers = [3, 4, 5, 6], Pooling = "mean", Hidden = 256, MaxSequenceLength = 128 },
        Contracts.TaskNames.Ner => new TrainRequest { Task = task, DataFiles = [], Registry = "", Layers = [3, 4, 5, 6], Pooling = "mean", Hidden = 256, MaxSequenceLength = 128 },
        _ => throw new ArgumentException($"Unknown task {task}.", nameof(task)),
    };
}

/// <summary>Values of <see cref="TrainRequest.Mode"/>.</summary>
public static class TrainModes
{
    public const string Heads = "heads";
    public const string Full = "full";
}

/// <summary>Default feature choices per task, measured on development data (see README).</summary>
public static class TaskDefaults
{
    public static string BundleOf(string task) => task == Contracts.TaskNames.Spam ? "spam" : "articles";
}
