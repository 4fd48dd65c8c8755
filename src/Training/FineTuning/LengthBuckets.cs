namespace StreamBert.Training.FineTuning;

/// <summary>
/// Batches that waste little padding yet stay random: shuffle, cut into chunks of several batches, sort each chunk by
/// length, cut it into batches, shuffle the batches. On 2 cores padding costs in full (ML_NOTES: batching itself gains
/// only 10–30%), so a batch of 20-token messages should not be padded to one 120-token message.
/// </summary>
public static class LengthBuckets
{
    /// <summary>Indices of <paramref name="items"/> grouped into batches; every index appears exactly once.</summary>
    public static IReadOnlyList<int[]> Plan<T>(IReadOnlyList<T> items, Func<T, int> length, int batchSize, int chunkBatches, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var order = Enumerable.Range(0, items.Count).ToArray();
        random.Shuffle(order);
        var chunk = batchSize * Math.Max(1, chunkBatches);
        var batches = new List<int[]>();
        for (var start = 0; start < order.Length; start += chunk)
        {
            // Stable sort on a shuffled chunk: equal lengths keep the random order.
            var sorted = order.AsSpan(start, Math.Min(chunk, order.Length - start)).ToArray().OrderBy(i => length(items[i])).ToArray();
            for (var b = 0; b < sorted.Length; b += batchSize)
            {
                batches.Add(sorted.AsSpan(b, Math.Min(batchSize, sorted.Length - b)).ToArray());
            }
        }

        var shuffled = batches.ToArray();
        random.Shuffle(shuffled);
        return shuffled;
    }
}
