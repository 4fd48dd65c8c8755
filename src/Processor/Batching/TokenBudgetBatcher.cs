using System.Diagnostics;
using System.Threading.Channels;
using StreamBert.Engine.Inference;

namespace StreamBert.Processor.Batching;

/// <summary>Limits of the batcher.</summary>
/// <param name="Packing">
/// The engine packs several sequences into a row (see <c>ModelSet.Pack</c>): batches are then cut oldest first by real
/// tokens, since padding no longer depends on grouping similar lengths.
/// </param>
public sealed record BatchingLimits(int MaxBatchTokens, TimeSpan MaxBatchDelay, int MaxBatchSequences, bool Packing = false);

/// <summary>
/// Forms encoder batches by token budget, not by count: a batch closes when its padded size
/// (rows × longest row) would pass <c>MaxBatchTokens</c>, or when <c>MaxBatchDelay</c> has passed since
/// its oldest sequence arrived. Sequences wait in a pending pool and each batch is cut from that pool
/// around the oldest sequence in length order, so rows in a batch have similar lengths (little padding)
/// and no sequence waits behind newer ones for long. Before forming a batch the batcher waits for room on
/// the engine's queue (capacity 1), so at most one formed batch waits while the engine runs another:
/// the engine never waits on tokenization and latency stays bounded under overload.
/// </summary>
public sealed class TokenBudgetBatcher
{
    private readonly BatchingLimits _limits;
    private readonly List<Pending> _pending = [];
    private long _pendingTokens;

