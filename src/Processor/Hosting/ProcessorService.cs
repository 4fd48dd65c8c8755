using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamBert.Engine.Inference;
using StreamBert.Processor.Batching;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Egress;
using StreamBert.Processor.Inference;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Postprocess;
using StreamBert.Processor.Preprocess;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Hosting;

/// <summary>
/// Wires the stages of DESIGN.md with bounded channels:
/// Ingest → Preprocess → Batching → Inference (engine thread) → Postprocess → Egress,
/// admitting work through an <see cref="InFlightBudget"/> (bytes and expected engine time) at ingest.
/// Stopping drains the stages in order, delivers every output and commits the finished offsets.
/// The stages are supervised as one unit, as .NET's own <c>BackgroundServiceExceptionBehavior.StopHost</c> does
/// for services: the first stage to fail (or end while others run) is logged as critical, the others are
/// cancelled and given <see cref="ProcessorOptions.AbortTimeout"/> to stop, the offsets whose outputs were
/// acknowledged are committed (the contiguous run only), the exit code is set and the host stops. A stage must
/// never be left waiting for a downstream one that died: <c>Task.WhenAll</c> alone would wait for ever.
/// </summary>
public sealed partial class ProcessorService : BackgroundService
{
    private readonly ProcessorOptions _options;
    private readonly TopicNames _topics;
    private readonly KafkaClientSettings _kafka;
    private readonly ProcessorMetrics _metrics;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<ProcessorService> _logger;
    private readonly CancellationTokenSource _abort = new();
    private ServingPlan? _plan;
    private ModelSlot? _slot;
    private int _exitCode;

    public ProcessorService(IOptions<ProcessorOptions> options, IOptions<TopicNames> topics, IOptions<KafkaClientSettings> kafka, ProcessorMetrics metrics, IHostApplicationLifetime lifetime, ILogger<ProcessorService> logger)
    {
        _options = options.Value;
        _topics = topics.Value;
        _kafka = kafka.Value;
        _metrics = metrics;
        _lifetime = lifetime;
        _logger = logger;
    }

    /// <summary>The models being served now, once started (a hot swap replaces them).</summary>
    public ModelSet? Models => _slot?.Current;

    /// <summary>The slot the engine reads the models through, once started.</summary>
    public ModelSlot? Slot => _slot;

    /// <summary>Applies model events, once started.</summary>
    public ModelUpdater? Updater { get; private set; }

    /// <summary>The running pipeline's in-flight budget, once started.</summary>
    public InFlightBudget? Budget { get; private set; }

    /// <summary>0 while running or after a clean stop; 1 once a fatal error stopped the service (also set as <see cref="Environment.ExitCode"/>).</summary>
    public int ExitCode => Volatile.Read(ref _exitCode);

    /// <summary>Raised on the engine thread as each batch starts, with the generation of the models it runs on.</summary>
    public event Action<long, ModelSet, SequenceBatch>? BatchStarted;

