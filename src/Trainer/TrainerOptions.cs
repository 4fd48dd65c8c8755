using System.ComponentModel.DataAnnotations;
using StreamBert.Contracts;

namespace StreamBert.Trainer;

/// <summary>Training service settings, bound from the <c>Trainer</c> section and validated on start.</summary>
public sealed class TrainerOptions
{
    [Required] public string BootstrapServers { get; set; } = "localhost:9092";

    [Required] public string GroupId { get; set; } = "streambert-trainer";

    /// <summary>Model registry the trainer reads the current versions from and publishes new ones to.</summary>
    [Required] public string Registry { get; set; } = "";

    /// <summary>A run starts once this many new labels of a task arrived…</summary>
    [Range(1, 10_000_000)] public int MinNewLabels { get; set; } = 500;

    /// <summary>…or this long after the first label not yet trained on, whichever comes first.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")] public TimeSpan MaxWait { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The candidate is published only if, on every evaluation set, its recall at the operating point (or its F1, against a
    /// current version without one) is at least the current one's minus this, and it meets its operating target there
    /// (or misses it by no more than this beyond the current version; <see cref="Training.Jobs.QualityGate"/>).
    /// </summary>
    [Range(0.0, 1.0)] public double Tolerance { get; set; } = 0.005;

    /// <summary>Labelled files the model was built from, per task (spam → SMS Spam Collection …): reviewers' labels add to them.</summary>
    public Dictionary<string, string[]> BaseData { get; set; } = new(StringComparer.Ordinal);

    /// <summary>A fixed evaluation file per task, judged beside the held-out split of the labels.</summary>
    public Dictionary<string, string> EvalFiles { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Held-out labels below this count are too few to judge on; the fixed file (if any) decides alone.</summary>
    [Range(1, 1_000_000)] public int MinHeldOutLabels { get; set; } = 20;

    /// <summary>
    /// Memory for each task's labels (an estimate: UTF-16 strings plus per-label overhead). The trainer keeps the latest
    /// label per item (text or NER sentence); past this the labels that arrived first are evicted (<see cref="LabelBook"/>).
    /// </summary>
    [Range(1024L, 64L * 1024 * 1024 * 1024)] public long MaxBookBytesPerTask { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// <c>/healthz</c> answers 503 when the consume loop (or the training run it is in) made no progress for this long
    /// while labels wait: consumer lag, or a run under way. Training runs report progress every few seconds to minutes.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")] public TimeSpan LivenessTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Records larger than this go to the labels dead-letter topic unparsed.</summary>
    [Range(64, 64 * 1024 * 1024)] public int MaxLabelBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// Port of <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c>: 9464 like the processor's (one per container); set
    /// another when both run on one host. -1 turns them off, 0 takes a free port (tests).
    /// </summary>
    [Range(-1, 65535)] public int MetricsPort { get; set; } = 9464;

    [Required] public string MetricsHost { get; set; } = "0.0.0.0";

    [Range(1, 10_000)] public int Seed { get; set; } = 17;

    /// <summary>Each reviewer label counts this many times against the base data in training.</summary>
    [Range(1, 100)] public int LabelWeight { get; set; } = 4;

    /// <summary>
    /// The bundle each task's labels retrain (spam → <c>spam</c>, claims and ner → <c>articles</c> unless set here, e.g.
    /// ner → <c>ner-full</c> to keep fine-tuning the encoder that <c>train --mode full</c> wrote).
    /// </summary>
    public Dictionary<string, string> Bundles { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Continuing a fine-tuned version: passes over the training rows (the encoder moves with the head).</summary>
    [Range(1, 100)] public int FineTuneEpochs { get; set; } = 1;

    /// <summary>Continuing a fine-tuned version: the encoder's learning rate (below a first fine-tuning's, it starts trained).</summary>
    [Range(1e-7, 1e-2)] public double FineTuneLearningRate { get; set; } = 2e-5;

    /// <summary>Continuing a fine-tuned version: the head's learning rate.</summary>
    [Range(1e-7, 1.0)] public double FineTuneHeadLearningRate { get; set; } = 1e-4;

    [Range(1, 4096)] public int FineTuneBatchSize { get; set; } = 16;

    /// <summary>Spam: every run chooses the served threshold for at most this share of ham flagged (on its calibration rows).</summary>
    [Range(0.0, 1.0)] public double SpamMaxFalsePositiveRate { get; set; } = 0.01;

    /// <summary>Claims: every run chooses the served threshold for at least this precision (on its calibration rows).</summary>
    [Range(0.0, 1.0)] public double ClaimsMinPrecision { get; set; } = 0.8;

    /// <summary>The operating target of <paramref name="task"/> (spam, claims).</summary>
    public OperatingTarget TargetOf(string task) => task == TaskNames.Spam
        ? new OperatingTarget { Metric = OperatingTarget.MaxFalsePositiveRate, Value = SpamMaxFalsePositiveRate }
        : new OperatingTarget { Metric = OperatingTarget.MinPrecision, Value = ClaimsMinPrecision };

    /// <summary>The bundle <paramref name="task"/>'s labels retrain.</summary>
    public string BundleOf(string task) => Bundles.GetValueOrDefault(task) ?? Training.Jobs.TaskDefaults.BundleOf(task);
}

/// <summary>Topic names of the trainer, configurable under <c>Topics</c>.</summary>
public sealed class TrainerTopics
{
    [Required] public string LabelsSpam { get; set; } = Topics.LabelsSpam;
    [Required] public string LabelsClaims { get; set; } = Topics.LabelsClaims;
    [Required] public string LabelsEntities { get; set; } = Topics.LabelsEntities;
    [Required] public string LabelsDlq { get; set; } = Topics.LabelsDlq;
    [Required] public string Models { get; set; } = Topics.Models;
    [Required] public string TrainerRuns { get; set; } = Topics.TrainerRuns;

    public string? TaskOf(string topic) =>
        topic == LabelsSpam ? TaskNames.Spam
        : topic == LabelsClaims ? TaskNames.Claims
        : topic == LabelsEntities ? TaskNames.Ner
        : null;
}
