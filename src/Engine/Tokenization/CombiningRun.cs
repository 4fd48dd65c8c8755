using System.Buffers;

namespace StreamBert.Engine.Tokenization;

/// <summary>
/// The slow path for NFD's canonical reordering, taken only when a run of combining characters holds one that
/// survives accent stripping (<see cref="BertCharKind.Reorder"/>: some Mc signs, musical symbols, combining
/// letters newer than the reference's category tables). Everywhere else per-code-point lookup is exact,
/// because reordering only permutes characters that stripping then removes.
/// </summary>
/// <remarks>
/// The reference sorts each run of non-starters by combining class (stably), then assigns alignments by
/// consumption, not by identity: walking the reordered characters, each first character of a decomposition
/// takes the range of the next source character in text order, every further one the range of the last
/// source character taken. So a surviving mark that moves ahead of a stripped one takes that one's range.
/// </remarks>
internal static class CombiningRun
{
    private const int Unset = -1;

    /// <summary>
    /// Appends the normalized output of the combining run around the Reorder code point at
    /// <paramref name="triggerStart"/> and returns the index after the run.
    /// </summary>
    public static int Append(ReadOnlySpan<char> text, int triggerStart, int offsetBase, ref WordBuffer word)
    {
        var trigger = ReadAt(text, triggerStart, out var afterTrigger);
        var triggerIsHead = BertCharTable.NfdRank(BertCharTable.NfdRanks(trigger), 0) == 0;

        // Back to the run's first source character. Everything before the trigger has been through the fast path:
        // a head (starters, then non-starters) put out its starters, pure non-starters put out nothing (they are
        // stripped, or they would have triggered this path themselves).
        var from = triggerStart;
        var hasHead = triggerIsHead;
        for (var pos = triggerStart; !triggerIsHead && pos > 0;)
        {
            var cp = ReadBefore(text, pos, out var cpStart);
            pos = cpStart;
            if (BertCharTable.KindOf(BertCharTable.Lookup(cp)) == BertCharKind.Dropped)
            {
                continue; // removed by clean_text, before NFD sees the text
            }

            var ranks = BertCharTable.NfdRanks(cp);
            if (ranks == 0)
            {
                break;
            }

            from = cpStart;
            if (BertCharTable.NfdRank(ranks, 0) == 0)
            {
                hasHead = true;
                break;
            }
        }

        // Forward over the non-starters that follow.
        var to = afterTrigger;
        for (var pos = afterTrigger; pos < text.Length;)
        {
            var cp = ReadAt(text, pos, out var next);
            if (BertCharTable.KindOf(BertCharTable.Lookup(cp)) != BertCharKind.Dropped)
            {
                var ranks = BertCharTable.NfdRanks(cp);
                if (ranks == 0 || BertCharTable.NfdRank(ranks, 0) == 0)
                {
                    break;
                }

                to = next;
            }

            pos = next;
        }

        // Every source code point gives at most 4 NFD elements; the run is short unless someone stacks marks on
        // purpose, so pool rather than stackalloc.
        var capacity = 4 * (to - from);
        var unitStart = ArrayPool<int>.Shared.Rent(to - from);
        var unitEnd = ArrayPool<int>.Shared.Rent(to - from);
        var firstOfUnit = ArrayPool<bool>.Shared.Rent(capacity);
        var output = ArrayPool<int>.Shared.Rent(capacity);
        var keys = ArrayPool<long>.Shared.Rent(capacity);
        try
        {
            var units = 0;
            var elements = 0;
            for (var pos = from; pos < to;)
            {
                var cp = ReadAt(text, pos, out var next);
                var entry = BertCharTable.Lookup(cp);
                if (BertCharTable.KindOf(entry) != BertCharKind.Dropped)
                {
                    unitStart[units] = offsetBase + pos;
                    unitEnd[units] = offsetBase + next;
                    var ranks = BertCharTable.NfdRanks(cp);
                    var reorder = BertCharTable.KindOf(entry) == BertCharKind.Reorder
                        ? BertCharTable.ReorderElements(entry)
                        : default;
                    for (var k = 0; k < BertCharTable.NfdCount(ranks); k++)
                    {
                        var rank = BertCharTable.NfdRank(ranks, k);
                        var produced = reorder.IsEmpty ? Unset : reorder[(2 * k) + 1];
                        if (rank == 0)
                        {
                            // A starter of the head: not reordered. Only a head that is the trigger still owes it.
                            if (pos == triggerStart && produced != Unset)
                            {
                                word.Add(produced, unitStart[units], unitEnd[units]);
                            }

                            continue;
                        }

                        firstOfUnit[elements] = k == 0;
                        output[elements] = produced;
                        keys[elements] = ((long)rank << 32) | (uint)elements; // stable: ties keep text order
                        elements++;
                    }

                    units++;
                }

                pos = next;
            }

            Array.Sort(keys, 0, elements);

            // Consumption: a head was consumed by its own starter before the run.
            var consumed = hasHead ? 1 : 0;
            for (var i = 0; i < elements; i++)
            {
                var e = (int)(keys[i] & 0xFFFFFFFF);
                if (firstOfUnit[e])
                {
                    consumed++;
                }

                var unit = Math.Max(consumed - 1, 0);
                if (output[e] != Unset)
                {
                    word.Add(output[e], unitStart[unit], unitEnd[unit]);
                }
            }

            return to;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(unitStart);
            ArrayPool<int>.Shared.Return(unitEnd);
            ArrayPool<bool>.Shared.Return(firstOfUnit);
            ArrayPool<int>.Shared.Return(output);
            ArrayPool<long>.Shared.Return(keys);
        }
    }

    // Code point at index, a lone surrogate standing for itself (the table drops it).
    private static int ReadAt(ReadOnlySpan<char> text, int index, out int next)
    {
        var c = text[index];
        if (char.IsHighSurrogate(c) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
        {
            next = index + 2;
            return char.ConvertToUtf32(c, text[index + 1]);
        }

        next = index + 1;
        return c;
    }

    private static int ReadBefore(ReadOnlySpan<char> text, int index, out int start)
    {
        var c = text[index - 1];
        if (char.IsLowSurrogate(c) && index >= 2 && char.IsHighSurrogate(text[index - 2]))
        {
            start = index - 2;
            return char.ConvertToUtf32(text[index - 2], c);
        }

        start = index - 1;
        return c;
    }
}