    /// <summary>Set when the service has subscribed and is consuming.</summary>
    public Task Started => _started.Task;

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Dispose()
    {
        _abort.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        ChaosFault chaos;
        try
        {
            chaos = new ChaosFault(_options.Chaos);
            _plan = ModelLoader.Load(_options, _topics);
        }
        catch (Exception ex)
        {
            _started.TrySetException(ex);
            Fatal(ex);
            throw;
        }

        var models = _plan.Models;
        var slot = new ModelSlot(models);
        _slot = slot;
        foreach (var (name, manifest) in models.Bundles)
        {
            LogServing(_logger, name, manifest.Version, string.Join(",", manifest.Heads.Keys));
        }

        LogDevice(_logger, models.Device.Provider, models.Device.Reason);
        if (_options.Engine == "null")
        {
            LogNullEngine(_logger);
        }

        LogPreprocessWorkers(_logger, _options.EffectivePreprocessWorkers);
        LogPrecision(_logger, EncoderPrecisions.Name(models.Precision), string.Join(", ", models.EncoderSha256));
        if (chaos.Enabled)
        {
            LogChaos(_logger, _options.Chaos.FaultStage, _options.Chaos.FaultAfter);
        }

        var tracker = new OffsetTracker();
        // Floor: one batch's token budget, so a full batch can form while the engine runs the one before it. The null
        // engine takes no time, so its rate says nothing about how long admitted work takes to come out (and its first
        // batches, before any rate is known, would pause ingest at one batch's worth): only the byte limit holds then.
        var budget = new InFlightBudget(_options.MaxInFlightBytes, _options.MaxInFlightWork, minTokens: _options.Engine == "null" ? long.MaxValue / 4 : _options.MaxBatchTokens);
        Budget = budget;
        _metrics.Progress.Attach(budget.Snapshot);
        ProcessorKafkaClients clients;
        try
        {
            clients = ProcessorKafkaClients.Create(_kafka, _options, tracker, _metrics, _logger, OnClientError);
        }
        catch (KafkaException ex)
        {
            // InitTransactions failed (ExactlyOnce): nothing can be produced safely.
            _started.TrySetException(ex);
            Fatal(ex);
            throw;
        }

        LogDelivery(_logger, _options.Delivery, clients.ProducerConfig.TransactionalId ?? "none");
        var consumer = clients.Consumer;
        var producer = clients.Producer;
        var producerConfig = clients.ProducerConfig;

        var capacity = _options.ChannelCapacity;
        var records = Bounded<InputRecord>(capacity);
        var sequences = Bounded<SequenceWork>(capacity * 4);
        var batches = Bounded<SequenceBatch>(1);
        var documents = Bounded<Document>(capacity);
        var outputs = Bounded<OutputSet>(capacity);

        // The pipeline keeps running after stoppingToken fires: it drains what was consumed, then ends. Only a
        // fatal error (_abort) cancels the stages.
        var abort = _abort.Token;
        var deadLetters = new DeadLetters(_topics, producerConfig.MessageMaxBytes ?? DeadLetters.DefaultMessageMaxBytes);
        var postprocessor = new Postprocessor(_options, _topics, deadLetters);
        var batcher = new TokenBudgetBatcher(new BatchingLimits(_options.MaxBatchTokens, _options.MaxBatchDelay, _options.MaxBatchSequences, _options.Packing)) { Stages = _metrics.Stages };
        var engine = new EngineWorker(slot, _metrics, _options.Engine == "null" ? NullInferenceEngine.Instance : OnnxInferenceEngine.Instance);
        engine.BatchStarted += (generation, set, batch) =>
        {
            chaos.Tick(ChaosFault.Engine);
            BatchStarted?.Invoke(generation, set, batch);
        };
        engine.BatchFinished += (batch, elapsed) => budget.Ran(batch.RealTokens, elapsed);
        var updater = new ModelUpdater(slot, _options.Registry, _plan.Settings, _metrics, _logger);
        Updater = updater;
        var egress = new KafkaEgress(producer, tracker, _metrics, _logger, Fatal, deadLetters, clients.Transactions);
        var ingest = new KafkaIngest(consumer, tracker, budget, _metrics, _logger, clients.Transactions) { ResetOffset = clients.ResetOffset, PauseAfter = _options.PauseAfter };

        // Outputs leave the budget as egress takes them: from there the producer's queue, bounded in bytes, holds them.
        var toEgress = new ObservedChannelReader<OutputSet>(outputs.Reader, set =>
        {
            budget.Release(set.Input);
            chaos.Tick(ChaosFault.Egress);
        });

        var stages = new List<Stage>
        {
            new("preprocess", Task.Run(() => PreprocessAsync(records.Reader, sequences.Writer, outputs.Writer, postprocessor, slot, budget, abort), CancellationToken.None)),
            new("batching", Task.Run(() => batcher.RunAsync(sequences.Reader, batches.Writer, abort), CancellationToken.None)),
            new("engine", engine.RunAsync(batches.Reader, documents.Writer, abort)),
            new("postprocess", Task.Run(() => PostprocessAsync(documents.Reader, outputs.Writer, postprocessor, chaos, _metrics.Stages, abort), CancellationToken.None)),
            new("egress", Task.Run(() => egress.RunAsync(toEgress, abort), CancellationToken.None)),
        };
        var pipeline = DrainedAsync([.. stages], producer);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, abort);
        stages.Add(new("ingest", ingest.RunAsync(_plan.Topics, records.Writer, BoundedAfterAbort(pipeline), stop.Token)));
        using var stopUpdates = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var updatesTask = updater.RunAsync(_kafka.ConsumerConfig(_options), _topics.Models, stopUpdates.Token);
        LogStarted(_logger, string.Join(", ", _plan.Topics));
        _started.TrySetResult();

