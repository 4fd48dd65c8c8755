using System.Diagnostics;
using Confluent.Kafka;

namespace StreamBert.Kafka.Tests;

/// <summary>Waits for conditions with a deadline instead of fixed sleeps.</summary>
internal static class Await
{
    /// <summary>Polls <paramref name="condition"/> every 20 ms; false if it did not hold within <paramref name="timeout"/>.</summary>
    public static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    /// <summary>Consumes until <paramref name="count"/> messages arrived or <paramref name="timeout"/> passed.</summary>
    public static List<ConsumeResult<TKey, TValue>> Consume<TKey, TValue>(IConsumer<TKey, TValue> consumer, int count, TimeSpan timeout)
    {
        var results = new List<ConsumeResult<TKey, TValue>>(count);
        var clock = Stopwatch.StartNew();
        while (results.Count < count && clock.Elapsed < timeout)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { } result)
            {
                results.Add(result);
            }
        }

        return results;
    }
}
