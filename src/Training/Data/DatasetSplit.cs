using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace StreamBert.Training.Data;

/// <summary>A train/test partition that keeps the input order within each part.</summary>
public sealed record TrainTestSplit<T>(IReadOnlyList<T> Train, IReadOnlyList<T> Test);

/// <summary>A text that occurred with more than one label, and the label deduplication kept.</summary>
/// <param name="Text">The text.</param>
/// <param name="LabelCounts">Each label and how often it occurred with the text, in order of first occurrence.</param>
/// <param name="ChosenLabel">The majority label (ties: the one seen first).</param>
public sealed record LabelConflict(string Text, IReadOnlyList<KeyValuePair<string, int>> LabelCounts, string ChosenLabel);

/// <summary>Outcome of <see cref="DatasetSplit.Deduplicate{T}"/>.</summary>
public sealed record DeduplicationResult<T>
{
    /// <summary>One item per distinct text, in order of first occurrence.</summary>
    public required IReadOnlyList<T> Items { get; init; }

    /// <summary>Items read.</summary>
    public required int InputCount { get; init; }

    /// <summary>Items dropped because their text had occurred before (<see cref="InputCount"/> − Items.Count).</summary>
    public int DuplicatesRemoved => InputCount - Items.Count;

    /// <summary>Number of distinct texts that occurred with more than one label.</summary>
    public required int ConflictingTexts { get; init; }

    /// <summary>The first <see cref="ReadReport.MaxSamples"/> conflicts, in order of first occurrence.</summary>
    public required IReadOnlyList<LabelConflict> Conflicts { get; init; }
}

/// <summary>
/// Deduplication and a deterministic train/test split keyed by text, shared by offline training and the trainer
/// service (labels arriving from Kafka), so that a text is on the same side of the split wherever and whenever it is seen.
/// </summary>
/// <remarks>
/// <para><b>Split.</b> <see cref="Bucket(ReadOnlySpan{char})"/> = the first 8 bytes of SHA-256 over the UTF-8 bytes of the key,
/// read as an unsigned big-endian integer, modulo 100. A key is in the test part when its bucket is below the test
/// percentage (default 20, so buckets 0–19 are test and 20–99 train). SHA-256 rather than <c>string.GetHashCode</c>
/// because the latter is randomised per process; it depends on nothing but the key's characters, so it is stable across
/// processes, machines, .NET versions and languages (Python: <c>int.from_bytes(sha256(key.encode()).digest()[:8], "big") % 100</c>).
/// Invalid UTF-16 (lone surrogates) is encoded as U+FFFD.</para>
/// <para>The key is the exact text: texts that differ only in case or spacing can land on different sides. Callers
/// wanting a coarser notion of "the same text" pass a normalised key, or a group key (for example a debate's file
/// id, to keep a document's sentences together).</para>
/// <para>Because identical texts always share a bucket, splitting never leaks a text across parts; deduplicating
/// first still matters so that duplicates do not weigh one example several times.</para>
/// <para><b>Deduplication.</b> Exact text equality (ordinal). The first occurrence keeps its place. When a text occurs
/// with different labels, the majority label wins, ties going to the label seen first; such texts are counted and
/// reported (<see cref="DeduplicationResult{T}.Conflicts"/>) because they usually reveal labelling noise.</para>
/// </remarks>
public static class DatasetSplit
{
    /// <summary>Number of hash buckets.</summary>
    public const int BucketCount = 100;

    /// <summary>Default share of buckets, in percent, that form the test part.</summary>
    public const int DefaultTestPercent = 20;

    private const int StackKeyBytes = 1024;