        var stopped = false;
        try
        {
            stopped = await SuperviseAsync(stages, stoppingToken).ConfigureAwait(false)
                && await EndsWithinAsync(pipeline, _options.AbortTimeout).ConfigureAwait(false);
            if (ExitCode == 0)
            {
                LogStopped(_logger, _metrics.Consumed, _metrics.Produced, _metrics.DeadLettered);
            }
        }
        finally
        {
            await stopUpdates.CancelAsync().ConfigureAwait(false);
            try
            {
                await updatesTask.WaitAsync(_options.AbortTimeout, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
            {
            }

            _slot = null;

            // A stage that did not stop may still be inside the consumer, the producer or a model session:
            // disposing them under it would crash in native code. The process is exiting anyway.
            if (stopped)
            {
                clients.Dispose();
                slot.Dispose();
            }
        }
    }

    private sealed record Stage(string Name, Task Task);

    /// <summary>
    /// Waits for every stage. The first one that fails — or completes while ingest is still consuming, which only a
    /// bug can cause — is fatal; the rest then get <see cref="ProcessorOptions.AbortTimeout"/> to stop. True when
    /// every stage ended.
    /// </summary>
    /// <summary>
    /// The stage a fault started in. A failing stage completes its output channel with the error, so the stages after
    /// it fail with the same exception — sometimes before the failing stage's own task completes (its thread can be
    /// preempted between the two). The earliest stage in pipeline order that fails with it, given a moment, is the one
    /// to name.
    /// </summary>
    private static async Task<string> OriginAsync(List<Stage> stages, Stage observed, Exception error)
    {
        var upstream = stages.Where(s => s.Name == "ingest").Concat(stages.Where(s => s.Name != "ingest")).TakeWhile(s => s != observed).ToList();
        static bool SameFault(Stage stage, Exception error) =>
            stage.Task.IsFaulted && stage.Task.Exception!.GetBaseException() is var e
            && (ReferenceEquals(e, error) || (e.GetType() == error.GetType() && e.Message == error.Message));

        for (var waited = 0; waited < 200; waited += 10)
        {
            if (upstream.Find(s => SameFault(s, error)) is { } origin)
            {
                return origin.Name;
            }

            await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
        }

        return observed.Name;
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "The supervisor has already reported the first fault; the rest are the stages it cancelled, ending with that fault or a cancellation.")]
    private async Task<bool> SuperviseAsync(List<Stage> stages, CancellationToken stopping)
    {
        var running = new List<Stage>(stages);
        while (running.Count > 0)
        {
            var done = await Task.WhenAny(running.Select(s => s.Task)).ConfigureAwait(false);
            var stage = running.Find(s => s.Task == done)!;
            running.Remove(stage);
            if (_abort.IsCancellationRequested)
            {
                // Failed already (an egress delivery error, a fatal client error): this is the consequence.
                break;
            }

            if (done.Exception?.GetBaseException() is { } error)
            {
                Fatal(error, await OriginAsync(stages, stage, error).ConfigureAwait(false));
                break;
            }

            if (done.IsCanceled)
            {
                Fatal(new InvalidOperationException($"The {stage.Name} stage was cancelled while the processor was running."));
                break;
            }

            // Before a stop, channels are never completed, so a stage that ends is a bug that would strand the others.
            if (!stopping.IsCancellationRequested)
            {
                Fatal(new InvalidOperationException($"The {stage.Name} stage ended while the processor was running."));
                break;
            }
        }

        if (running.Count == 0)
        {
            return true;
        }

        var rest = Task.WhenAll(running.Select(s => s.Task));
        try
        {
            await rest.WaitAsync(_options.AbortTimeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogStagesStuck(_logger, string.Join(", ", running.Where(s => !s.Task.IsCompleted).Select(s => s.Name)), _options.AbortTimeout.TotalSeconds);
            return false;
        }
        catch (Exception ex)
        {
            // The cancelled stages end with OperationCanceledException or the failure passed down their channels.
            LogStageAborted(_logger, ex.GetBaseException().Message);
        }

        return true;
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Only whether the task ended in time matters here; its stages failures were reported by the supervisor.")]
    private static async Task<bool> EndsWithinAsync(Task task, TimeSpan timeout)
    {
        try
        {
            await task.WaitAsync(timeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception)
        {
            // Its stages' failures were reported by the supervisor.
        }

        return true;
    }

    /// <summary>
    /// Completes when the stages after ingest have ended; on a fatal error, after the producer had a bounded chance
    /// to deliver what it holds, so outputs already produced get acknowledged and their offsets committed.
    /// </summary>
    private async Task DrainedAsync(List<Stage> stages, IProducer<byte[]?, byte[]> producer)
    {
        try
        {
            await Task.WhenAll(stages.Select(s => s.Task)).ConfigureAwait(false);
        }
        finally
        {
            if (_abort.IsCancellationRequested)
            {
                var flush = _options.AbortTimeout / 2;
                await Task.Run(() => producer.Flush(flush), CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// <paramref name="pipeline"/>, or — once the processor is aborting — at most half the abort timeout later, so
    /// ingest commits what finished and leaves the group even when a stage (an engine call) does not stop.
    /// </summary>
    private Task BoundedAfterAbort(Task pipeline)
    {
        var giveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var registration = _abort.Token.Register(() => _ = Task.Delay(_options.AbortTimeout / 2).ContinueWith(_ => giveUp.TrySetResult(), TaskScheduler.Default));
        _ = pipeline.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        return Task.WhenAny(pipeline, giveUp.Task);
    }

    /// <summary>Logs, sets a non-zero exit code, cancels every stage and stops the host; only the first call counts.</summary>
    private void Fatal(Exception exception) => Fatal(exception, stage: null);

    private void Fatal(Exception exception, string? stage)
    {
        if (Interlocked.CompareExchange(ref _exitCode, 1, 0) != 0)
        {
            return;
        }

        if (stage is null)
        {
            LogFatal(_logger, exception);
        }
        else
        {
            LogStageFailed(_logger, stage, exception);
        }

        Environment.ExitCode = 1;
        try
        {
            _abort.Cancel();
        }
        catch (AggregateException ex)
        {
            // A callback registered on the token failed; the stages are cancelled regardless.
            LogStageAborted(_logger, ex.GetBaseException().Message);
        }

        _lifetime.StopApplication();
    }

    private void OnClientError(Error error)
    {
        if (error.IsFatal)
        {
            Fatal(new KafkaException(error));
        }
        else
        {
            LogClientError(_logger, error.Reason);
        }
    }

    /// <summary>
    /// Parses and tokenizes on <see cref="ProcessorOptions.EffectivePreprocessWorkers"/> workers (one
    /// <see cref="Preprocessor"/> each) and hands the results on in consume order (<see cref="OrderedParallel"/>), so the
    /// batcher still cuts oldest first and each partition's sequences reach the engine in offset order.
    /// </summary>
    private async Task PreprocessAsync(ChannelReader<InputRecord> input, ChannelWriter<SequenceWork> sequences, ChannelWriter<OutputSet> outputs, Postprocessor deadLetters, ModelSlot models, InFlightBudget budget, CancellationToken cancellationToken)
    {
        var stages = _metrics.Stages;
        var transforms = new Func<InputRecord, PreprocessResult>[_options.EffectivePreprocessWorkers];
        for (var w = 0; w < transforms.Length; w++)
        {
            var preprocessor = new Preprocessor(_options, _topics);
            transforms[w] = record =>
            {
                var started = Stopwatch.GetTimestamp();
                var result = preprocessor.Process(record, models.Current);
                stages.Since(PipelineStage.Preprocess, started);
                return result;
            };
        }

        async ValueTask HandOn(PreprocessResult result, CancellationToken ct)
        {
            switch (result)
            {
                case Accepted accepted:
                    long tokens = 0;
                    foreach (var work in accepted.Document.Sequences)
                    {
                        tokens += work.Length;
                    }

                    budget.Tokenized(accepted.Record, tokens);
                    foreach (var work in accepted.Document.Sequences)
                    {
                        if (!sequences.TryWrite(work))
                        {
                            await sequences.WriteAsync(work, ct).ConfigureAwait(false);
                        }
                    }

                    break;
                case Rejected rejected:
                    budget.Tokenized(rejected.Record, 0);
                    await outputs.WriteAsync(deadLetters.DeadLetter(rejected), ct).ConfigureAwait(false);
                    break;
            }
        }

        try
        {
            // Slots of up to 32 records (what is queued, no waiting), 4 per worker in flight: enough to keep every worker busy
            // behind one slow record, few enough that what is held here stays small beside the in-flight budget.
            await OrderedParallel.RunAsync(input, transforms, HandOn, window: 4 * transforms.Length, chunk: 32, cancellationToken).ConfigureAwait(false);
            sequences.TryComplete();
        }
        catch (Exception ex)
        {
            sequences.TryComplete(ex);
            throw;
        }
    }

    private static async Task PostprocessAsync(ChannelReader<Document> input, ChannelWriter<OutputSet> output, Postprocessor postprocessor, ChaosFault chaos, StageBusy stages, CancellationToken cancellationToken)
    {
        try
        {
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out var document))
                {
                    chaos.Tick(ChaosFault.Postprocess);
                    var started = Stopwatch.GetTimestamp();
                    var set = postprocessor.Build(document);
                    stages.Since(PipelineStage.Postprocess, started);
                    if (!output.TryWrite(set))
                    {
                        await output.WriteAsync(set, cancellationToken).ConfigureAwait(false);
                    }
                }
            }

            output.TryComplete();
        }
        catch (Exception ex)
        {
            output.TryComplete(ex);
            throw;
        }
    }

    private static Channel<T> Bounded<T>(int capacity) => Channel.CreateBounded<T>(new BoundedChannelOptions(capacity)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
        SingleWriter = false,
    });

    [LoggerMessage(Level = LogLevel.Information, Message = "Serving bundle {Bundle} version {Version} (tasks: {Tasks})")]
    private static partial void LogServing(ILogger logger, string bundle, string version, string tasks);

    [LoggerMessage(Level = LogLevel.Information, Message = "Delivery: {Delivery} (transactional.id {TransactionalId})")]
    private static partial void LogDelivery(ILogger logger, DeliveryGuarantee delivery, string transactionalId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Execution provider: {Provider} ({Reason})")]
    private static partial void LogDevice(ILogger logger, string provider, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Precision: {Precision} (encoder sha256 {EncoderSha256})")]
    private static partial void LogPrecision(ILogger logger, string precision, string encoderSha256);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Engine: null (Processor:Engine=null): no model runs and every label is a fixed placeholder; for pipeline benchmarks only")]
    private static partial void LogNullEngine(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Preprocess workers: {Workers} (Processor:PreprocessWorkers)")]
    private static partial void LogPreprocessWorkers(ILogger logger, int workers);

    [LoggerMessage(Level = LogLevel.Information, Message = "Processor consuming {Topics}")]
    private static partial void LogStarted(ILogger logger, string topics);

    [LoggerMessage(Level = LogLevel.Information, Message = "Processor stopped: consumed {Consumed}, produced {Produced}, dead-lettered {DeadLettered}")]
    private static partial void LogStopped(ILogger logger, long consumed, long produced, long deadLettered);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Processor stopping on a fatal error")]
    private static partial void LogFatal(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Processor stage {Stage} failed; stopping the processor")]
    private static partial void LogStageFailed(ILogger logger, string stage, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stages stopped after the failure: {Reason}")]
    private static partial void LogStageAborted(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Stages {Stages} did not stop within {Seconds} s of the failure; exiting without them")]
    private static partial void LogStagesStuck(ILogger logger, string stages, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fault injection on: stage {Stage} fails after {After} items (Processor:Chaos)")]
    private static partial void LogChaos(ILogger logger, string stage, int after);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka client error: {Reason}")]
    private static partial void LogClientError(ILogger logger, string reason);
}
