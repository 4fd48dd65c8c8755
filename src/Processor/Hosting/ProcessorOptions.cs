using System.ComponentModel.DataAnnotations;
using StreamBert.Contracts;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Hosting;

/// <summary>Topic names, configurable under <c>Topics</c>; defaults are <see cref="Contracts.Topics"/>.</summary>
public sealed class TopicNames
{
    [Required] public string Messages { get; set; } = Topics.Messages;
    [Required] public string MessagesSpam { get; set; } = Topics.MessagesSpam;
    [Required] public string Articles { get; set; } = Topics.Articles;
    [Required] public string ArticlesClaims { get; set; } = Topics.ArticlesClaims;
    [Required] public string ArticlesEntities { get; set; } = Topics.ArticlesEntities;
    [Required] public string Models { get; set; } = Topics.Models;

    public string DeadLetterOf(string inputTopic) => Topics.DeadLetterOf(inputTopic);
}

/// <summary>What the processor promises about outputs and input offsets (<c>Processor:Delivery</c>).</summary>
public enum DeliveryGuarantee
{
    /// <summary>
    /// An input offset is committed after every output it caused was acknowledged; a crash re-processes, so outputs can
    /// repeat (keyed by the input id for de-duplication). No transactions: outputs are visible as soon as acknowledged.
    /// </summary>
    AtLeastOnce,

    /// <summary>
    /// Outputs, dead letters and the input offsets that caused them commit atomically in Kafka transactions; a
    /// <c>read_committed</c> reader sees each output once. Outputs become visible only when their transaction commits
    /// (about <see cref="ProcessorOptions.CommitInterval"/>).
    /// </summary>
    ExactlyOnce,
}

/// <summary>Processor settings, bound from the <c>Processor</c> section and validated on start.</summary>
public sealed class ProcessorOptions
{
    /// <summary>Kafka bootstrap servers (also settable through <c>Kafka:Consumer:BootstrapServers</c>).</summary>
    [Required] public string BootstrapServers { get; set; } = "localhost:9092";

    [Required] public string GroupId { get; set; } = "streambert-processor";

    /// <summary>Model registry folder; the processor serves each bundle's current version.</summary>
    [Required] public string Registry { get; set; } = "";

    /// <summary>Bundles to serve (spam → messages, articles → articles); a topic is consumed only when its bundle exists.</summary>
    public string SpamBundle { get; set; } = "spam";
    public string ArticlesBundle { get; set; } = "articles";

    /// <summary>
    /// Optional bundle whose NER head serves articles instead of the articles bundle's, e.g. <c>ner-full</c> (what
    /// <c>train --task ner --mode full</c> writes); its encoder reads the same sentences beside the claims encoder.
    /// </summary>
    public string? NerBundle { get; set; }

    /// <summary>A batch closes when its padded token count reaches this.</summary>
    [Range(16, 1_000_000)] public int MaxBatchTokens { get; set; } = 4096;

    /// <summary>…or when this long has passed since its first sequence arrived.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")] public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Largest number of sequences in one batch, whatever their length.</summary>
    [Range(1, 4096)] public int MaxBatchSequences { get; set; } = 64;

    /// <summary>Records larger than this go to the dead-letter topic unparsed.</summary>
    [Range(64, 64 * 1024 * 1024)] public int MaxInputBytes { get; set; } = 256 * 1024;

    /// <summary>Windows of a long message beyond this are not scored (a spam verdict rarely needs more than the first pages).</summary>
    [Range(1, 1024)] public int MaxWindowsPerMessage { get; set; } = 16;

    /// <summary>Word pieces shared by consecutive windows of a long text.</summary>
    [Range(0, 256)] public int WindowOverlap { get; set; } = 32;

    /// <summary>
    /// Capacity of each bounded channel between stages: a safety cap on item counts only. What the process holds
    /// is limited by <see cref="MaxInFlightBytes"/> and <see cref="MaxInFlightWork"/>, because a count says nothing
    /// about memory or latency when one record can be 1,000 times another.
    /// </summary>
    [Range(1, 1_000_000)] public int ChannelCapacity { get; set; } = 1024;