    public TokenBudgetBatcher(BatchingLimits limits)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.MaxBatchTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.MaxBatchSequences);
        _limits = limits;
    }

    /// <summary>Where the batcher's own work (pulling into the pool, cutting) is counted, if anywhere.</summary>
    public Diagnostics.StageBusy? Stages { get; init; }

    public async Task RunAsync(ChannelReader<SequenceWork> input, ChannelWriter<SequenceBatch> output, CancellationToken cancellationToken)
    {
        try
        {
            var inputDone = false;
            while (true)
            {
                // Reserve: wait until the engine can take the next batch before deciding what goes in it.
                if (!await output.WaitToWriteAsync(cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                inputDone = await FillAsync(input, inputDone, cancellationToken).ConfigureAwait(false);
                if (_pending.Count == 0)
                {
                    if (inputDone)
                    {
                        break;
                    }

                    continue;
                }

                var cutStarted = Stopwatch.GetTimestamp();
                var batch = Cut();
                Stages?.Since(Diagnostics.PipelineStage.Batching, cutStarted);
                if (!output.TryWrite(batch))
                {
                    await output.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// Pulls sequences until the pool holds a full batch (then keeps draining what is already queued, up
    /// to <see cref="LookAhead"/> batches' worth, so the cut can pick similar lengths), the oldest one's
    /// deadline passes, or input ends. Measured: cutting from one batch's worth of arrivals left 63% of
    /// each batch as padding on SMS lengths; a pool of several batches lets length grouping work.
    /// </summary>
    private async Task<bool> FillAsync(ChannelReader<SequenceWork> input, bool inputDone, CancellationToken cancellationToken)
    {
        while (!inputDone)
        {
            var pullStarted = Stopwatch.GetTimestamp();
            while (!PoolIsFull() && input.TryRead(out var work))
            {
                _pending.Add(new Pending(work, Stopwatch.GetTimestamp()));
                _pendingTokens += work.Length;
            }

            Stages?.Since(Diagnostics.PipelineStage.Batching, pullStarted);

            if (_pending.Count > 0 && PoolHoldsFullBatch())
            {
                return false;
            }

            if (_pending.Count == 0)
            {
                if (!await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    return true;
                }

                continue;
            }

            var waited = Stopwatch.GetElapsedTime(_pending[0].ArrivedTicks);
            var remaining = _limits.MaxBatchDelay - waited;
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(remaining);
            try
            {
                if (!await input.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                {
                    return true;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>How many batches' worth of sequences the pool may hold for length grouping.</summary>
    private const int LookAhead = 4;

    private bool PoolIsFull() => _pending.Count >= LookAhead * _limits.MaxBatchSequences || _pendingTokens >= (long)LookAhead * _limits.MaxBatchTokens;

    private bool PoolHoldsFullBatch() =>
        _pending.Count >= _limits.MaxBatchSequences || _pendingTokens >= _limits.MaxBatchTokens;

    /// <summary>Cuts one batch around the oldest pending sequence, in length order, within the token budget.</summary>
    private SequenceBatch Cut() => _limits.Packing ? CutOldestFirst() : CutByLength();

    /// <summary>
    /// For an engine that packs: the oldest sequences of the oldest one's encoder, in arrival order, up to the token
    /// budget in real tokens (the first always goes, whatever its length) and the sequence cap.
    /// </summary>
    private SequenceBatch CutOldestFirst()
    {
        var encoder = _pending[0].Work.EncoderIndex;
        var items = new List<SequenceWork>(Math.Min(_pending.Count, _limits.MaxBatchSequences));
        var taken = new HashSet<SequenceWork>(ReferenceEqualityComparer.Instance);
        int real = 0, longest = 0;
        foreach (var p in _pending)
        {
            if (items.Count == _limits.MaxBatchSequences)
            {
                break;
            }

            if (p.Work.EncoderIndex != encoder)
            {
                continue;
            }

            if (items.Count > 0 && real + p.Work.Length > _limits.MaxBatchTokens)
            {
                break;
            }

            items.Add(p.Work);
            taken.Add(p.Work);
            real += p.Work.Length;
            longest = Math.Max(longest, p.Work.Length);
        }

        _pending.RemoveAll(p => taken.Contains(p.Work));
        _pendingTokens -= real;
        return new SequenceBatch(items, longest, real, Stopwatch.GetTimestamp());
    }

    private SequenceBatch CutByLength()
    {
        var oldest = _pending[0];
        var encoder = oldest.Work.EncoderIndex;
        var candidates = new List<Pending>(_pending.Count);
        foreach (var p in _pending)
        {
            if (p.Work.EncoderIndex == encoder)
            {
                candidates.Add(p);
            }
        }

        candidates.Sort(static (a, b) => a.Work.Length != b.Work.Length
            ? a.Work.Length.CompareTo(b.Work.Length)
            : a.ArrivedTicks.CompareTo(b.ArrivedTicks));
        var anchor = candidates.IndexOf(oldest);
        int low = anchor, high = anchor;
        var maxLength = oldest.Work.Length;
        var minLength = maxLength;
        while (high - low + 1 < _limits.MaxBatchSequences)
        {
            // Grow toward the neighbour whose length is closer, as long as the padded size stays in budget.
            var canDown = low > 0;
            var canUp = high < candidates.Count - 1;
            if (!canDown && !canUp)
            {
                break;
            }

            var down = canDown ? minLength - candidates[low - 1].Work.Length : int.MaxValue;
            var up = canUp ? candidates[high + 1].Work.Length - maxLength : int.MaxValue;
            var takeUp = up <= down;
            var newMax = takeUp ? candidates[high + 1].Work.Length : maxLength;
            if ((long)(high - low + 2) * newMax > _limits.MaxBatchTokens)
            {
                break;
            }

            if (takeUp)
            {
                high++;
                maxLength = newMax;
            }
            else
            {
                low--;
                minLength = candidates[low].Work.Length;
            }
        }

        var items = new List<SequenceWork>(high - low + 1);
        var taken = new HashSet<SequenceWork>(ReferenceEqualityComparer.Instance);
        var real = 0;
        for (var i = low; i <= high; i++)
        {
            items.Add(candidates[i].Work);
            taken.Add(candidates[i].Work);
            real += candidates[i].Work.Length;
        }

        _pending.RemoveAll(p => taken.Contains(p.Work));
        _pendingTokens -= real;
        return new SequenceBatch(items, maxLength, real, Stopwatch.GetTimestamp());
    }

    private sealed record Pending(SequenceWork Work, long ArrivedTicks);
}
