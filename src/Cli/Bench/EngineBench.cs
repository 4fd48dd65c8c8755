using System.Diagnostics;
using System.Threading.Channels;
using Confluent.Kafka;
using StreamBert.Engine.Inference;
using StreamBert.Processor.Batching;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Preprocess;

namespace StreamBert.Cli.Bench;

/// <summary>
/// The engine alone: the processor's own <see cref="Preprocessor"/> turns the corpus into sequences and
/// its own <see cref="TokenBudgetBatcher"/> cuts them into batches (both untimed, done once), then only
/// <see cref="ModelSet.Run"/> is timed — batched versus one sequence per call. The corpus is split into
/// chunks and the two conditions alternate chunk by chunk (AB, BA, …) so that load from other users of
/// the machine falls on both about equally.
/// </summary>
internal sealed class EngineBench : IDisposable
{
    private const int Chunks = 6;

    private readonly ModelSet _models;
    private readonly List<Chunk> _chunks;

    private EngineBench(ModelSet models, List<Chunk> chunks, EngineBatching batching)
    {
        _models = models;
        _chunks = chunks;
        Batching = batching;
    }

    public EngineBatching Batching { get; }

    public ModelSet Models => _models;

    /// <summary>Real (unpadded) length of every sequence of the corpus, each once: what the encoder's useful FLOPs are counted from.</summary>
    public IEnumerable<int> SequenceLengths => _chunks.SelectMany(c => c.Singles).Select(s => s.Length);

