using System.Diagnostics;
using StreamBert.Training.Data;

namespace StreamBert.Trainer;

/// <summary>
/// The labels of one task the trainer holds in memory: the latest label per item — a text (spam, claims) or an NER
/// sentence's words — in arrival order, within <see cref="TrainerOptions.MaxBookBytesPerTask"/> (an estimate of the
/// memory the labels take); past it the labels that arrived first are evicted. A label for an item already held
/// replaces it and counts as the newest. The trainer re-reads the label topics from the beginning on every start,
/// so a restarted trainer rebuilds the same book by the same rule: the newest labels that fit, one per item.
/// </summary>
public sealed class LabelBook
{
    /// <summary>Per label beyond its strings: dictionary entry, list node, records (measured order of magnitude, 64-bit).</summary>
    private const int EntryOverhead = 160;

    /// <summary>Per string object (header, length) on top of its UTF-16 characters.</summary>
    private const int StringOverhead = 24;

    private readonly long _maxBytes;
    private readonly Dictionary<string, LinkedListNode<Entry>> _byItem = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _arrivals = new();
    private long _bytes;

    public LabelBook(long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        _maxBytes = maxBytes;
    }

    /// <summary>Labels held (one per item).</summary>
    public int Count => _byItem.Count;

    /// <summary>Estimated memory the held labels take.</summary>
    public long Bytes => _bytes;

    /// <summary>Labels evicted so far to stay within the budget.</summary>
    public long Evicted { get; private set; }

    /// <summary>Labels that arrived since the last run (replaced or evicted ones included: they asked for a run).</summary>
    public int Pending { get; private set; }

    public Stopwatch? PendingSince { get; private set; }

    /// <summary>The text labels held, oldest first.</summary>
    public IReadOnlyList<LabeledText> Texts()
    {
        var texts = new List<LabeledText>(_byItem.Count);
        foreach (var entry in _arrivals)
        {
            if (entry.Text is { } text)
            {
                texts.Add(text);
            }
        }

        return texts;
    }

    /// <summary>The NER sentences held, oldest first.</summary>
    public IReadOnlyList<NerSentence> Sentences()
    {
        var sentences = new List<NerSentence>(_byItem.Count);
        foreach (var entry in _arrivals)
        {
            if (entry.Sentence is { } sentence)
            {
                sentences.Add(sentence);
            }
        }

        return sentences;
    }

    /// <summary>Holds <paramref name="label"/> as its item's latest; <paramref name="isNew"/> when not trained on before.</summary>
    public void Add(ParsedLabel label, bool isNew)
    {
        string item;
        long size;
        if (label.Text is { } text)
        {
            item = text.Text;
            size = Size(text.Text) + Size(text.Label);
        }
        else if (label.Sentence is { } sentence)
        {
            // Words joined by a separator no word contains (the tokenizer splits on control characters).
            item = string.Join('\u001f', sentence.Tokens);
            size = Size(item);
            foreach (var token in sentence.Tokens)
            {
                size += Size(token);
            }

            foreach (var tag in sentence.Tags)
            {
                size += Size(tag);
            }
        }
        else
        {
            return;
        }

        if (_byItem.Remove(item, out var previous))
        {
            _arrivals.Remove(previous);
            _bytes -= previous.Value.Bytes;
        }

        var entry = new Entry(label.Text, label.Sentence, item, size + EntryOverhead);
        _byItem[item] = _arrivals.AddLast(entry);
        _bytes += entry.Bytes;

        // The label just added stays even when it alone exceeds the budget: the budget bounds what is kept, not what is read.
        while (_bytes > _maxBytes && _arrivals.First is { } oldest && oldest != _arrivals.Last)
        {
            _arrivals.RemoveFirst();
            _byItem.Remove(oldest.Value.Item);
            _bytes -= oldest.Value.Bytes;
            Evicted++;
        }

        if (isNew)
        {
            Pending++;
            PendingSince ??= Stopwatch.StartNew();
        }
    }

    public void MarkTrained()
    {
        Pending = 0;
        PendingSince = null;
    }

    /// <summary>After a failed run: try again once <see cref="TrainerOptions.MaxWait"/> has passed, not at once.</summary>
    public void RetryLater() => PendingSince = Stopwatch.StartNew();

    private static long Size(string s) => StringOverhead + (2L * s.Length);

    private sealed record Entry(LabeledText? Text, NerSentence? Sentence, string Item, long Bytes);
}