    /// <summary>
    /// Most bytes of input records (key, value, headers) held between consume and produce. Ingest pauses its
    /// partitions when this or <see cref="MaxInFlightWork"/> is reached and resumes when both are below half, so
    /// under overload the backlog waits in Kafka (where consumer lag shows it) instead of in memory. Decoded text,
    /// tokens and outputs take a small multiple of these bytes; librdkafka's own queues are bounded separately
    /// (<c>queued.max.messages.kbytes</c>, <c>queue.buffering.max.kbytes</c>, see <see cref="KafkaClientSettings"/>).
    /// </summary>
    [Range(64 * 1024, 16L * 1024 * 1024 * 1024)] public long MaxInFlightBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>
    /// Most expected engine time held inside the process: tokens admitted and not yet run, divided by the tokens per
    /// second the engine is measured to run them (never less than one <see cref="MaxBatchTokens"/>, so a batch forms
    /// while the engine runs the one before it). About one
    /// second by default: an accepted record is labelled within about this long plus one batch, whatever the load.
    /// Raising it buys throughput on bursty input at the cost of latency under overload.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")] public TimeSpan MaxInFlightWork { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long ingest waits for a full in-flight budget to fall below half before it pauses its partitions. A pause
    /// makes the Kafka client drop the records it has prefetched, so after the resume the engine idles until a fetch
    /// returns; a wait keeps them. While it waits the consumer is not polled, so a rebalance waits up to this long too
    /// (well inside <c>max.poll.interval.ms</c>). Zero pauses at once.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")] public TimeSpan PauseAfter { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// <c>/healthz</c> answers 503 when work is waiting (records inside the pipeline, or consumer lag while a broker
    /// answers) and neither ingest, the engine nor egress made progress for this long. Longer than the slowest
    /// batch under load and a consumer-group rebalance, so a busy or rebalancing processor is never restarted;
    /// a broker outage is readiness' concern (<see cref="BrokerContactTimeout"/>), not liveness'.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")] public TimeSpan LivenessTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// After a stage fails, how long the other stages get to stop (and the producer to deliver what it holds)
    /// before the service gives up on them and the process exits; only offsets finished by then are committed.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")] public TimeSpan AbortTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Deliberate faults for fault-injection tests; off unless set. Never set in production.</summary>
    public ChaosOptions Chaos { get; set; } = new();

    /// <summary>
    /// Spam score at or above which a message is labelled spam. Unset (the default): the serving version's own operating
    /// point (manifest), which the trainer re-fits with every version; a fixed value here would outlive the calibration
    /// it was chosen for.
    /// </summary>
    [Range(0.0, 1.0)] public double? SpamThreshold { get; set; }

    /// <summary>Claim score at or above which a sentence is labelled claim; unset: the serving version's operating point.</summary>
    [Range(0.0, 1.0)] public double? ClaimThreshold { get; set; }

    /// <summary><c>auto</c>, <c>cpu</c> or <c>cuda</c>.</summary>
    [RegularExpression("^(auto|cpu|cuda)$")] public string Device { get; set; } = "auto";

    /// <summary>
    /// <c>fp32</c> (default) or <c>int8</c>: the encoder graph every bundle is served with. int8 serves the bundle's
    /// recorded int8 encoder, else its fp32 encoder quantised once into the cache (per-column weights, keyed by the
    /// source's sha256), so heads-only bundles are served int8 too. The default stays fp32: the measured F1 cost of int8
    /// per task is in the README ("int8"); choose int8 where that cost is acceptable for 2–3× encoder throughput.
    /// </summary>
    [RegularExpression("^(?i:fp32|int8)$", ErrorMessage = "Processor:Precision must be fp32 or int8.")]
    public string Precision { get; set; } = "fp32";

