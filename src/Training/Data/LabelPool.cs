using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace StreamBert.Training.Data;

/// <summary>A new domain's labelled texts divided for a labelling experiment: what reviewers label from, what is measured on.</summary>
/// <param name="Pool">Texts reviewers may label (the train split), in a stable order of their own.</param>
/// <param name="Evaluation">Held-out texts no strategy ever trains or calibrates on (the test split, capped).</param>
public sealed record LabelPoolSplit(IReadOnlyList<LabeledText> Pool, IReadOnlyList<LabeledText> Evaluation);

/// <summary>
/// Deterministic splits and orders for learning curves and active learning. The held-out part is
/// <see cref="DatasetSplit"/>'s test split (so it is the set <c>eval --held-out</c> measures), capped by a salted hash
/// so a run finishes in minutes; label orders are seeded hash orders, so a step's labels are a prefix of the next step's
/// and the same seed gives the same labels on any machine.
/// </summary>
public static class LabelPool
{
    /// <summary>Deduplicates <paramref name="rows"/>, splits them by text hash, and caps each part by a salted hash order.</summary>
    public static LabelPoolSplit Split(IEnumerable<LabeledText> rows, int maxEvaluation, int maxPool = int.MaxValue, int testPercent = DatasetSplit.DefaultTestPercent)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxEvaluation);
        ArgumentOutOfRangeException.ThrowIfNegative(maxPool);
        var split = DatasetSplit.Split(DatasetSplit.Deduplicate(rows).Items, testPercent);
        return new LabelPoolSplit(
            [.. Order(split.Train, "pool").Take(maxPool)],
            [.. Order(split.Test, "evaluation").Take(maxEvaluation)]);
    }

    /// <summary><paramref name="rows"/> in the order of a 64-bit hash of <paramref name="salt"/> and the text (ties: ordinal text).</summary>
    public static IReadOnlyList<LabeledText> Order(IEnumerable<LabeledText> rows, string salt) => Order(rows, r => r.Text, salt);

    /// <summary><paramref name="items"/> in the order of a 64-bit hash of <paramref name="salt"/> and each item's key (ties: ordinal key).</summary>
    public static IReadOnlyList<T> Order<T>(IEnumerable<T> items, Func<T, string> key, string salt) =>
        [.. items.Select(i => (Item: i, Key: key(i))).OrderBy(p => Hash(salt + "\u0001" + p.Key)).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Item)];

    /// <summary>The order reviewers label the pool in for seed <paramref name="seed"/>: labels for n are the first n.</summary>
    public static IReadOnlyList<LabeledText> ReviewOrder(IReadOnlyList<LabeledText> pool, int seed) =>
        Order(pool, "review:" + seed.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static ulong Hash(string key) =>
        BinaryPrimitives.ReadUInt64BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}
