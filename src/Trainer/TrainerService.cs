using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Training.Data;
using StreamBert.Service.Diagnostics;
using StreamBert.Service.Hosting;

namespace StreamBert.Trainer;

/// <summary>
/// The training service: consumes reviewers' labels, keeps every usable one (bad ones go to the labels
/// dead-letter topic with the reason), and when a task has <see cref="TrainerOptions.MinNewLabels"/> new
/// labels or its oldest untrained label is <see cref="TrainerOptions.MaxWait"/> old, retrains from the current
/// version (<see cref="LabelTrainingJob"/>). A candidate that passes the quality gate becomes a new registry
/// version and a <see cref="ModelPublished"/> event on the models topic; then the label offsets it used are
/// committed. On restart the label topics are re-read from the beginning (the training set is every label held:
/// the latest per item, within <see cref="TrainerOptions.MaxBookBytesPerTask"/>, see <see cref="LabelBook"/>), and only
/// records past the committed offsets count as new. A fatal Kafka client error, or a dead-letter copy the broker did
/// not take, stops the host (exit code 1) before any offset is committed past it; the consume loop's progress is
/// what <c>/healthz</c> reports (<see cref="Liveness"/>). Every run, refused and failed ones included, ends with a
/// <see cref="TrainingRunReport"/> on the trainer-runs topic, sent best effort after the verdict (<see cref="RunReporter"/>).
/// </summary>
public sealed partial class TrainerService : BackgroundService, IReadinessProbe, ILivenessProbe
{
    public const string MeterName = "StreamBert.Trainer";

    private readonly TrainerOptions _options;
    private readonly TrainerTopics _topics;
    private readonly KafkaClientSettings _kafka;
    private readonly ILogger<TrainerService> _logger;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _labels;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _runs;
    private readonly Histogram<double> _runSeconds;
    private readonly Counter<long> _reportsFailed;
    private long _runNumber;
    private readonly Dictionary<string, LabelBook> _book;

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile TrainingOutcome? _lastOutcome;

    // Written by librdkafka's threads (error handler, delivery reports), acted on by the consume loop.
    private Error? _fatalClientError;
    private DeadLetterFailure? _deadLetterFailure;

    // Liveness: when the loop (or the run it is in) last moved, what waited for it, and whether it ended in a fault.
    private long _lastProgress = Environment.TickCount64;
    private long _lag;
    private volatile bool _inRun;
    private volatile Exception? _loopFault;