    /// <summary>Loads the models exactly as the processor does (same loader, same session settings) and prepares the batches.</summary>
    public static async Task<EngineBench> CreateAsync(ProcessorOptions options, TopicNames topics, IReadOnlyList<byte[]> values)
    {
        var models = ModelLoader.Load(options, topics).Models;
        try
        {
            var preprocessor = new Preprocessor(options, topics);
            var perMessage = new List<List<SequenceWork>>(values.Count);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < values.Count; i++)
            {
                var record = new InputRecord(new TopicPartitionOffset(topics.Messages, 0, i), null, values[i], [], Stopwatch.GetTimestamp(), 0);
                if (preprocessor.Process(record, models) is not Accepted accepted)
                {
                    throw new InvalidDataException($"Bench message {i} was rejected by the preprocessor.");
                }

                perMessage.Add(accepted.Document.Sequences);
            }

            var preprocessRate = values.Count / clock.Elapsed.TotalSeconds;
            var limits = new BatchingLimits(options.MaxBatchTokens, options.MaxBatchDelay, options.MaxBatchSequences, options.Packing);
            var packs = models.Encoders[0].SupportsPacking;
            var attentionCostLength = models.Encoders[0].AttentionCostLength;
            var chunks = new List<Chunk>();
            var chunkSize = (values.Count + Chunks - 1) / Chunks;
            long real = 0, padded = 0;
            int sequences = 0, batches = 0;
            for (var start = 0; start < values.Count; start += chunkSize)
            {
                var singles = perMessage.Skip(start).Take(chunkSize).SelectMany(s => s).ToList();
                var formed = await CutAsync(singles, limits).ConfigureAwait(false);
                foreach (var b in formed)
                {
                    real += b.RealTokens;
                    var (rows, length, _) = ModelSet.Pack([.. b.Items.Select(w => w.Length)], packs, attentionCostLength);
                    padded += (long)rows * length;
                }

                sequences += singles.Count;
                batches += formed.Count;
                chunks.Add(new Chunk(Math.Min(chunkSize, values.Count - start), singles, formed.Select(b => b.Items).ToList(), CutSorted(singles, options)));
            }

            long sortedPadded = 0;
            var sortedBatches = 0;
            foreach (var batch in chunks.SelectMany(c => c.SortedBatches))
            {
                sortedPadded += (long)batch.Count * batch.Max(w => w.Length);
                sortedBatches++;
            }

            var batching = new EngineBatching(values.Count, sequences, batches, (double)sequences / batches, padded == 0 ? 0 : 1.0 - ((double)real / padded), (double)sequences / sortedBatches, 1.0 - ((double)real / sortedPadded), preprocessRate);
            return new EngineBench(models, chunks, batching);
        }
        catch
        {
            models.Dispose();
            throw;
        }
    }

    /// <summary>Runs a few batches untimed: ONNX Runtime's first calls allocate and pick kernels.</summary>
    public void WarmUp()
    {
        foreach (var batch in _chunks[0].Batches.Take(3))
        {
            _models.Run(batch);
        }

        foreach (var single in _chunks[0].Singles.Take(10))
        {
            _models.Run([single]);
        }
    }

    public EngineRun Measure(int run)
    {
        var batched = TimeSpan.Zero;
        var single = TimeSpan.Zero;
        var sorted = TimeSpan.Zero;
        var messages = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        for (var c = 0; c < _chunks.Count; c++)
        {
            var chunk = _chunks[c];
            messages += chunk.Messages;
            // Rotate the order of the three conditions chunk by chunk.
            for (var k = 0; k < 3; k++)
            {
                switch ((c + run + k) % 3)
                {
                    case 0: batched += TimeBatches(chunk.Batches); break;
                    case 1: single += TimeSingle(chunk); break;
                    default: sorted += TimeBatches(chunk.SortedBatches); break;
                }
            }
        }

        var cpuShare = (Process.GetCurrentProcess().TotalProcessorTime - cpu) / wall.Elapsed / Environment.ProcessorCount;
        var batchedRate = messages / batched.TotalSeconds;
        var singleRate = messages / single.TotalSeconds;
        return new EngineRun(batchedRate, singleRate, batchedRate / singleRate, messages / sorted.TotalSeconds, cpuShare);
    }

    public void Dispose() => _models.Dispose();

    /// <summary>Chunks of the corpus, so another bench can interleave its conditions with this one's chunk by chunk.</summary>
    public int ChunkCount => _chunks.Count;

    /// <summary>Messages of chunk <paramref name="chunk"/>.</summary>
    public int ChunkMessages(int chunk) => _chunks[chunk].Messages;

    /// <summary>Time for the processor's batches of chunk <paramref name="chunk"/>.</summary>
    public TimeSpan TimeBatched(int chunk) => TimeBatches(_chunks[chunk].Batches);

    /// <summary>Time for the sequences of chunk <paramref name="chunk"/> one per call.</summary>
    public TimeSpan TimeSingle(int chunk) => TimeSingle(_chunks[chunk]);

    private TimeSpan TimeBatches(List<List<SequenceWork>> batches)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var batch in batches)
        {
            _models.Run(batch);
        }

        return Stopwatch.GetElapsedTime(started);
    }

    private TimeSpan TimeSingle(Chunk chunk)
    {
        // One reusable one-element list, so the single condition pays no allocation the batched one does not.
        var one = new SequenceWork[1];
        var started = Stopwatch.GetTimestamp();
        foreach (var work in chunk.Singles)
        {
            one[0] = work;
            _models.Run(one);
        }

        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>Cuts batches with the processor's batcher; all input is already there, so no delay applies.</summary>
    private static async Task<List<SequenceBatch>> CutAsync(List<SequenceWork> sequences, BatchingLimits limits)
    {
        var input = Channel.CreateUnbounded<SequenceWork>();
        foreach (var work in sequences)
        {
            input.Writer.TryWrite(work);
        }

        input.Writer.TryComplete();
        var output = Channel.CreateBounded<SequenceBatch>(1);
        var batcher = new TokenBudgetBatcher(limits);
        var running = Task.Run(() => batcher.RunAsync(input.Reader, output.Writer, CancellationToken.None));
        var batches = new List<SequenceBatch>();
        await foreach (var batch in output.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            batches.Add(batch);
        }

        await running.ConfigureAwait(false);
        return batches;
    }

    /// <summary>
    /// Reference grouping, not what the processor does: the whole chunk sorted by length, then cut greedily
    /// within the same token and sequence limits. Shows what length grouping could gain over the batcher's.
    /// </summary>
    private static List<List<SequenceWork>> CutSorted(List<SequenceWork> sequences, ProcessorOptions options)
    {
        var sorted = sequences.OrderBy(s => s.Length).ToList();
        var batches = new List<List<SequenceWork>>();
        var current = new List<SequenceWork>();
        foreach (var work in sorted)
        {
            if (current.Count > 0 && (current.Count + 1 > options.MaxBatchSequences || (long)(current.Count + 1) * work.Length > options.MaxBatchTokens))
            {
                batches.Add(current);
                current = [];
            }

            current.Add(work);
        }

        if (current.Count > 0)
        {
            batches.Add(current);
        }

        return batches;
    }

    private sealed record Chunk(int Messages, List<SequenceWork> Singles, List<List<SequenceWork>> Batches, List<List<SequenceWork>> SortedBatches);
}