    /// <summary>
    /// <c>onnx</c> (default): the encoder and heads run through ONNX Runtime. <c>null</c>: no model runs; every sequence
    /// gets fixed outputs of the heads' shapes (<see cref="Inference.NullInferenceEngine"/>), so the rest of the pipeline
    /// — Kafka, parsing, tokenizing, batching, postprocessing, egress, commits — can be measured on its own
    /// (<c>streambert bench --engine null</c>). Its labels mean nothing: never serve with it.
    /// </summary>
    [RegularExpression("^(onnx|null)$", ErrorMessage = "Processor:Engine must be onnx or null.")]
    public string Engine { get; set; } = "onnx";

    /// <summary>
    /// Threads that parse and tokenize records side by side (0 = one per core, at most 4). Records leave the stage in the
    /// order they were consumed whatever the count, so batches are still cut oldest first and each partition's records
    /// reach the engine in offset order. One thread parses and tokenizes ~35–45k SMS-sized messages/s; with a model
    /// engine the encoder, not this stage, is the bound, and extra threads only matter with a fast engine (GPU, int8).
    /// </summary>
    [Range(0, 64)] public int PreprocessWorkers { get; set; }

    /// <summary><see cref="PreprocessWorkers"/> with 0 resolved to the core count, at most 4.</summary>
    public int EffectivePreprocessWorkers => PreprocessWorkers > 0 ? PreprocessWorkers : Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>ONNX Runtime threads per operator; 0 = one per core.</summary>
    [Range(0, 256)] public int IntraOpThreads { get; set; }

    /// <summary>
    /// Several short sequences share one encoder row (block-diagonal attention, positions per sequence), so batches
    /// carry almost no padding and are cut oldest first; off, each sequence has a row and batches group similar lengths.
    /// </summary>
    public bool Packing { get; set; } = true;

    /// <summary>
    /// The task heads run inside the encoder's ONNX Runtime graph, one call per batch returning their outputs; off, the
    /// session returns hidden states and the C# heads read them (kept to measure one against the other).
    /// </summary>
    public bool HeadsInGraph { get; set; } = true;

    /// <summary>
    /// On CPU, the encoder graph is rewritten so ONNX Runtime picks its faster CPU kernels (residual Adds kept apart from
    /// the layer norms, int8 MatMuls adding their own bias, fp32 attention fused; same function): measured +21 % int8 and
    /// +5 % fp32 encoder throughput (README, "CPU graph tuning"). Off, ONNX Runtime's own fusions decide (kept to measure).
    /// </summary>
    public bool CpuGraphTuning { get; set; } = true;

    /// <summary>
    /// Packing's cost model: the row length at which a position's attention costs as much as its dense layers (rows ×
    /// length × (1 + length / this)); smaller prefers shorter rows. 0 = the measured default of the encoder's precision
    /// (fp32 1500, int8 720 on the reference CPU); re-measure with <c>streambert bench-ceiling --breakdown</c> on other
    /// hardware — on a GPU, where attention is cheap and large rows are what it wants, set it high.
    /// </summary>
    [Range(0, 1_000_000)] public double PackingAttentionLength { get; set; }

    /// <summary>
    /// How often finished offsets are committed; with <see cref="DeliveryGuarantee.ExactlyOnce"/>, how long a transaction
    /// stays open before it is committed (so also how long outputs wait before a <c>read_committed</c> reader sees them).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")] public TimeSpan CommitInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary><see cref="DeliveryGuarantee.AtLeastOnce"/> (default) or <see cref="DeliveryGuarantee.ExactlyOnce"/>.</summary>
    [EnumDataType(typeof(DeliveryGuarantee))] public DeliveryGuarantee Delivery { get; set; } = DeliveryGuarantee.AtLeastOnce;