    /// <summary>The bucket (0..99) of a key; see <see cref="DatasetSplit"/>. Allocates nothing for keys up to about 340 characters.</summary>
    public static int Bucket(ReadOnlySpan<char> key)
    {
        int maxBytes = Encoding.UTF8.GetMaxByteCount(key.Length);
        byte[]? rented = null;
        Span<byte> utf8 = maxBytes <= StackKeyBytes ? stackalloc byte[StackKeyBytes] : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            int length = Encoding.UTF8.GetBytes(key, utf8);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(utf8[..length], hash);
            return (int)(BinaryPrimitives.ReadUInt64BigEndian(hash) % BucketCount);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Whether <paramref name="key"/> belongs to the test part.</summary>
    /// <param name="key">The text (or group key).</param>
    /// <param name="testPercent">Share of buckets in the test part, 0..100.</param>
    public static bool IsTest(ReadOnlySpan<char> key, int testPercent = DefaultTestPercent)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(testPercent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(testPercent, BucketCount);
        return Bucket(key) < testPercent;
    }

    /// <summary>Splits items by the bucket of their key, keeping input order within each part.</summary>
    public static TrainTestSplit<T> Split<T>(IEnumerable<T> items, Func<T, string> key, int testPercent = DefaultTestPercent)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(key);
        var train = new List<T>();
        var test = new List<T>();
        foreach (var item in items)
        {
            (IsTest(key(item), testPercent) ? test : train).Add(item);
        }

        return new TrainTestSplit<T>(train, test);
    }

    /// <summary>Splits labelled texts by the bucket of their text.</summary>
    public static TrainTestSplit<LabeledText> Split(IEnumerable<LabeledText> items, int testPercent = DefaultTestPercent) =>
        Split(items, item => item.Text, testPercent);

    /// <summary>Deduplicates labelled texts; see <see cref="DatasetSplit"/> for the rules.</summary>
    public static DeduplicationResult<LabeledText> Deduplicate(IEnumerable<LabeledText> items) =>
        Deduplicate(items, item => item.Text, item => item.Label, (item, label) => item with { Label = label });

    /// <summary>Deduplicates any items by text; see <see cref="DatasetSplit"/> for the rules.</summary>
    /// <param name="items">Items in input order.</param>
    /// <param name="text">The item's text (compared ordinally).</param>
    /// <param name="label">The item's label.</param>
    /// <param name="withLabel">Returns the item relabelled, used when the majority label differs from the first occurrence's.</param>
    public static DeduplicationResult<T> Deduplicate<T>(
        IEnumerable<T> items, Func<T, string> text, Func<T, string> label, Func<T, string, T> withLabel)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(label);
        ArgumentNullException.ThrowIfNull(withLabel);

        var groups = new Dictionary<string, int>(StringComparer.Ordinal);
        var firsts = new List<T>();
        var labelCounts = new List<List<KeyValuePair<string, int>>>();
        int input = 0;
        foreach (var item in items)
        {
            input++;
            string itemText = text(item);
            string itemLabel = label(item);
            if (!groups.TryGetValue(itemText, out int index))
            {
                groups.Add(itemText, firsts.Count);
                firsts.Add(item);
                labelCounts.Add([new(itemLabel, 1)]);
                continue;
            }

            var counts = labelCounts[index];
            int at = counts.FindIndex(kv => kv.Key == itemLabel);
            if (at < 0)
            {
                counts.Add(new(itemLabel, 1));
            }
            else
            {
                counts[at] = new(itemLabel, counts[at].Value + 1);
            }
        }

        var result = new List<T>(firsts.Count);
        var conflicts = new List<LabelConflict>();
        int conflicting = 0;
        for (int i = 0; i < firsts.Count; i++)
        {
            var counts = labelCounts[i];
            if (counts.Count == 1)
            {
                result.Add(firsts[i]);
                continue;
            }

            var chosen = counts[0];
            foreach (var candidate in counts)
            {
                if (candidate.Value > chosen.Value)
                {
                    chosen = candidate;
                }
            }

            conflicting++;
            if (conflicts.Count < ReadReport.MaxSamples)
            {
                conflicts.Add(new LabelConflict(text(firsts[i]), counts, chosen.Key));
            }

            result.Add(chosen.Key == label(firsts[i]) ? firsts[i] : withLabel(firsts[i], chosen.Key));
        }

        return new DeduplicationResult<T>
        {
            Items = result,
            InputCount = input,
            ConflictingTexts = conflicting,
            Conflicts = conflicts,
        };
    }
}
