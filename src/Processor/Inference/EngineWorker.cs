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
    private readonly Func<ModelSet> _models;
    private readonly ProcessorMetrics _metrics;

    public EngineWorker(Func<ModelSet> models, ProcessorMetrics metrics)
    {
        _models = models;
        _metrics = metrics;
    }

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
                _models().Run(batch.Items);
                _metrics.RecordBatch(batch, Stopwatch.GetElapsedTime(started));
                foreach (var work in batch.Items)
                {
                    var owner = (SequenceOwner)work.State!;
                    if (owner.Document.CompleteOne() && !output.TryWrite(owner.Document))
                    {
                        output.WriteAsync(owner.Document, cancellationToken).AsTask().GetAwaiter().GetResult();
                    }
                }
            }
        }
    }
}