    /// <summary>
    /// The producer's <c>transactional.id</c> under <see cref="DeliveryGuarantee.ExactlyOnce"/>; by default
    /// <c>{GroupId}-{host name}</c> (<see cref="EffectiveTransactionalId"/>). Trade-off: an id that is stable across
    /// restarts lets a restarted instance fence its zombie predecessor and abort the transaction it left open at once
    /// (otherwise <c>read_committed</c> readers wait up to <c>transaction.timeout.ms</c> on it); but two live instances
    /// with the same id fence each other (the older one fails fatally and exits), so the id must be unique per running
    /// instance: the host name is on Kubernetes (pod name) and Compose; set this explicitly when several processors
    /// share one host. Offsets are fenced per consumer-group generation (KIP-447), not by this id.
    /// </summary>
    [MinLength(1)] public string? TransactionalId { get; set; }

    /// <summary><see cref="TransactionalId"/>, or the default derived from <see cref="GroupId"/> and the host name.</summary>
    public string EffectiveTransactionalId => string.IsNullOrWhiteSpace(TransactionalId) ? $"{GroupId}-{Environment.MachineName}" : TransactionalId;

    /// <summary>Port of <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c>; -1 turns them off, 0 takes a free port (tests).</summary>
    [Range(-1, 65535)] public int MetricsPort { get; set; } = 9464;

    /// <summary>Address those endpoints bind: an IP address or <c>localhost</c>.</summary>
    [Required] public string MetricsHost { get; set; } = "0.0.0.0";

    /// <summary><c>/readyz</c> reports unready when no broker answered a metadata probe for this long (probes run every 2 s).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")] public TimeSpan BrokerContactTimeout { get; set; } = TimeSpan.FromSeconds(10);

    // ---- Limits on what one record may cost (poison pills) ----------------------------------------------------------
    // The producer's message.max.bytes (Kafka:Producer, default 1,000,000) is the third limit: an output set that would
    // not fit under it is not produced; the input goes to its dead-letter topic with the sizes in the reason.

    /// <summary>
    /// An article whose body splits into more sentences than this goes to the dead-letter topic, before any encoder work,
    /// with the count in its reason. Each sentence is one encoder sequence and one entry of the claims record, so the cap
    /// bounds both the engine time one record can take and the size of its output: a 255 KB body of "A. A. A. …" is
    /// 87,000 sentences. Trade-off: a real article longer than this (a long transcript) is refused whole rather than
    /// labelled in part, because a claims record covering only its first sentences would look complete and not be.
    /// Default 1,000: long news features have a few hundred.
    /// </summary>
    [Range(1, 1_000_000)] public int MaxSentencesPerArticle { get; set; } = 1000;

    /// <summary>
    /// An article needing more encoder windows than this, over all its sentences (a sentence longer than the model's
    /// length takes several overlapping windows), goes to the dead-letter topic with the reason; it bounds the engine
    /// time of one article as <see cref="MaxSentencesPerArticle"/> cannot when the body is one endless "sentence".
    /// Messages are capped differently (<see cref="MaxWindowsPerMessage"/>: the first windows are scored, the rest
    /// ignored), because one spam verdict does not claim to cover every window while an article's outputs do.
    /// Default 1,500: prose takes one window per sentence, so this leaves room for long sentences within
    /// <see cref="MaxSentencesPerArticle"/>.
    /// </summary>
    [Range(1, 1_000_000)] public int MaxWindowsPerArticle { get; set; } = 1500;
}

/// <summary>
/// Fault injection (<c>Processor:Chaos</c>), for tests that prove a failing stage stops the process instead of
/// hanging it: after <see cref="FaultAfter"/> items, the named stage throws on every further item.
/// </summary>
public sealed class ChaosOptions
{
    /// <summary>Empty (off), <c>engine</c> (per batch), <c>postprocess</c> (per document) or <c>egress</c> (per output set).</summary>
    [RegularExpression("^(|engine|postprocess|egress)$")] public string FaultStage { get; set; } = "";

    /// <summary>Items the stage handles normally before the first injected fault.</summary>
    [Range(0, int.MaxValue)] public int FaultAfter { get; set; }
}
