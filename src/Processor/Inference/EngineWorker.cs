using System.Diagnostics.CodeAnalysis;
using System.Diagnostics;
using System.Threading.Channels;
using StreamBert.Engine.Inference;
using StreamBert.Processor.Batching;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Preprocess;

namespace StreamBert.Processor.Inference;

/// <summary>
/// Runs batches through the model set on one dedicated thread (ONNX Runtime parallelises inside each
/// call; a second caller would only contend for the same cores). When the last sequence of a document
/// finishes, the document moves on to Postprocess.
/// </summary>
public sealed class EngineWorker
{
    private readonly ModelSlot _models;
    private readonly ProcessorMetrics _metrics;
    private readonly IInferenceEngine _engine;

    /// <param name="engine">What runs each batch: ONNX Runtime by default; <see cref="NullInferenceEngine"/> for pipeline benchmarks.</param>
    public EngineWorker(ModelSlot models, ProcessorMetrics metrics, IInferenceEngine? engine = null)
    {
        _models = models;
        _metrics = metrics;
        _engine = engine ?? OnnxInferenceEngine.Instance;
    }

    /// <summary>
    /// Raised on the engine thread as each batch starts, with the live generation and set it leased. Sequences of
    /// a document that began on an older generation still run on that one (see <see cref="Document.Pin"/>).
    /// </summary>
    public event Action<long, ModelSet, SequenceBatch>? BatchStarted;

    /// <summary>Raised on the engine thread after each batch ran, with its engine time (what the in-flight budget's rate is measured from).</summary>
    public event Action<SequenceBatch, TimeSpan>? BatchFinished;

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "The engine thread boundary: every failure is passed on to the next stage and to the supervisor through the returned task, never lost.")]
    public Task RunAsync(ChannelReader<SequenceBatch> input, ChannelWriter<Document> output, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Loop(input, output, cancellationToken);
                output.TryComplete();
                completion.SetResult();
            }
            catch (Exception ex)
            {
                output.TryComplete(ex);
                completion.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "streambert-engine",
        };
        thread.Start();
        return completion.Task;
    }

    private void Loop(ChannelReader<SequenceBatch> input, ChannelWriter<Document> output, CancellationToken cancellationToken)
    {
        while (input.WaitToReadAsync(cancellationToken).AsTask().GetAwaiter().GetResult())
        {
            while (input.TryRead(out var batch))
            {
                var started = Stopwatch.GetTimestamp();
                batch.EncodedPositions = RunBatch(batch);
                var elapsed = Stopwatch.GetElapsedTime(started);
                _metrics.RecordBatch(batch, elapsed);
                BatchFinished?.Invoke(batch, elapsed);
                foreach (var work in batch.Items)
                {
                    var document = ((SequenceOwner)work.State!).Document;
                    if (!document.CompleteOne())
                    {
                        continue;
                    }

                    document.Pin?.Dispose();
                    document.Pin = null;
                    if (!output.TryWrite(document))
                    {
                        output.WriteAsync(document, cancellationToken).AsTask().GetAwaiter().GetResult();
                    }
                }
            }
        }
    }

    /// <summary>
    /// Runs a batch on the live set. A document of several sequences is pinned to the set its first sequence
    /// ran on, so each output comes from exactly one model version even when a swap lands between its batches;
    /// its remaining sequences run on the pinned set (held alive by the pin) in a call of their own.
    /// </summary>
    private int RunBatch(SequenceBatch batch)
    {
        using var lease = _models.Acquire();
        BatchStarted?.Invoke(lease.Generation, lease.Models, batch);
        Dictionary<long, (ModelSet Models, List<SequenceWork> Items)>? older = null;
        List<SequenceWork>? current = null;
        for (var i = 0; i < batch.Items.Count; i++)
        {
            var work = batch.Items[i];
            var document = ((SequenceOwner)work.State!).Document;
            if (document.Pin is { } pin && pin.Generation != lease.Generation)
            {
                older ??= [];
                if (!older.TryGetValue(pin.Generation, out var group))
                {
                    group = (pin.Models, []);
                    older[pin.Generation] = group;
                }

                group.Items.Add(work);
                current ??= [.. batch.Items.Take(i)];
                continue;
            }

            if (document.Pin is null && document.Sequences.Count > 1)
            {
                document.Pin = lease.Share();
            }

            current?.Add(work);
        }

        var positions = _engine.Run(lease.Models, current ?? batch.Items);
        foreach (var (models, items) in older?.Values ?? Enumerable.Empty<(ModelSet, List<SequenceWork>)>())
        {
            positions += _engine.Run(models, items);
        }

        return positions;
    }
}