    public TrainerService(IOptions<TrainerOptions> options, IOptions<TrainerTopics> topics, IOptions<KafkaClientSettings> kafka, ILogger<TrainerService> logger, IHostApplicationLifetime lifetime)
    {
        _options = options.Value;
        _topics = topics.Value;
        _kafka = kafka.Value;
        _logger = logger;
        _lifetime = lifetime;
        _book = new(StringComparer.Ordinal)
        {
            [TaskNames.Spam] = new(_options.MaxBookBytesPerTask),
            [TaskNames.Claims] = new(_options.MaxBookBytesPerTask),
            [TaskNames.Ner] = new(_options.MaxBookBytesPerTask),
        };
        _labels = _meter.CreateCounter<long>("streambert_trainer_labels", description: "Label records accepted");
        _deadLettered = _meter.CreateCounter<long>("streambert_trainer_labels_dead_lettered", description: "Label records sent to the labels dead-letter topic");
        _runs = _meter.CreateCounter<long>("streambert_trainer_runs", description: "Training runs by task and result (published, refused, failed, unannounced)");
        _reportsFailed = _meter.CreateCounter<long>("streambert_trainer_run_reports_failed", description: "Training run reports the trainer-runs topic did not take (the run itself is unaffected)");
        _runSeconds = _meter.CreateHistogram("streambert_trainer_run_seconds", unit: "s", description: "Wall time of a training run",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [5, 15, 30, 60, 120, 300, 600, 1800, 3600] });
        _meter.CreateObservableGauge("streambert_trainer_last_f1", ObserveLastScores, description: "F1 of the last run's candidate and of the version it was judged against, per evaluation set");
        _meter.CreateObservableGauge("streambert_trainer_pending_labels", () => _book.Select(b => new Measurement<int>(b.Value.Pending, new KeyValuePair<string, object?>("task", b.Key))), description: "Labels not yet trained on");
        _meter.CreateObservableGauge("streambert_trainer_book_labels", () => _book.Select(b => new Measurement<int>(b.Value.Count, new KeyValuePair<string, object?>("task", b.Key))), description: "Labels held in memory (latest per item)");
        _meter.CreateObservableGauge("streambert_trainer_book_bytes", () => _book.Select(b => new Measurement<long>(b.Value.Bytes, new KeyValuePair<string, object?>("task", b.Key))), unit: "By", description: "Estimated memory of the labels held, per task (bounded by Trainer:MaxBookBytesPerTask)");
        _meter.CreateObservableCounter("streambert_trainer_book_evicted", () => _book.Select(b => new Measurement<long>(b.Value.Evicted, new KeyValuePair<string, object?>("task", b.Key))), description: "Labels evicted, oldest first, to stay within Trainer:MaxBookBytesPerTask");
    }

    /// <summary>Raised after every run (published or not).</summary>
    public event Action<TrainingOutcome>? RunCompleted;

    /// <summary>Raised while a run starts: task and how many labels it has.</summary>
    public event Action<string, int>? RunStarted;

    /// <summary>Set once the service consumes its topics.</summary>
    public Task Started => _started.Task;

    public TrainingOutcome? LastOutcome => _lastOutcome;

    /// <summary>Labels accepted so far, per task.</summary>
    public IReadOnlyDictionary<string, int> LabelCounts => _book.ToDictionary(b => b.Key, b => b.Value.Count);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() =>
        {
            try
            {
                Loop(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                _loopFault = ex;
                _started.TrySetException(ex);
                LogFatal(_logger, ex);
                Environment.ExitCode = 1;
                _lifetime.StopApplication();
                throw;
            }
        }, stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Ready once consuming, with a current version to start runs from.</summary>
    public ReadinessReport Readiness()
    {
        var reasons = new List<string>();
        if (!_started.Task.IsCompletedSuccessfully)
        {
            reasons.Add("not consuming labels yet");
        }

        var registry = new ModelRegistry(_options.Registry);
        var models = registry.Bundles()
            .Select(b => (Bundle: b, Version: registry.CurrentVersion(b)))
            .Where(b => b.Version is not null)
            .ToDictionary(b => b.Bundle, b => b.Version!, StringComparer.Ordinal);
        if (models.Count == 0)
        {
            reasons.Add($"no current model version in {registry.Root}");
        }

        return new ReadinessReport(reasons.Count == 0 ? "ready" : "unready", reasons, models);
    }

    /// <summary>
    /// Stalled when the consume loop — or the training run it is in, through the run's progress lines — has not moved
    /// for <see cref="TrainerOptions.LivenessTimeout"/> while labels wait (consumer lag, or the run itself); dead once
    /// the loop ended in a fault. An idle trainer with nothing to read is alive.
    /// </summary>
    public LivenessReport Liveness()
    {
        if (_loopFault is { } fault)
        {
            return new LivenessReport(false, "consume loop failed: " + fault.Message);
        }

        var idle = TimeSpan.FromMilliseconds(Environment.TickCount64 - Interlocked.Read(ref _lastProgress));
        var waiting = _inRun ? "a training run was under way" : Interlocked.Read(ref _lag) is > 0 and var lag ? $"{lag} label records waited" : null;
        return waiting is not null && idle > _options.LivenessTimeout
            ? new LivenessReport(false, FormattableString.Invariant($"consume loop made no progress for {idle.TotalSeconds:F0} s while {waiting}"))
            : new LivenessReport(true, "ok");
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    private void Loop(CancellationToken stoppingToken)
    {
        var boundaries = new Dictionary<TopicPartition, long>();

        // Next offset to read per partition: what the book already holds. Bounded by the partitions, where a set of
        // every offset seen grew with the topic.
        var positions = new Dictionary<TopicPartition, long>();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(ConsumerConfig())
            .SetErrorHandler((_, e) => OnClientError(e))
            .SetPartitionsAssignedHandler((c, partitions) =>
            {
                // Re-read each partition from its start: every label is training data. Offsets below the committed
                // one were trained on before and do not count towards the next run.
                var committed = c.Committed(partitions, TimeSpan.FromSeconds(10));
                foreach (var tpo in committed)
                {
                    boundaries[tpo.TopicPartition] = tpo.Offset.Value >= 0 ? tpo.Offset.Value : 0;
                }

                // A partition this process read before (a rebalance gave it back) resumes where the book left it.
                return partitions.Select(p => new TopicPartitionOffset(p, positions.TryGetValue(p, out var next) ? new Offset(next) : Offset.Beginning));
            })
            .Build();
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(ProducerConfig()).Build();
        using var reporter = new RunReporter(ProducerConfig(), _topics.TrainerRuns, _logger, _reportsFailed);
        ReconcileCurrent(stoppingToken);
        var job = new LabelTrainingJob(_options, new LogWriter(_logger, MarkProgress));
        var lagMeasured = Stopwatch.StartNew();
        consumer.Subscribe([_topics.LabelsSpam, _topics.LabelsClaims, _topics.LabelsEntities]);
        LogStarted(_logger, _topics.LabelsSpam, _topics.LabelsClaims, _topics.LabelsEntities);
        _started.TrySetResult();

        while (!stoppingToken.IsCancellationRequested)
        {
            ThrowIfFailed();
            ConsumeResult<byte[]?, byte[]?>? record = null;
            try
            {
                record = consumer.Consume(TimeSpan.FromMilliseconds(200));
            }
            catch (ConsumeException ex) when (!ex.Error.IsFatal)
            {
                LogClientError(_logger, ex.Error.Reason);
            }

            MarkProgress();
            if (record?.Message is not null && record.Offset.Value >= positions.GetValueOrDefault(record.TopicPartition))
            {
                Accept(record, boundaries, producer);
                positions[record.TopicPartition] = record.Offset.Value + 1;
            }

            if (lagMeasured.Elapsed >= TimeSpan.FromSeconds(1))
            {
                Interlocked.Exchange(ref _lag, Lag(consumer, positions));
                lagMeasured.Restart();
            }

            foreach (var (task, labels) in _book)
            {
                if (labels.Pending > 0 && (labels.Pending >= _options.MinNewLabels || labels.PendingSince!.Elapsed >= _options.MaxWait))
                {
                    Train(task, labels, new RunContext(job, consumer, producer, reporter, boundaries, positions), stoppingToken);
                }
            }
        }

        producer.Flush(TimeSpan.FromSeconds(10));
        consumer.Close();
    }

    private void Accept(ConsumeResult<byte[]?, byte[]?> record, Dictionary<TopicPartition, long> boundaries, IProducer<byte[]?, byte[]?> producer)
    {
        var task = _topics.TaskOf(record.Topic)!;
        var parsed = LabelParser.Parse(task, record.Message.Value ?? [], _options.MaxLabelBytes);
        if (parsed.Error is { } error)
        {
            var headers = new Headers { { Topics.ErrorHeader, Encoding.UTF8.GetBytes($"{record.Topic}: {error}") } };
            var position = record.TopicPartitionOffset.ToString();
            producer.Produce(_topics.LabelsDlq, new Message<byte[]?, byte[]?> { Key = record.Message.Key, Value = record.Message.Value, Headers = headers }, report =>
            {
                if (report.Error.IsError)
                {
                    // The idempotent producer retried until message.timeout.ms: the record would be lost. The loop stops
                    // the service before any offset is committed past it, so a restart reads it (and dead-letters it) again.
                    LogDeadLetterFailed(_logger, position, report.Error.Reason);
                    Interlocked.CompareExchange(ref _deadLetterFailure, new DeadLetterFailure(position, report.Error.Reason), null);
                }
            });
            _deadLettered.Add(1, new KeyValuePair<string, object?>("topic", record.Topic));
            LogRejected(_logger, record.TopicPartitionOffset.ToString(), error);
            return;
        }

        var isNew = record.Offset.Value >= boundaries.GetValueOrDefault(record.TopicPartition);
        _book[task].Add(parsed, isNew);
        _labels.Add(1, new KeyValuePair<string, object?>("topic", record.Topic));
    }

    private void Train(string task, LabelBook labels, RunContext run, CancellationToken stoppingToken)
    {
        var (job, consumer, producer, reporter, boundaries, positions) = run;
        var topic = task switch { TaskNames.Spam => _topics.LabelsSpam, TaskNames.Claims => _topics.LabelsClaims, _ => _topics.LabelsEntities };
        var offsets = positions.Where(p => p.Key.Topic == topic).ToDictionary(p => p.Key, p => p.Value);
        var labelOffsets = offsets.ToDictionary(o => $"{o.Key.Topic}/{o.Key.Partition.Value}", o => o.Value);
        var report = new TrainingRunReport
        {
            Bundle = _options.BundleOf(task),
            Task = task,
            RunId = Guid.NewGuid().ToString("N"),
            Number = Interlocked.Increment(ref _runNumber),
            ParentVersion = new ModelRegistry(_options.Registry).CurrentVersion(_options.BundleOf(task)),
            Verdict = TrainingVerdicts.Failed,
            Reason = string.Empty,
            Labels = labels.Count,
            LabelOffsets = offsets.ToDictionary(
                o => $"{o.Key.Topic}/{o.Key.Partition.Value}",
                o => new LabelOffsetRange(Math.Min(boundaries.GetValueOrDefault(o.Key), o.Value), o.Value)),
            StartedAt = DateTimeOffset.UtcNow,
            FinishedAt = DateTimeOffset.UtcNow,
        };
        LogRunStarting(_logger, task, labels.Count, labels.Pending);
        _inRun = true;
        TrainingOutcome outcome;
        var clock = Stopwatch.StartNew();
        try
        {
            RunStarted?.Invoke(task, labels.Count);
            clock.Restart();
            outcome = job.Run(task, labels.Texts(), labels.Sentences(), labelOffsets, stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRunFailed(_logger, task, ex);
            _runs.Add(1, new("task", task), new("result", "failed"));
            labels.RetryLater();
            reporter.Send(report with { Reason = "run failed: " + ex.Message, FinishedAt = DateTimeOffset.UtcNow });
            return;
        }
        finally
        {
            _inRun = false;
            MarkProgress();
        }

        _runSeconds.Record(clock.Elapsed.TotalSeconds, new KeyValuePair<string, object?>("task", task));
        if (outcome.Published is { } manifest)
        {
            // Event first, then CURRENT: a version the topic never announced must not become the registry's current one.
            try
            {
                var registry = new ModelRegistry(_options.Registry);
                var published = registry.EventFor(manifest.Name, manifest.Version, "trained") with { LabelOffsets = labelOffsets };
                // Not cancelled by a stop: the producer sends the event even when the wait for its acknowledgement is
                // cancelled, so a stop arriving here announced the version to processors while CURRENT stayed behind and
                // the run never reported. The wait is bounded by the producer's message.timeout.ms instead.
                ModelEvents.PublishThenMarkCurrentAsync(ProducerConfig(), _topics.Models, published, registry.SetCurrent, CancellationToken.None).GetAwaiter().GetResult();
                _runs.Add(1, new("task", task), new("result", "published"));
                LogPublished(_logger, manifest.Name, manifest.Version, outcome.Reason, Scores(outcome));
                reporter.Send(Report(report, outcome, TrainingVerdicts.Published, outcome.Reason, manifest.Version));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The version stays in the registry, neither current nor announced; the labels count as new until a run publishes.
                LogAnnounceFailed(_logger, manifest.Name, manifest.Version, ex);
                _runs.Add(1, new("task", task), new("result", "unannounced"));
                labels.RetryLater();
                var unannounced = outcome with { Published = null, Reason = $"not announced on {_topics.Models}: {ex.Message}" };
                reporter.Send(Report(report, unannounced, TrainingVerdicts.Failed, unannounced.Reason, candidate: null));
                _lastOutcome = unannounced;
                RunCompleted?.Invoke(unannounced);
                return;
            }
        }
        else
        {
            _runs.Add(1, new("task", task), new("result", "refused"));
            LogRefused(_logger, task, outcome.Reason, Scores(outcome));
            reporter.Send(Report(report, outcome, TrainingVerdicts.Refused, outcome.Reason, candidate: null));
        }

        // The run used these labels either way; the position moves on so a restart does not count them again. Not past
        // a label whose dead-letter copy is not on its topic: wait for every copy sent so far, stop if one failed.
        if (producer.Flush(TimeSpan.FromSeconds(60)) > 0)
        {
            throw new InvalidOperationException("Dead-letter copies of label records were not acknowledged within 60 s; label offsets are not committed.");
        }

        ThrowIfFailed();
        if (offsets.Count > 0)
        {
            consumer.Commit(offsets.Select(o => new TopicPartitionOffset(o.Key, o.Value)));
            foreach (var (partition, next) in offsets)
            {
                // The next run's reported range starts here.
                boundaries[partition] = next;
            }
        }

        labels.MarkTrained();
        _lastOutcome = outcome;
        RunCompleted?.Invoke(outcome);
    }

    /// <summary>
    /// On start, the models topic wins over the registry's CURRENT: its latest event per bundle is the version processors
    /// serve (they apply it on catch-up), so CURRENT follows it when it names a version in this registry whose files match
    /// the event. Repairs a crash between publishing and marking current, and a CURRENT edited by hand. A topic that
    /// cannot be read leaves CURRENT as it is; the next published version brings the two together again.
    /// </summary>
    private void ReconcileCurrent(CancellationToken stoppingToken)
    {
        ModelEvents.LatestEvents events;
        try
        {
            events = ModelEvents.ReadLatest(ConsumerConfig(), _topics.Models, TimeSpan.FromSeconds(30), stoppingToken);
        }
        catch (Exception ex) when (ex is KafkaException or TimeoutException)
        {
            LogReconcileSkipped(_logger, _topics.Models, ex.Message);
            return;
        }

        if (events.Unreadable > 0)
        {
            LogReconcileUnreadable(_logger, _topics.Models, events.Unreadable);
        }

        var registry = new ModelRegistry(_options.Registry);
        foreach (var (bundle, published) in events.Latest)
        {
            var current = registry.CurrentVersion(bundle);
            if (current == published.Version)
            {
                continue;
            }

            if (registry.CheckAnnounced(published, out _, out _) is { } problem)
            {
                LogReconcileRefused(_logger, bundle, published.Version, current ?? "none", problem.Message);
                continue;
            }

            registry.SetCurrent(bundle, published.Version);
            LogReconciled(_logger, bundle, current ?? "none", published.Version, published.Reason);
        }
    }

    /// <summary>The run's report once the gate has spoken: its verdict, and the scores it judged by.</summary>
    private static TrainingRunReport Report(TrainingRunReport started, TrainingOutcome outcome, string verdict, string reason, string? candidate) => started with
    {
        ParentVersion = outcome.ParentVersion,
        CandidateVersion = candidate,
        Verdict = verdict,
        Reason = reason,
        TrainRows = outcome.TrainRows,
        FinishedAt = DateTimeOffset.UtcNow,
        Scores = [.. outcome.Scores.Select(s => new TrainingRunScore
        {
            Set = s.Set,
            N = s.N,
            CurrentF1 = s.Current,
            CandidateF1 = s.Candidate,
            CurrentRecall = s.CurrentRecall,
            CandidateRecall = s.CandidateRecall,
            CandidatePrecision = s.CandidatePrecision,
            CurrentFalsePositiveRate = s.CurrentFalsePositiveRate,
            CandidateFalsePositiveRate = s.CandidateFalsePositiveRate,
        })],
    };

    private static string Scores(TrainingOutcome outcome) =>
        string.Join("; ", outcome.Scores.Select(s => FormattableString.Invariant($"{s.Set} {s.Current:F4} → {s.Candidate:F4}")));

    private IEnumerable<Measurement<double>> ObserveLastScores()
    {
        if (_lastOutcome is not { } outcome)
        {
            yield break;
        }

        foreach (var score in outcome.Scores)
        {
            yield return new Measurement<double>(score.Candidate, new("task", outcome.Task), new("set", score.Set), new("model", "candidate"));
            yield return new Measurement<double>(score.Current, new("task", outcome.Task), new("set", score.Set), new("model", "current"));
        }
    }

    private ConsumerConfig ConsumerConfig()
    {
        var config = _kafka.ConsumerConfig(_options.BootstrapServers, _options.GroupId);

        // Offsets are committed by hand after a run used the labels (or dead-lettered them), from the book's start.
        config.EnableAutoCommit = false;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;

        // A run holds the poll loop for minutes; the group must not evict the trainer meanwhile.
        config.MaxPollIntervalMs = 86_400_000;
        return config;
    }

    private ProducerConfig ProducerConfig() => _kafka.ProducerConfig(_options.BootstrapServers);

    private void MarkProgress() => Interlocked.Exchange(ref _lastProgress, Environment.TickCount64);

    private void OnClientError(Error error)
    {
        if (error.IsFatal)
        {
            // The client is unusable from here on; the loop stops the service with it.
            Interlocked.CompareExchange(ref _fatalClientError, error, null);
        }

        LogClientError(_logger, error.Reason);
    }

    /// <summary>Ends the loop (and with it the host) on a fatal client error or a dead letter that could not be sent.</summary>
    private void ThrowIfFailed()
    {
        if (Volatile.Read(ref _fatalClientError) is { } fatal)
        {
            throw new KafkaException(fatal);
        }

        if (Volatile.Read(ref _deadLetterFailure) is { } failed)
        {
            throw new InvalidOperationException($"Dead-lettering label record {failed.Position} failed ({failed.Reason}); its offset and later ones stay uncommitted.");
        }
    }

    /// <summary>Records in the assigned label partitions past what the loop has read (from the high watermarks the fetches last saw).</summary>
    private static long Lag(IConsumer<byte[]?, byte[]?> consumer, Dictionary<TopicPartition, long> positions)
    {
        long lag = 0;
        foreach (var partition in consumer.Assignment)
        {
            var watermarks = consumer.GetWatermarkOffsets(partition);
            if (watermarks.High.Value >= 0)
            {
                var next = positions.TryGetValue(partition, out var p) ? p : Math.Max(0, watermarks.Low.Value);
                lag += Math.Max(0, watermarks.High.Value - next);
            }
        }

        return lag;
    }

    private sealed record DeadLetterFailure(string Position, string Reason);

    /// <summary>What a run needs from the consume loop: the job, the Kafka clients, and the label positions.</summary>
    /// <param name="Boundaries">Per label partition, the first offset no run has trained on yet (committed).</param>
    /// <param name="Positions">Per label partition, the next offset the loop reads.</param>
    private sealed record RunContext(
        LabelTrainingJob Job,
        IConsumer<byte[]?, byte[]?> Consumer,
        IProducer<byte[]?, byte[]?> Producer,
        RunReporter Reporter,
        Dictionary<TopicPartition, long> Boundaries,
        Dictionary<TopicPartition, long> Positions);

    /// <summary>
    /// Sends run reports on their own producer, best effort: a report the broker does not take is logged and counted,
    /// never retried and never awaited. The labels' producer is flushed before offsets are committed; a report stuck
    /// there would hold up (or, after 60 s, stop) training, which a report must never do.
    /// </summary>
    private sealed partial class RunReporter(ProducerConfig config, string topic, ILogger logger, Counter<long> failed) : IDisposable
    {
        private readonly IProducer<string, byte[]> _producer = new ProducerBuilder<string, byte[]>(config).Build();

        public void Send(TrainingRunReport report)
        {
            try
            {
                _producer.Produce(topic, new Message<string, byte[]> { Key = report.Bundle, Value = TrainingRunReports.Serialize(report) }, delivery =>
                {
                    if (delivery.Error.IsError)
                    {
                        Failed(report, delivery.Error.Reason);
                    }
                });
            }
            catch (Exception ex) when (ex is ProduceException<string, byte[]> or KafkaException)
            {
                Failed(report, ex.Message);
            }
        }

        public void Dispose()
        {
            // Reports of the last runs, if the broker still answers; what is left is logged by the delivery handler.
            _producer.Flush(TimeSpan.FromSeconds(5));
            _producer.Dispose();
        }

        private void Failed(TrainingRunReport report, string reason)
        {
            failed.Add(1, new KeyValuePair<string, object?>("task", report.Task));
            LogReportFailed(logger, report.Number, report.Task, report.Verdict, topic, reason);
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "Report of training run {Number} ({Task}, {Verdict}) not sent to {Topic}: {Reason}")]
        private static partial void LogReportFailed(ILogger logger, long number, string task, string verdict, string topic, string reason);
    }

    /// <summary>Training progress lines into the log.</summary>
    private sealed class LogWriter(ILogger logger, Action progress) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;

        public override void WriteLine(string? value)
        {
            // A run reports progress every few seconds to minutes: each line tells liveness the run still moves.
            progress();
            if (!string.IsNullOrEmpty(value))
            {
                LogProgress(logger, value);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Trainer consuming {Spam}, {Claims}, {Entities}")]
    private static partial void LogStarted(ILogger logger, string spam, string claims, string entities);

    [LoggerMessage(Level = LogLevel.Information, Message = "Training run for {Task}: {Labels} labels, {Pending} new")]
    private static partial void LogRunStarting(ILogger logger, string task, int labels, int pending);

    [LoggerMessage(Level = LogLevel.Information, Message = "Published {Bundle} {Version}: {Reason} ({Scores})")]
    private static partial void LogPublished(ILogger logger, string bundle, string version, string reason, string scores);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Candidate for {Task} not published: {Reason} ({Scores})")]
    private static partial void LogRefused(ILogger logger, string task, string reason, string scores);

    [LoggerMessage(Level = LogLevel.Error, Message = "Training run for {Task} failed; retrying after the maximum wait")]
    private static partial void LogRunFailed(ILogger logger, string task, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Line}")]
    private static partial void LogProgress(ILogger logger, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Label record {Position} dead-lettered: {Reason}")]
    private static partial void LogRejected(ILogger logger, string position, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Dead-lettering label record {Position} failed: {Reason}")]
    private static partial void LogDeadLetterFailed(ILogger logger, string position, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka client error: {Reason}")]
    private static partial void LogClientError(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Publishing {Bundle} {Version} on the models topic failed; CURRENT unchanged, the labels are retried after the maximum wait")]
    private static partial void LogAnnounceFailed(ILogger logger, string bundle, string version, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CURRENT of {Bundle} set from {From} to {To}: the latest event on the models topic ({Reason}) wins")]
    private static partial void LogReconciled(ILogger logger, string bundle, string from, string to, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The models topic names {Bundle} {Version}, CURRENT stays {Current}: {Problem}")]
    private static partial void LogReconcileRefused(ILogger logger, string bundle, string version, string current, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CURRENT not reconciled with {Topic}: {Reason}")]
    private static partial void LogReconcileSkipped(ILogger logger, string topic, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} unreadable events on {Topic} ignored while reconciling CURRENT")]
    private static partial void LogReconcileUnreadable(ILogger logger, string topic, int count);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Trainer stopping on a fatal error")]
    private static partial void LogFatal(ILogger logger, Exception exception);
}
