using System.Diagnostics;
using System.Threading.Channels;
using StreamBert.Engine.Inference;
using StreamBert.Processor.Batching;

namespace StreamBert.Processor.Tests;

public sealed class TokenBudgetBatcherTests
{
    private static SequenceWork Work(int length, int encoder = 0) => new() { Ids = new int[length], Tasks = TaskSet.Spam, EncoderIndex = encoder };

    /// <summary>Writes all of <paramref name="inputs"/>, completes the input and collects every batch until the batcher completes its output.</summary>
    private static async Task<List<SequenceBatch>> RunToEndAsync(BatchingLimits limits, IReadOnlyList<SequenceWork> inputs)
    {
        var input = Channel.CreateUnbounded<SequenceWork>();
        var output = Channel.CreateBounded<SequenceBatch>(1);
        foreach (var work in inputs)
        {
            input.Writer.TryWrite(work);
        }

        input.Writer.Complete();
        var run = new TokenBudgetBatcher(limits).RunAsync(input.Reader, output.Writer, CancellationToken.None);
        var batches = new List<SequenceBatch>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var batch in output.Reader.ReadAllAsync().WithCancellation(timeout.Token))
        {
            batches.Add(batch);
        }

        await run.WaitAsync(TimeSpan.FromSeconds(5));
        return batches;
    }

    [Fact]
    public async Task RunAsync_MixedLengths_NoBatchExceedsTheBudgetExceptASingleLongSequence()
    {
        var random = new Random(7);
        var inputs = Enumerable.Range(0, 500).Select(_ => Work(random.Next(3, 129))).Append(Work(700)).ToList();
        var limits = new BatchingLimits(MaxBatchTokens: 512, MaxBatchDelay: TimeSpan.FromSeconds(1), MaxBatchSequences: 64);

        var batches = await RunToEndAsync(limits, inputs);

        foreach (var batch in batches)
        {
            Assert.True(batch.PaddedTokens <= 512 || batch.Items.Count == 1, $"{batch.Items.Count} rows × {batch.PaddedLength} = {batch.PaddedTokens} tokens");
            Assert.True(batch.Items.Count <= 64);
            Assert.Equal(batch.Items.Max(w => w.Length), batch.PaddedLength);
            Assert.Equal(batch.Items.Sum(w => w.Length), batch.RealTokens);
        }

        Assert.Contains(batches, b => b.Items.Count == 1 && b.PaddedLength == 700);
    }

    [Fact]
    public async Task RunAsync_Packing_BatchesInArrivalOrderWithinTheRealTokenBudgetAndOneEncoderEach()
    {
        var random = new Random(5);
        var inputs = Enumerable.Range(0, 400).Select(i => Work(random.Next(3, 129), encoder: i % 7 == 0 ? 1 : 0)).Append(Work(700)).ToList();
        var limits = new BatchingLimits(MaxBatchTokens: 1024, MaxBatchDelay: TimeSpan.FromSeconds(1), MaxBatchSequences: 64, Packing: true);

        var batches = await RunToEndAsync(limits, inputs);

        var emitted = batches.SelectMany(b => b.Items).ToList();
        Assert.Equal(inputs.Count, emitted.Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.All(batches, b =>
        {
            Assert.True(b.RealTokens <= 1024 || b.Items.Count == 1, $"{b.Items.Count} sequences, {b.RealTokens} real tokens");
            Assert.InRange(b.Items.Count, 1, 64);
            Assert.Single(b.Items.Select(w => w.EncoderIndex).Distinct());
        });

        // Oldest first: within an encoder, sequences leave in the order they arrived (length does not reorder them).
        foreach (var encoder in new[] { 0, 1 })
        {
            var arrival = inputs.Where(w => w.EncoderIndex == encoder).ToList();
            var left = emitted.Where(w => w.EncoderIndex == encoder).ToList();
            Assert.Equal(arrival.Select(w => inputs.IndexOf(w)), left.Select(w => inputs.IndexOf(w)));
        }
    }

    [Fact]
    public async Task RunAsync_InputCompletes_EveryItemEmittedExactlyOnceAndOutputCompletes()
    {
        var random = new Random(11);
        var inputs = Enumerable.Range(0, 300).Select(i => Work(random.Next(3, 129), encoder: i % 2)).ToList();

        var batches = await RunToEndAsync(new BatchingLimits(1024, TimeSpan.FromMilliseconds(5), 16), inputs);

        var emitted = batches.SelectMany(b => b.Items).ToList();
        Assert.Equal(inputs.Count, emitted.Count);
        Assert.Equal(inputs.Count, emitted.Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.All(inputs, w => Assert.Contains(w, emitted));
        // One encoder pass per batch: sequences of different encoders never share one.
        Assert.All(batches, b => Assert.Single(b.Items.Select(w => w.EncoderIndex).Distinct()));
    }

    [Fact]
    public async Task RunAsync_TwoLengthClasses_BatchesDoNotMixThem()
    {
        // Interleaved arrivals of short and long sequences: a count-based batcher would pad every short one to 100.
        var inputs = Enumerable.Range(0, 80).Select(i => Work(i % 2 == 0 ? 10 : 100)).ToList();

        var batches = await RunToEndAsync(new BatchingLimits(400, TimeSpan.FromSeconds(1), 64), inputs);

        Assert.All(batches, b => Assert.Equal(0.0, b.PaddingRatio));
        Assert.Equal(80, batches.Sum(b => b.Items.Count));
    }

    [Fact]
    public async Task RunAsync_BudgetNotReached_ClosesTheBatchAfterTheDelay()
    {
        var delay = TimeSpan.FromMilliseconds(100);
        var input = Channel.CreateUnbounded<SequenceWork>();
        var output = Channel.CreateBounded<SequenceBatch>(1);
        using var stop = new CancellationTokenSource();
        var run = new TokenBudgetBatcher(new BatchingLimits(100_000, delay, 64)).RunAsync(input.Reader, output.Writer, stop.Token);

        var clock = Stopwatch.StartNew();
        input.Writer.TryWrite(Work(20));
        input.Writer.TryWrite(Work(30));
        input.Writer.TryWrite(Work(25));
        var batch = await output.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var waited = clock.Elapsed;

        Assert.Equal(3, batch.Items.Count);
        Assert.True(waited >= delay - TimeSpan.FromMilliseconds(5), $"closed after {waited.TotalMilliseconds:F0} ms, before the {delay.TotalMilliseconds:F0} ms delay");
        Assert.False(run.IsCompleted);

        input.Writer.Complete();
        await run.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(output.Reader.Completion.IsCompleted);
    }

    [Fact]
    public async Task RunAsync_SequenceLimitReached_ClosesWithoutWaitingForTheDelay()
    {
        var input = Channel.CreateUnbounded<SequenceWork>();
        var output = Channel.CreateBounded<SequenceBatch>(1);
        var run = new TokenBudgetBatcher(new BatchingLimits(100_000, TimeSpan.FromMinutes(1), 4)).RunAsync(input.Reader, output.Writer, CancellationToken.None);

        for (var i = 0; i < 4; i++)
        {
            input.Writer.TryWrite(Work(8));
        }

        var batch = await output.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(4, batch.Items.Count);

        input.Writer.Complete();
        await run.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
